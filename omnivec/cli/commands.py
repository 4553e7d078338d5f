"""Commands: inspect, add, search, train graphs and recommenders, serve, demo."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from omnivec.cli.app import (
    IMAGE_SUFFIXES,
    TEXT_SUFFIXES,
    DbOption,
    JsonOption,
    KOption,
    ModeOption,
    TokenOption,
    WhereOption,
    app,
    handle_errors,
    open_platform,
    parse_scalar,
    print_hits,
    print_json,
    resolve_id,
)
from omnivec.errors import InvalidInputError, NotFoundError


# -- inspection --------------------------------------------------------------------------------
@app.command()
@handle_errors
def encoders(
    as_json: JsonOption = False, db: DbOption = "omnivec.db", token: TokenOption = ""
) -> None:
    """List the encoders that can be used (built-ins and plugins)."""
    from omnivec.platform.registry import available_encoders

    del db, token  # taken like every command's; the encoders do not depend on the store
    names = available_encoders()
    if as_json:
        print_json({"encoders": names})
    else:
        for name in names:
            typer.echo(name)


@app.command()
@handle_errors
def collections(
    db: DbOption = "omnivec.db", token: TokenOption = "", as_json: JsonOption = False
) -> None:
    """List collections with their encoder, space and size."""
    with open_platform(db, token) as plat:
        infos = [plat.info(name) for name in plat.collections()]
        if as_json:
            print_json({"collections": infos})
            return
        if not infos:
            typer.echo("(no collections)")
        for info in infos:
            space = info["space"]
            typer.echo(
                f"{info['name']:<24} {info['encoder'] or 'vectors':<10} dim={space['dim']:<5} "
                f"{space['metric']:<6} {info['count']:>9} rows"
            )


@app.command()
@handle_errors
def info(
    name: str, db: DbOption = "omnivec.db", token: TokenOption = "", as_json: JsonOption = False
) -> None:
    """Show one collection: encoder, configuration, vector space, row count."""
    with open_platform(db, token) as plat:
        data = plat.info(name)
        data["index_stats"] = plat.existing_collection(name).index_stats()
        if as_json:
            print_json(data)
        else:
            for key, value in data.items():
                typer.echo(f"{key:<12} {json.dumps(value, default=str)}")


@app.command()
@handle_errors
def drop(name: str, db: DbOption = "omnivec.db", token: TokenOption = "") -> None:
    """Delete a collection (or a recommender and its two collections)."""
    with open_platform(db, token) as plat:
        if not plat.drop(name):
            raise NotFoundError(f"no collection or recommender named {name!r}")
        typer.echo(f"dropped {name}")


# -- writing -------------------------------------------------------------------------------------
def _read_utf8(path: Path) -> str:
    """A file's text; a file that is not UTF-8 is one clear error, not a traceback."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{path}:{line}: not valid UTF-8 (byte {exc.start}: {exc.reason}); "
            "save the file as UTF-8"
        ) from exc


