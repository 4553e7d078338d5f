"""The ``omnivec`` command: build, inspect and query collections; serve them; run the demo.

Every command takes ``--db`` (a Milvus Lite file or a server URI; default ``./omnivec.db`` or
``$OMNIVEC_URI``). Errors print one line on stderr and exit with status 1; ``--json`` prints
exactly what the HTTP API answers.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from omnivec.errors import InvalidInputError, NotFoundError, OmnivecError

app = typer.Typer(
    name="omnivec",
    help="Text, images, graph nodes and users/items as vectors, in one store, behind one query API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

DbOption = Annotated[
    str,
    typer.Option(
        "--db", envvar="OMNIVEC_URI", help="Milvus Lite file (*.db) or Milvus server URI."
    ),
]
TokenOption = Annotated[
    str, typer.Option("--token", envvar="OMNIVEC_TOKEN", help="Token for a Milvus server.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (what the HTTP API answers).")]
KOption = Annotated[int, typer.Option("-k", "--k", help="Number of hits (1 to 16384).")]
WhereOption = Annotated[
    str | None,
    typer.Option("--where", help="Milvus filter over metadata, e.g. 'lang == \"en\"'."),
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def handle_errors(fn: F) -> F:
    """Turn omnivec errors (and unreadable files) into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OmnivecError as exc:
            _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError) as exc:
            _fail(f"{exc}")
        return None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _platform(db: str, token: str = "") -> Iterator[Any]:
    import omnivec as ov

    with ov.connect(db, token=token) as plat:
        yield plat


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, default=str))


def _print_hits(hits: list[Any], as_json: bool) -> None:
    from omnivec.core.queries import hits_payload

    if as_json:
        _print_json(hits_payload(hits))
        return
    if not hits:
        typer.echo("(no hits)")
    for rank, hit in enumerate(hits, 1):
        meta = {k: v for k, v in hit.metadata.items() if k != "thumbnail"}
        extra = "  " + json.dumps(meta, ensure_ascii=False, default=str)[:120] if meta else ""
        typer.echo(f"{rank:>3}. {hit.score:8.4f}  {hit.id}{extra}")


