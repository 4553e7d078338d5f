"""Cluster, classify and project stored collections (omnivec.platform.analysis), on real data:
scikit-learn's digits as raw vectors, and short texts through the bundled MiniLM model, all in
a real Milvus Lite file. Quality is measured against scikit-learn run on the same vectors in
the same test, never against hard-coded numbers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

import omnivec as ov
from omnivec.demo.text import CORPUS
from omnivec.errors import InvalidInputError, SpaceMismatchError
from omnivec.platform.analysis import projection

pytestmark = pytest.mark.slow

POSITIVE = [
    "This movie is amazing!",
    "I loved every minute of it.",
    "A wonderful, heartwarming story.",
    "Brilliant acting and a beautiful score.",
    "The best film I have seen this year.",
    "Absolutely delightful from start to finish.",
    "A masterpiece, I would watch it again.",
    "Funny, clever and full of charm.",
    "The cast is fantastic and the story is moving.",
    "I was smiling the whole time.",
    "Gorgeous visuals and a great script.",
    "An excellent, uplifting experience.",
    "Highly recommended, a real gem.",
    "It made me laugh and cry, truly great.",
    "Superb direction and wonderful performances.",
    "What a fun and exciting ride!",
    "A lovely film with a happy ending.",
    "I enjoyed it immensely.",
    "Inspiring, warm and beautifully made.",
    "Perfect for a great night out.",
    "The dialogue is sharp and the jokes land.",
    "Such a joyful and charming movie.",
    "Top notch, five stars.",
    "My whole family loved it.",
]
NEGATIVE = [
    "This movie is terrible.",
    "I hated every minute of it.",
    "A boring, lifeless story.",
    "Awful acting and an annoying score.",
    "The worst film I have seen this year.",
    "Absolutely dreadful from start to finish.",
    "A disaster, I want my money back.",
    "Dull, stupid and painfully slow.",
    "The cast is wooden and the plot makes no sense.",
    "I was bored the whole time.",
    "Ugly visuals and a lazy script.",
    "A depressing waste of two hours.",
    "Not recommended, avoid it.",
    "It was so bad I walked out.",
    "Poor direction and horrible performances.",
    "What a tedious and frustrating mess.",
    "A miserable film with a pointless ending.",
    "I regret watching it.",
    "Clumsy, cold and badly made.",
    "Ruined my evening.",
    "The dialogue is clumsy and the jokes fall flat.",
    "Such a dreary and unpleasant movie.",
    "Rubbish, one star.",
    "My whole family disliked it.",
]


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    path = Path(tmp_path_factory.mktemp("analysis")) / "analysis.db"
    with ov.connect(str(path)) as p:
        yield p


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y


def digits_collection(plat: ov.Platform, digits: tuple[np.ndarray, np.ndarray], metric: str):
    name = f"digits_{metric}"
    x, y = digits
    if plat.has_collection(name):
        return plat.get_collection(name)
    col = plat.collection(name, dim=x.shape[1], metric=metric)
    col.add(vectors=x, ids=list(range(len(x))), metadata=[{"digit": int(d)} for d in y])
    return col


@pytest.fixture(scope="module")
def topics(plat: ov.Platform) -> ov.Collection:
    col = plat.collection("topics", encoder="text")
    texts, ids, meta = [], [], []
    for topic, sentences in CORPUS.items():
        for i, text in enumerate(sentences):
            texts.append(text)
            ids.append(f"{topic}-{i}")
            meta.append({"topic": topic, "text": text})
    col.add(texts, ids=ids, metadata=meta)
    return col


@pytest.fixture(scope="module")
def reviews(plat: ov.Platform) -> tuple[ov.Collection, list[str], list[str]]:
    """Two thirds of the reviews stored with a sentiment label; the rest held out."""
    rng = np.random.default_rng(0)
    pos, neg = list(POSITIVE), list(NEGATIVE)
    rng.shuffle(pos)
    rng.shuffle(neg)
    cut = 2 * len(pos) // 3
    train = [(t, "pos") for t in pos[:cut]] + [(t, "neg") for t in neg[:cut]]
    held = [(t, "pos") for t in pos[cut:]] + [(t, "neg") for t in neg[cut:]]
    col = plat.collection("reviews", encoder="text")
    col.add(
        [t for t, _ in train],
        ids=[f"r{i}" for i in range(len(train))],
        metadata=[{"sentiment": s, "text": t} for t, s in train],
    )
    return col, [t for t, _ in held], [s for _, s in held]


# -- clustering ---------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["l2", "cosine", "ip"])
def test_kmeans_on_digits_is_as_good_as_sklearn(plat, digits, metric: str) -> None:
    x, y = digits
    col = digits_collection(plat, digits, metric)
    labels = col.cluster(n_clusters=10)
    assert set(labels) == set(range(len(x)))
    assert set(labels.values()) == set(range(10))
    ours = adjusted_rand_score(y, [labels[i] for i in range(len(x))])
    ids, stored = col.vectors()
    assert stored.dtype == np.float32 and stored.shape == x.shape
    order = np.argsort(np.asarray(ids))
    theirs = adjusted_rand_score(
        y[np.asarray(ids)[order]], KMeans(n_clusters=10, random_state=0).fit_predict(stored[order])
    )
    assert ours >= 0.9 * theirs, (ours, theirs)


def test_text_topics_cluster_like_sklearn_and_hdbscan_labels_everything(topics) -> None:
    truth = {i: i.rsplit("-", 1)[0] for i in topics.ids()}
    labels = topics.cluster(n_clusters=len(CORPUS))
    ids, vecs = topics.vectors()
    want = [truth[i] for i in ids]
    ours = adjusted_rand_score(want, [labels[i] for i in ids])
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    theirs = adjusted_rand_score(want, KMeans(len(CORPUS), random_state=0).fit_predict(unit))
    assert ours >= 0.9 * theirs, (ours, theirs)
    assert ours > 0.5  # the topics are told apart, not merely matched by a bad baseline

    auto = topics.cluster()
    assert set(auto) == set(ids)
    assert all(isinstance(c, int) and c >= -1 for c in auto.values())
    assert topics.cluster() == auto  # same seed, same labels


def test_where_restricts_clustering(topics) -> None:
    labels = topics.cluster(2, where='topic in ["pets", "finance"]')
    assert set(labels) == {i for i in topics.ids() if i.split("-")[0] in ("pets", "finance")}
    assert adjusted_rand_score([i.split("-")[0] for i in labels], list(labels.values())) == 1.0


def test_write_key_stores_labels_and_keeps_vectors_and_metadata(plat, digits) -> None:
    x, y = digits
    col = plat.collection("digits_written", dim=x.shape[1], metric="l2")
    col.add(vectors=x[:200], ids=list(range(200)), metadata=[{"digit": int(d)} for d in y[:200]])
    labels = col.cluster(4, write_key="topic_cluster")
    recs = col.get(list(range(200)))
    assert [r.metadata["topic_cluster"] for r in recs] == [labels[i] for i in range(200)]
    assert [r.metadata["digit"] for r in recs] == [int(d) for d in y[:200]]
    assert np.array_equal(np.stack([r.vector for r in recs]), x[:200])
    assert len(col) == 200
    assert col.count(where="topic_cluster == 0") == sum(v == 0 for v in labels.values())
    # A refused call writes nothing.
    with pytest.raises(InvalidInputError):
        col.cluster(1000, write_key="other")
    assert "other" not in col.get([0])[0].metadata


# -- classification -----------------------------------------------------------------------------
def test_classifier_on_held_out_digits(plat, digits) -> None:
    x, y = digits
    rng = np.random.default_rng(1)
    held = rng.choice(len(x), size=len(x) // 4, replace=False)
    train = np.setdiff1d(np.arange(len(x)), held)
    col = plat.collection("digits_labelled", dim=x.shape[1], metric="cosine")
    col.add(vectors=x[train], ids=[int(i) for i in train],
            metadata=[{"digit": int(y[i])} for i in train])  # fmt: skip
    col.add(vectors=x[held], ids=[int(i) for i in held], metadata=[{} for _ in held])
    for method in ("logistic", "knn"):
        clf = col.classifier("digit", method)
        assert clf.classes == list(range(10))
        assert clf.n_records == len(train)
        pred = clf.predict(ov.vector(x[held]))
        acc = float(np.mean(np.asarray(pred) == y[held]))
        assert acc >= 0.9, (method, acc)
        assert clf.accuracy >= 0.9
        # A stored, unlabelled record by ref: the same answer as its vector.
        assert clf.predict(ov.ref(int(held[0]))) == clf.predict(ov.vector(x[held[0]]))
        proba = clf.predict_proba([ov.ref(int(held[0])), ov.vector(x[held[1]])])
        assert proba.shape == (2, 10) and np.allclose(proba.sum(axis=1), 1.0)


def test_sentiment_classifier_on_held_out_reviews(reviews) -> None:
    col, texts, truth = reviews
    for method in ("logistic", "knn"):
        clf = col.classifier("sentiment", method)
        assert clf.classes == ["neg", "pos"]
        pred = clf.predict(texts)
        acc = float(np.mean([p == t for p, t in zip(pred, truth, strict=True)]))
        assert acc >= 0.85, (method, acc, list(zip(texts, pred, strict=True)))
        assert 0.5 <= clf.accuracy <= 1.0
    clf = col.classifier("sentiment")
    assert clf.predict("This movie is amazing!") == "pos"
    assert clf.predict_proba("What a dreadful, boring film.").shape == (2,)
    assert clf.predict(["I loved it", "I hated it"]) == ["pos", "neg"]


# -- projection ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["pca", "umap", "tsne"])
def test_projection_is_finite_for_every_id(topics, method: str) -> None:
    xy = topics.project(method)
    assert set(xy) == set(topics.ids())
    arr = np.array(list(xy.values()))
    assert arr.shape == (len(topics), 2) and np.isfinite(arr).all()
    assert arr.std(axis=0).min() > 0  # a real spread, not a collapsed point


def test_projection_samples_big_collections_reproducibly(plat, digits) -> None:
    col = digits_collection(plat, digits, "l2")
    a = projection(col, "pca", limit=300, seed=3)
    assert a.sample_size == 300 and a.total == len(col) and len(a.points) == 300
    assert projection(col, "pca", limit=300, seed=3).points == a.points
    assert set(projection(col, "pca", limit=300, seed=4).points) != set(a.points)
    few = col.project("pca", where="digit == 3")
    assert len(few) == col.count(where="digit == 3")


@pytest.mark.parametrize(
    ("n", "dim", "dtype"),
    [(4_000, 24, np.float32), (4_000, 24, np.float64), (60, 24, np.float32), (500, 1, np.float32)],
)
def test_pca_gives_scikit_learns_coordinates(n: int, dim: int, dtype: type) -> None:
    """analysis.pca_2d (its own covariance path from 10 rows per dimension, scikit-learn's
    PCA below) answers PCA(2).fit_transform's coordinates, signs included."""
    from sklearn.decomposition import PCA

    from omnivec.platform.analysis import pca_2d

    rng = np.random.default_rng(n + dim)
    # Anisotropic with an offset: two clear leading axes and a mean to take out.
    scale = np.linspace(1.5, 0.5, dim)
    scale[:2] = (5.0, 3.0)[:dim]
    x = (rng.standard_normal((n, dim)) * scale + 2.0).astype(dtype)
    got = pca_2d(x)
    want = PCA(min(2, dim)).fit_transform(x)
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
    if n > 1_000:
        # Above fit_rows: the axes of a seeded sample, every row projected on them.
        pick = np.sort(np.random.default_rng(7).choice(n, size=1_000, replace=False))
        sampled = pca_2d(x, fit_rows=1_000, seed=7)
        np.testing.assert_allclose(
            sampled,
            PCA(2).fit(x[pick]).transform(x),
            rtol=0,
            atol=1e-4 * np.abs(want).max(),
        )
        assert np.abs(sampled - want).max() < 0.05 * np.ptp(want)  # the same map, nearly