def _read_text_folder(path: Path) -> tuple[list[str], list[Any], list[dict[str, Any]]]:
    """One record per .txt/.md file in a folder (id: its path inside the folder)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    texts, ids, metas = [], [], []
    for f in files:
        text = _read_utf8(f)
        if text.strip():
            rel = f.relative_to(path).as_posix()
            texts.append(text)
            ids.append(rel)
            metas.append({"source": rel})
    if not texts:
        raise InvalidInputError(f"{path} holds no non-empty .txt or .md files")
    return texts, ids, metas


def _read_texts(path: Path) -> tuple[list[str], list[Any], list[dict[str, Any]]]:
    """(texts, ids, metadata) from a .txt, .jsonl or .csv file."""
    texts: list[str] = []
    ids: list[Any] = []
    metas: list[dict[str, Any]] = []
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with io.StringIO(_read_utf8(path)) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise InvalidInputError(f'{path}:{lineno}: each line needs a "text" string')
                texts.append(obj["text"])
                ids.append(obj.get("id", f"{path.name}:{lineno}"))
                metas.append(obj.get("metadata") or {})
    elif suffix == ".csv":
        with io.StringIO(_read_utf8(path), newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "text" not in reader.fieldnames:
                raise InvalidInputError(f"{path}: a CSV file needs a 'text' column")
            for rowno, row in enumerate(reader, 2):
                text = row.pop("text")
                if not text or not text.strip():
                    continue
                texts.append(text)
                raw_id = row.pop("id", None)
                ids.append(parse_scalar(raw_id) if raw_id else f"{path.name}:{rowno}")
                metas.append({k: v for k, v in row.items() if k and v is not None})
    else:
        with io.StringIO(_read_utf8(path)) as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    texts.append(line.rstrip("\n"))
                    ids.append(f"{path.name}:{lineno}")
                    metas.append({"source": path.name, "line": lineno})
    if not texts:
        raise InvalidInputError(f"{path} holds no text to add")
    return texts, ids, metas


@app.command()
@handle_errors
def add(
    name: str,
    path: Annotated[
        Path,
        typer.Argument(help="A .txt/.jsonl/.csv file, a folder of .txt/.md files or of images."),
    ],
    encoder: Annotated[
        str | None,
        typer.Option("--encoder", help="Encoder for a new collection: text, multilingual or clip."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model name or path for a new collection.")
    ] = None,
    pretrained: Annotated[
        str | None, typer.Option(help="CLIP weights: open_clip tag, checkpoint path or 'random'.")
    ] = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Add a text file (one record per non-empty line; .jsonl: text/id/metadata; .csv: a text
    column), a folder of .txt/.md files (one record per file) or a folder of images."""
    if not path.exists():
        raise InvalidInputError(f"{path} does not exist")
    config: dict[str, Any] = {}
    if model is not None:
        config["model"] = model
    if pretrained is not None:
        config["pretrained"] = pretrained
    with open_platform(db, token) as plat:
        as_texts = path.is_file()
        files: list[Path] = []
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            has_text = any(p.suffix.lower() in TEXT_SUFFIXES for p in path.rglob("*"))
            as_texts = has_text and (not files or encoder in ("text", "multilingual"))
        if as_texts:
            texts, ids, metas = (_read_text_folder if path.is_dir() else _read_texts)(path)
            col = plat.collection(
                name, encoder or ("text" if not plat.has_collection(name) else None), **config
            )
            ids = col.add(texts, ids=ids, metadata=metas)
        else:
            if not files:
                raise InvalidInputError(
                    f"{path} holds no .txt/.md files and no images "
                    f"({', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            col = plat.collection(
                name, encoder or ("clip" if not plat.has_collection(name) else None), **config
            )
            ids = col.add(
                images=[str(f) for f in files], ids=[str(f.relative_to(path)) for f in files]
            )
        if as_json:
            print_json({"added": len(ids), "collection": name, "count": len(col)})
        else:
            typer.echo(f"added {len(ids)} records to {name} ({len(col)} in all)")