def _parse_scalar(text: str) -> Any:
    """Node and user ids from files and the command line: integers become int."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return text


def _resolve_id(collection: Any, text: str) -> Any:
    """The stored id the user means: ``7`` may be the int 7 or the str "7"."""
    parsed = _parse_scalar(text)
    candidates = [parsed, text] if parsed != text else [text]
    for cand in candidates:
        try:
            collection.get([cand])
            return cand
        except NotFoundError:
            continue
    raise NotFoundError(f"id {text!r} is not in collection {collection.name!r}")


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
        _print_json({"encoders": names})
    else:
        for name in names:
            typer.echo(name)


@app.command()
@handle_errors
def collections(
    db: DbOption = "omnivec.db", token: TokenOption = "", as_json: JsonOption = False
) -> None:
    """List collections with their encoder, space and size."""
    with _platform(db, token) as plat:
        infos = [plat.info(name) for name in plat.collections()]
        if as_json:
            _print_json({"collections": infos})
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
    with _platform(db, token) as plat:
        data = plat.info(name)
        if as_json:
            _print_json(data)
        else:
            for key, value in data.items():
                typer.echo(f"{key:<12} {json.dumps(value, default=str)}")


@app.command()
@handle_errors
def drop(name: str, db: DbOption = "omnivec.db", token: TokenOption = "") -> None:
    """Delete a collection (or a recommender and its two collections)."""
    with _platform(db, token) as plat:
        if not plat.drop(name):
            raise NotFoundError(f"no collection or recommender named {name!r}")
        typer.echo(f"dropped {name}")


# -- writing -------------------------------------------------------------------------------------
def _read_texts(path: Path) -> tuple[list[str], list[Any], list[dict[str, Any]]]:
    """(texts, ids, metadata) from a .txt, .jsonl or .csv file."""
    texts: list[str] = []
    ids: list[Any] = []
    metas: list[dict[str, Any]] = []
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
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
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "text" not in reader.fieldnames:
                raise InvalidInputError(f"{path}: a CSV file needs a 'text' column")
            for rowno, row in enumerate(reader, 2):
                text = row.pop("text")
                if not text or not text.strip():
                    continue
                texts.append(text)
                raw_id = row.pop("id", None)
                ids.append(_parse_scalar(raw_id) if raw_id else f"{path.name}:{rowno}")
                metas.append({k: v for k, v in row.items() if k and v is not None})
    else:
        with path.open(encoding="utf-8") as fh:
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
    path: Annotated[Path, typer.Argument(help="A .txt/.jsonl/.csv file, or a folder of images.")],
    encoder: Annotated[
        str | None, typer.Option("--encoder", help="Encoder for a new collection: text or clip.")
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
    column) or a folder of images (with --encoder clip)."""
    if not path.exists():
        raise InvalidInputError(f"{path} does not exist")
    config: dict[str, Any] = {}
    if model is not None:
        config["model"] = model
    if pretrained is not None:
        config["pretrained"] = pretrained
    with _platform(db, token) as plat:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise InvalidInputError(
                    f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            col = plat.collection(
                name, encoder or ("clip" if not plat.has_collection(name) else None), **config
            )
            ids = col.add(
                images=[str(f) for f in files], ids=[str(f.relative_to(path)) for f in files]
            )
        else:
            texts, ids, metas = _read_texts(path)
            col = plat.collection(
                name, encoder or ("text" if not plat.has_collection(name) else None), **config
            )
            ids = col.add(texts, ids=ids, metadata=metas)
        if as_json:
            _print_json({"added": len(ids), "collection": name, "count": len(col)})
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
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Search a collection by text, --image PATH or --ref ID."""
    import omnivec as ov

    given = [x is not None for x in (query, image, ref)]
    if sum(given) != 1:
        raise InvalidInputError("give exactly one of a text QUERY, --image PATH or --ref ID")
    with _platform(db, token) as plat:
        col = plat.get_collection(name)
        q: Any
        if image is not None:
            if not image.is_file():
                raise InvalidInputError(f"image {image} does not exist")
            q = ov.image(str(image))
        elif ref is not None:
            source = plat.get_collection(ref_collection) if ref_collection else col
            q = ov.ref(_resolve_id(source, ref), collection=ref_collection)
        else:
            q = query
        hits = col.search(q, k=k, where=where, min_score=min_score)
        _print_hits(hits, as_json)  # type: ignore[arg-type]


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
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Learn node2vec embeddings from an edge list and store every node."""
    import time

    rows = _read_table(edges, 2)
    triples: list[tuple[Any, ...]] = []
    for row in rows:
        u, v = _parse_scalar(row[0]), _parse_scalar(row[1])
        if len(row) >= 3 and row[2].strip():
            if not _is_number(row[2]):
                raise InvalidInputError(f"{edges}: edge weight {row[2]!r} is not a number")
            triples.append((u, v, float(row[2])))
        else:
            triples.append((u, v))
    with _platform(db, token) as plat:
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
        col = plat.collection(name, encoder=None if exists else "node2vec", **config)
        start = time.perf_counter()
        try:
            col.fit(triples, directed=directed)
        except BaseException:
            if not exists:  # a failed first fit leaves no empty collection behind
                plat.drop(name)
            raise
        seconds = time.perf_counter() - start
        if as_json:
            _print_json(
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
    with _platform(db, token) as plat:
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
            _print_json(summary)
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
    with _platform(db, token) as plat:
        rec = _existing_recommender(plat, name)
        hits = rec.recommend(
            _resolve_id(rec.users, user), k=k, exclude_seen=exclude_seen, where=where
        )
        _print_hits(hits, as_json)


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
    with _platform(db, token) as plat:
        rec = _existing_recommender(plat, name)
        _print_hits(rec.similar_items(_resolve_id(rec.items, item), k=k), as_json)


# -- better embeddings -------------------------------------------------------------------------
@app.command()
@handle_errors
def reembed(
    name: str,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Text model name or folder (e.g. a fine-tuned one)."),
    ] = None,
    pretrained: Annotated[
        str | None, typer.Option("--pretrained", help="CLIP checkpoint path or open_clip tag.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Another encoder option as KEY=VALUE (JSON value)."),
    ] = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Re-encode every record of a collection with a new model, without downtime.

    Searches answer from the old vectors until the switch; run it again to resume one that
    was interrupted."""
    options: dict[str, Any] = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--option takes KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    if model is not None:
        options["model"] = model
    if pretrained is not None:
        options["pretrained"] = pretrained
    if not options:
        raise InvalidInputError("give the new model: --model DIR (text), --pretrained PATH (clip)")
    with _platform(db, token) as plat:
        report = plat.get_collection(name).reembed(**options)
    if as_json:
        _print_json({"name": name, **report.to_dict()})
        return
    resumed = f" ({report.resumed} resumed)" if report.resumed else ""
    typer.echo(
        f"re-embedded {name}: {report.total} records{resumed} into {report.space.describe()} "
        f"in {report.seconds:.1f} s ({report.rows_per_s:.0f} records/s)"
    )


@app.command("eval")
@handle_errors
def evaluate(
    name: str,
    file: Annotated[Path, typer.Argument(help='.jsonl: {"query": ..., "relevant": [ids]} a line.')],
    k: KOption = 10,
    against: Annotated[
        str | None, typer.Option("--against", help="Another collection, side by side.")
    ] = None,
    where: WhereOption = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Retrieval quality (recall@k, MRR, nDCG@k) of a collection on judged queries."""
    from omnivec.platform.evaluation import read_judgements

    queries, relevant = read_judgements(file)
    names = [name] if against is None else [name, against]
    with _platform(db, token) as plat:
        results = {
            n: plat.get_collection(n).evaluate(queries, relevant, k=k, where=where) for n in names
        }
    if as_json:
        _print_json(results[name] if against is None else results)
        return
    metrics = list(results[name])
    width = max(12, *(len(n) + 2 for n in names))
    typer.echo(f"{len(queries)} queries, k={k}")
    typer.echo("metric".ljust(12) + "".join(n.rjust(width) for n in names))
    for metric in metrics:
        typer.echo(
            metric.ljust(12) + "".join(f"{results[n][metric]:.4f}".rjust(width) for n in names)
        )


# -- faces -----------------------------------------------------------------------------------------
@app.command()
@handle_errors
def serve(
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the web page at /."""
    from omnivec.server import serve as run_server

    run_server(db, host=host, port=port, token=token)


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
        _print_json(summary)


def main() -> None:
    """Console-script entry point: usage mistakes, like every other error, are one line on
    stderr and exit status 1."""
    # typer vendors click; its UsageError is the base class of the public typer.BadParameter.
    usage_error: type[Exception] = typer.BadParameter.__mro__[1]  # type: ignore[assignment]
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        if not exc.format_message():  # type: ignore[attr-defined]
            raise SystemExit(0) from None  # bare `omnivec`: help was printed
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        typer.echo(f"error: {exc.format_message()}{hint}", err=True)  # type: ignore[attr-defined]
        raise SystemExit(1) from None
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