def test_pca_fit_sample_is_drawn_by_id_not_by_row_order(
    plat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above PCA_FIT_ROWS the axes come from a sample; the same records in another order (the
    in-process copy's order follows the writes) give the same map."""
    from omnivec.platform import analysis

    monkeypatch.setattr(analysis, "PCA_FIT_ROWS", 300)
    rng = np.random.default_rng(3)
    scale = np.linspace(1.0, 0.2, 8)
    scale[:2] = (6.0, 3.0)
    x = (rng.standard_normal((900, 8)) * scale).astype(np.float32)
    ids = [int(i) for i in rng.permutation(10_000)[:900]]
    maps = []
    for name, perm in (("a", np.arange(900)), ("b", rng.permutation(900))):
        col = plat.collection(name, dim=8, metric="l2")
        col.add(vectors=x[perm], ids=[ids[i] for i in perm])
        maps.append(col.project("pca", limit=900))
    assert maps[0].keys() == maps[1].keys()
    a, b = (np.array([m[i] for i in ids]) for m in maps)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)
    # str ids too: the sample is drawn in store-key order
    order = analysis._id_order(["b", "a", 3, "c"])
    assert order.tolist() == [2, 1, 0, 3]


def test_pca_leaves_blas_threads_as_they_were_even_from_two_threads() -> None:
    """pca_2d keeps BLAS on one thread for its eigh only; overlapping calls must not restore
    each other's limit (BLAS would stay on one thread for the process)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    from omnivec.platform.analysis import pca_2d

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    x = np.random.default_rng(0).standard_normal((2_000, 16)).astype(np.float32)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: pca_2d(x), range(16)))
    assert all(np.array_equal(o, outs[0]) for o in outs)
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before


# -- bad input ----------------------------------------------------------------------------------
def test_bad_input_is_one_line_invalid_input(plat, digits, topics, reviews) -> None:
    col = digits_collection(plat, digits, "l2")
    cases = [
        (lambda: col.cluster(1), "at least 2"),
        (lambda: col.cluster(0), "at least 2"),
        (lambda: col.cluster(len(col) + 1), "more than"),
        (lambda: col.cluster(True), "int"),
        (lambda: col.cluster(3, method="spectral"), "unknown cluster method"),
        (lambda: col.cluster(3, where="digit > 99"), "matches no record"),
        (lambda: col.classifier("digit", "forest"), "unknown classifier method"),
        (lambda: col.classifier("sentiment"), "has metadata key 'sentiment'"),
        (lambda: col.classifier("digit", where="digit == 1"), "at least two classes"),
        (lambda: col.classifier("digit", where="digit > 99"), "matches no record"),
        (lambda: col.project("mds"), "unknown projection method"),
        (lambda: col.project("pca", where="digit > 99"), "matches no record"),
        (lambda: col.project("pca", limit=0), "limit"),
    ]
    for call, words in cases:
        with pytest.raises(InvalidInputError) as info:
            call()
        assert words in str(info.value) and "\n" not in str(info.value)

    few = plat.collection("few_labels", dim=2, metric="l2")
    few.add(
        vectors=[[0, 1], [1, 0], [1, 1]],
        ids=[1, 2, 3],
        metadata=[{"s": "a"}, {"s": "a"}, {"s": "b"}],
    )
    with pytest.raises(InvalidInputError, match="too few labelled records"):
        few.classifier("s")

    empty = plat.collection("empty_one", dim=2, metric="l2")
    with pytest.raises(InvalidInputError, match="empty"):
        empty.cluster(2)
    # A text query for a raw-vectors collection is refused as search refuses it.
    with pytest.raises(SpaceMismatchError):
        col.classifier("digit").predict("a seven")