# -- searching --------------------------------------------------------------------------------
@app.command()
@handle_errors
def search(
    name: str,
    query: Annotated[str | None, typer.Argument(help="Text query.")] = None,
    image: Annotated[Path | None, typer.Option("--image", help="Image file as the query.")] = None,
    ref: Annotated[
        str | None, typer.Option("--ref", help="Id of a stored record as the query.")
    ] = None,
    ref_collection: Annotated[
        str | None, typer.Option("--ref-collection", help="Collection that holds --ref.")
    ] = None,
    k: KOption = 10,
    where: WhereOption = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Drop weaker hits.")
    ] = None,
    mode: ModeOption = None,
    candidates: Annotated[
        int | None,
        typer.Option("--candidates", help="Hybrid: records each leg fetches before fusion (>= k)."),
    ] = None,
    fusion: Annotated[
        str | None,
        typer.Option("--fusion", help="Hybrid fusion: rrf, weighted or relative."),
    ] = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Search a collection by text, --image PATH or --ref ID."""
    import omnivec as ov

    given = [x is not None for x in (query, image, ref)]
    if sum(given) != 1:
        raise InvalidInputError("give exactly one of a text QUERY, --image PATH or --ref ID")
    with open_platform(db, token) as plat:
        col = plat.get_collection(name)
        q: Any
        if image is not None:
            if not image.is_file():
                raise InvalidInputError(f"image {image} does not exist")
            q = ov.image(str(image))
        elif ref is not None:
            source = plat.get_collection(ref_collection) if ref_collection else col
            q = ov.ref(resolve_id(source, ref), collection=ref_collection)
        else:
            q = query
        hits = col.search(
            q,
            k=k,
            where=where,
            min_score=min_score,
            mode=mode,
            candidates=candidates,
            fusion=fusion,
        )
        print_hits(hits, as_json)  # type: ignore[arg-type]


@app.command("search-all")
@handle_errors
def search_all(
    queries: Annotated[
        list[str], typer.Argument(help="COLLECTION=TEXT pairs; records share ids across them.")
    ],
    k: KOption = 10,
    weight: Annotated[
        list[str] | None,
        typer.Option("--weight", help="COLLECTION=WEIGHT for weighted fusion (default: RRF)."),
    ] = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """One ranked list over several collections whose records share ids, fused per id."""
    legs: dict[str, str] = {}
    for pair in queries:
        name, sep, text = pair.partition("=")
        if not sep or not name or not text:
            raise InvalidInputError(f"give queries as COLLECTION=TEXT, got {pair!r}")
        legs[name] = text
    weights: dict[str, float] | None = None
    for pair in weight or []:
        name, sep, value = pair.partition("=")
        try:
            (weights := weights or {})[name] = float(value)
        except ValueError:
            raise InvalidInputError(f"give weights as COLLECTION=NUMBER, got {pair!r}") from None
        if not sep:
            raise InvalidInputError(f"give weights as COLLECTION=NUMBER, got {pair!r}")
    with open_platform(db, token) as plat:
        hits = plat.search(legs, k=k, weights=weights)
    if as_json:
        print_json({"hits": [h.to_dict() for h in hits]})
        return
    for h in hits:
        legs_text = ", ".join(f"{n} {s:.3f}" for n, s in (h.scores or {}).items())
        typer.echo(f"{h.score:.4f}  {h.id}  ({legs_text})")


# -- training ------------------------------------------------------------------------------------
def _read_table(path: Path, min_cols: int) -> list[list[str]]:
    """Rows of a .csv/.tsv (or whitespace-separated) file, header skipped if present."""
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist")
    text = path.read_text(encoding="utf-8")
    delim = "\t" if path.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] else ","
    rows = [
        r for r in csv.reader(text.splitlines(), delimiter=delim) if r and any(c.strip() for c in r)
    ]
    if delim == "," and rows and len(rows[0]) == 1:
        rows = [line.split() for line in text.splitlines() if line.strip()]
    if rows and len(rows[0]) >= 2 and not _is_number(rows[0][-1]) and not _is_number(rows[0][0]):
        header = [c.strip().lower() for c in rows[0]]
        if {"source", "target", "u", "v", "src", "dst", "user", "item", "weight", "node"} & set(
            header
        ):
            rows = rows[1:]
    for lineno, row in enumerate(rows, 1):
        if len(row) < min_cols:
            raise InvalidInputError(f"{path}: row {lineno} has {len(row)} columns, need {min_cols}")
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


@app.command("fit-graph")
@handle_errors
def fit_graph(
    name: str,
    edges: Annotated[Path, typer.Argument(help="Edge list: u,v[,weight] per line (.csv/.tsv).")],
    dim: Annotated[int, typer.Option(help="Embedding dimension.")] = 64,
    walk_length: Annotated[int, typer.Option(help="Steps per walk.")] = 40,
    walks_per_node: Annotated[int, typer.Option(help="Walks started at each node.")] = 10,
    p: Annotated[float, typer.Option("--p", help="Return parameter.")] = 1.0,
    q: Annotated[float, typer.Option("--q", help="In-out parameter.")] = 1.0,
    epochs: Annotated[int, typer.Option(help="Skip-gram epochs.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    directed: Annotated[bool, typer.Option(help="Treat edges as directed.")] = False,
    encoder: Annotated[str, typer.Option(help="node2vec, spectral or graphsage.")] = "node2vec",
    laplacian: Annotated[
        bool, typer.Option(help="spectral: Laplacian instead of adjacency embedding.")
    ] = False,
    features: Annotated[
        str | None, typer.Option(help="graphsage: collection holding each node's vector.")
    ] = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Learn node2vec (or spectral, graphsage) embeddings from an edge list and store every node."""
    if encoder not in ("node2vec", "spectral", "graphsage"):
        raise InvalidInputError(
            f"--encoder must be node2vec, spectral or graphsage, not {encoder!r}"
        )
    if features is not None and encoder != "graphsage":
        raise InvalidInputError("--features needs --encoder graphsage")
    import time

    rows = _read_table(edges, 2)
    triples: list[tuple[Any, ...]] = []
    for row in rows:
        u, v = parse_scalar(row[0]), parse_scalar(row[1])
        if len(row) >= 3 and row[2].strip():
            if not _is_number(row[2]):
                raise InvalidInputError(f"{edges}: edge weight {row[2]!r} is not a number")
            triples.append((u, v, float(row[2])))
        else:
            triples.append((u, v))
    with open_platform(db, token) as plat:
        exists = plat.has_collection(name)
        config: dict[str, Any] = (
            {}
            if exists
            else dict(
                dim=dim,
                walk_length=walk_length,
                walks_per_node=walks_per_node,
                p=p,
                q=q,
                epochs=epochs,
                seed=seed,
            )
        )
        if encoder == "graphsage" and not exists:
            config = {"dim": dim, "seed": seed}
        if encoder == "spectral" and not exists:
            config = {"dim": dim, "seed": seed, "laplacian": laplacian}
        col = plat.collection(name, encoder=None if exists else encoder, **config)
        start = time.perf_counter()
        try:
            col.fit(triples, directed=directed, **({"features": features} if features else {}))
        except BaseException:
            if not exists:  # a failed first fit leaves no empty collection behind
                plat.drop(name)
            raise
        seconds = time.perf_counter() - start
        if as_json:
            print_json(
                {"collection": name, "nodes": len(col), "edges": len(triples), "seconds": seconds}
            )
        else:
            typer.echo(
                f"fitted {name}: {len(col)} nodes from {len(triples)} edges in {seconds:.1f} s"
            )


