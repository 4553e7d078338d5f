"""Demo part: a movie recommender (implicit ALS) on a small offline, synthetic viewing log.

Movies get readable titles and a genre; viewers have one or two favourite genres and
mostly watch those (plus some popular titles). Everything is generated from a seed, so the
demo needs no download and gives the same output every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import omnivec as ov

__all__ = ["run"]

GENRES = ("sci-fi", "horror", "comedy", "romance", "western", "documentary")
_WORDS = {
    "sci-fi": (
        ("Star", "Orbit", "Quantum", "Android", "Nebula"),
        ("Drift", "Protocol", "Colony", "Signal"),
    ),
    "horror": (
        ("Midnight", "Hollow", "Crimson", "Silent", "Grave"),
        ("Manor", "Whispers", "Harvest", "Cellar"),
    ),
    "comedy": (
        ("Crazy", "Lucky", "Awkward", "Big", "Office"),
        ("Wedding", "Weekend", "Roommates", "Heist"),
    ),
    "romance": (
        ("Paris", "Summer", "Moonlit", "Secret", "Autumn"),
        ("Letters", "Promise", "Waltz", "Kiss"),
    ),
    "western": (
        ("Dusty", "Outlaw", "Iron", "Silver", "Lonesome"),
        ("Trail", "Canyon", "Sheriff", "Gulch"),
    ),
    "documentary": (
        ("Deep", "Frozen", "Hidden", "Wild", "Ancient"),
        ("Oceans", "Planet", "Empires", "Rivers"),
    ),
}
NAME = "demo_movies"


def _catalog() -> tuple[list[str], dict[str, dict[str, Any]]]:
    titles: list[str] = []
    meta: dict[str, dict[str, Any]] = {}
    for genre in GENRES:
        first, second = _WORDS[genre]
        for n, (a, b) in enumerate((a, b) for a in first for b in second):
            title = f"{a} {b}"
            titles.append(title)
            meta[title] = {"genre": genre, "year": 1960 + (7 * n + 13 * len(genre)) % 64}
    return titles, meta


def _viewing_log(
    titles: list[str], meta: dict[str, dict[str, Any]], seed: int = 7
) -> list[tuple[str, str, float]]:
    """About 600 viewers x 25 views: 85% from their favourite genres, weighted by a Zipf
    popularity; the weight is how many times they watched it."""
    rng = np.random.default_rng(seed)
    genre_of = np.array([GENRES.index(meta[t]["genre"]) for t in titles])
    popularity = 1.0 / np.arange(1, len(titles) + 1) ** 0.6
    popularity = popularity[rng.permutation(len(titles))]
    log: list[tuple[str, str, float]] = []
    for v in range(600):
        favourites = rng.choice(len(GENRES), size=rng.integers(1, 3), replace=False)
        taste = np.where(
            np.isin(genre_of, favourites), 0.85 / np.isin(genre_of, favourites).sum(), 0.0
        )
        taste = taste * popularity + 0.15 * popularity / popularity.sum()
        picks = rng.choice(
            len(titles), size=int(rng.integers(12, 35)), replace=False, p=taste / taste.sum()
        )
        log.extend((f"viewer{v:03d}", titles[i], float(1 + rng.poisson(0.7))) for i in picks)
    return log


def run(plat: ov.Platform, say: Callable[[str], None]) -> dict[str, Any]:
    """Fit ALS on the viewing log, then show recommendations, similar titles and a
    cross-collection query. Returns a JSON-able summary."""
    t0 = time.perf_counter()
    titles, meta = _catalog()
    log = _viewing_log(titles, meta)
    say(f"  {len(log)} views of {len(titles)} movies by 600 viewers (synthetic, offline)")

    rec = plat.recommender(
        NAME, algorithm="als", factors=24, iterations=12, regularization=0.05, random_state=0
    )
    t = time.perf_counter()
    rec.fit(log, item_metadata=meta, progress=False)
    fit_s = time.perf_counter() - t
    say(f"  fitted ALS (24 factors) and indexed users + items in {fit_s:.2f}s")

    user = "viewer007"
    seen = list(rec.history(user))
    watched = sorted(
        {meta[s]["genre"] for s in seen}, key=lambda g: -sum(meta[s]["genre"] == g for s in seen)
    )
    t = time.perf_counter()
    recs = rec.recommend(user, k=5)
    rec_ms = (time.perf_counter() - t) * 1e3
    say(
        f"  {user} watched {len(seen)} movies, mostly {', '.join(watched[:2])}; top picks ({rec_ms:.1f} ms):"
    )
    for h in recs:
        say(f"    {h.score:6.3f}  {h.id}  [{h.metadata['genre']}, {h.metadata['year']}]")

    anchor = recs[0].id
    t = time.perf_counter()
    similar = rec.items.search(ov.ref(anchor), k=5)
    sim_ms = (time.perf_counter() - t) * 1e3
    say(f"  movies like {anchor!r} via rec.items.search(ov.ref(...)) ({sim_ms:.1f} ms):")
    for h in similar:
        say(f"    {h.score:6.3f}  {h.id}  [{h.metadata['genre']}]")

    t = time.perf_counter()
    unified = rec.items.search(ov.ref(user, collection=rec.users.name), k=3)
    uni_ms = (time.perf_counter() - t) * 1e3
    say(
        f"  the same space, one query layer: items.search(ov.ref({user!r}, collection=users)) "
        f"-> {', '.join(str(h.id) for h in unified)} (seen titles included; {uni_ms:.1f} ms)"
    )

    newcomer = [(t_, 2.0) for t_ in titles if meta[t_]["genre"] == "western"][:4]
    t = time.perf_counter()
    cold = rec.recommend("newcomer", k=3, interactions=newcomer)
    fold_ms = (time.perf_counter() - t) * 1e3
    say(
        f"  a new viewer who liked 4 westerns (folded in, {fold_ms:.1f} ms): "
        + ", ".join(f"{h.id} [{h.metadata['genre']}]" for h in cold)
    )
    new_movie = _brand_new_movie(plat, say, log, titles, meta)
    total = time.perf_counter() - t0
    return {
        "new_movie": new_movie,
        "recommender": NAME,
        "algorithm": "als",
        "interactions": len(log),
        "users": len(rec.users),
        "items": len(rec.items),
        "fit_seconds": round(fit_s, 3),
        "user": user,
        "recommended": [{"id": h.id, "score": h.score, "genre": h.metadata["genre"]} for h in recs],
        "similar_to": anchor,
        "similar": [{"id": h.id, "score": h.score, "genre": h.metadata["genre"]} for h in similar],
        "cold_start": [h.id for h in cold],
        "timings_ms": {
            "recommend": round(rec_ms, 2),
            "similar_items": round(sim_ms, 2),
            "unified_query": round(uni_ms, 2),
            "fold_in": round(fold_ms, 2),
        },
        "seconds": round(total, 2),
    }


NEW_MOVIE = ("Quantum Signal Returns", "sci-fi")


def _brand_new_movie(
    plat: ov.Platform,
    say: Callable[[str], None],
    log: list[tuple[str, str, float]],
    titles: list[str],
    meta: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """A movie nobody has watched yet, recommended from its description (item_content)."""
    blurbs = plat.collection(f"{NAME}_texts", encoder="text")
    new_title, new_genre = NEW_MOVIE
    catalogue = [*titles, new_title]
    genres = [*(meta[t]["genre"] for t in titles), new_genre]
    blurbs.add([f"{t}: a {g} movie" for t, g in zip(catalogue, genres, strict=True)], ids=catalogue)
    rec = plat.recommender(
        f"{NAME}_cold",
        algorithm="als",
        factors=24,
        iterations=12,
        regularization=0.05,
        random_state=0,
        item_content=blurbs.name,
    )
    rec.fit(log, item_metadata=meta, progress=False)
    fans = sorted(
        {u for u, item, _ in log if meta[item]["genre"] == new_genre},
        key=lambda u: -sum(meta[i]["genre"] == new_genre for uu, i, _ in log if uu == u),
    )
    fan = fans[0]
    picks = [h.id for h in rec.recommend(fan, k=10)]
    rank = picks.index(new_title) + 1 if new_title in picks else None
    near = [h.id for h in rec.similar_items(new_title, k=3)]
    where = f"#{rank} of their top 10" if rank else "not in their top 10"
    say(
        f"  a brand-new {new_genre} movie nobody watched, {new_title!r}, placed from its "
        f"description (item_content): for {new_genre} fan {fan} it is {where}; "
        f"nearest titles: {', '.join(near)}"
    )
    return {"title": new_title, "fan": fan, "rank_in_top10": rank, "similar": near}