@app.command("fit-recs")
@handle_errors
def fit_recs(
    name: str,
    interactions: Annotated[Path, typer.Argument(help="CSV with user,item[,weight] columns.")],
    algorithm: Annotated[str, typer.Option(help="als or bpr.")] = "als",
    factors: Annotated[int, typer.Option(help="Latent factors.")] = 64,
    iterations: Annotated[int, typer.Option(help="Training iterations.")] = 15,
    random_state: Annotated[int, typer.Option(help="Random seed.")] = 0,
    user_col: Annotated[str, typer.Option(help="User column.")] = "user",
    item_col: Annotated[str, typer.Option(help="Item column.")] = "item",
    weight_col: Annotated[str, typer.Option(help="Weight column (optional).")] = "weight",
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Fit an ALS or BPR recommender on interactions (CSV with header user,item[,weight])."""
    import time

    import pandas as pd

    if not interactions.is_file():
        raise InvalidInputError(f"{interactions} does not exist")
    try:
        df = pd.read_csv(interactions, sep=None, engine="python")
    except (ValueError, pd.errors.ParserError) as exc:
        raise InvalidInputError(f"{interactions}: cannot read CSV ({exc})") from exc
    missing = [c for c in (user_col, item_col) if c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"{interactions} has no column {missing[0]!r} (columns: {', '.join(map(str, df.columns))}); "
            "use --user-col/--item-col"
        )
    with open_platform(db, token) as plat:
        exists = name in plat.recommenders()
        config: dict[str, Any] = (
            {}
            if exists
            else dict(factors=factors, iterations=iterations, random_state=random_state)
        )
        rec = plat.recommender(name, algorithm=None if exists else algorithm, **config)
        start = time.perf_counter()
        try:
            rec.fit(
                df,
                user_col=user_col,
                item_col=item_col,
                weight_col=weight_col if weight_col in df.columns else None,
            )
        except BaseException:
            if not exists:  # a failed first fit leaves no empty recommender behind
                plat.drop(name)
            raise
        seconds = time.perf_counter() - start
        summary = {
            "recommender": name,
            "users": len(rec.users),
            "items": len(rec.items),
            "interactions": len(df),
            "seconds": seconds,
        }
        if as_json:
            print_json(summary)
        else:
            typer.echo(
                f"fitted {name}: {summary['users']} users x {summary['items']} items "
                f"from {len(df)} interactions in {seconds:.1f} s"
            )


def _existing_recommender(plat: Any, name: str) -> Any:
    if name not in plat.recommenders():
        raise NotFoundError(f"no recommender named {name!r}; fit one with `omnivec fit-recs`")
    return plat.recommender(name)


@app.command()
@handle_errors
def recommend(
    name: str,
    user: str,
    k: KOption = 10,
    exclude_seen: Annotated[
        bool, typer.Option(help="Leave out items the user interacted with.")
    ] = True,
    where: WhereOption = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Recommend items for USER."""
    with open_platform(db, token) as plat:
        rec = _existing_recommender(plat, name)
        hits = rec.recommend(
            resolve_id(rec.users, user), k=k, exclude_seen=exclude_seen, where=where
        )
        print_hits(hits, as_json)


@app.command("similar-items")
@handle_errors
def similar_items(
    name: str,
    item: str,
    k: KOption = 10,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Items most similar to ITEM in a recommender's space."""
    with open_platform(db, token) as plat:
        rec = _existing_recommender(plat, name)
        print_hits(rec.similar_items(resolve_id(rec.items, item), k=k), as_json)


# -- faces -----------------------------------------------------------------------------------------
@app.command()
@handle_errors
def serve(
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="Require `Authorization: Bearer KEY` on every route except GET /healthz and the "
            "web page (else 401). Default: $OMNIVEC_API_KEY; this flag wins over the environment. "
            "An empty key is an error.",
            show_default=False,
        ),
    ] = None,
    read_only: Annotated[
        bool, typer.Option(help="Refuse (403) the routes that add, delete, drop, fit or re-embed.")
    ] = False,
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            help="OpenAI-compatible API of the language model that answers /ask and the "
            "page's Ask box, e.g. http://127.0.0.1:8080/v1.",
        ),
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option("--llm-model", help="Model name the LLM server knows.")
    ] = None,
    llm_api_key_env: Annotated[
        str | None,
        typer.Option("--llm-api-key-env", help="Environment variable holding the LLM's key."),
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the web page at /."""
    import omnivec as ov
    from omnivec.server.run import serve_from_flags

    model = ov.llm(model=llm_model, base_url=llm, api_key_env=llm_api_key_env) if llm else None
    serve_from_flags(
        db, host=host, port=port, token=token, api_key=api_key, read_only=read_only, llm=model
    )


@app.command()
@handle_errors
def demo(
    db: Annotated[
        str, typer.Option("--db", help="Where to build the demo index.")
    ] = "omnivec-demo.db",
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only these parts: text, images, graph, recs."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build a demo index in all four domains from data that ships offline, and query it."""
    from omnivec.demo.main import run_demo

    summary = run_demo(db, parts=only, quiet=as_json)
    if as_json:
        print_json(summary)
