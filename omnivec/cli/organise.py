"""Commands that look at and improve what is stored: map, cluster, classify, reembed, reindex,
eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from omnivec.cli.app import (
    DbOption,
    JsonOption,
    KOption,
    TokenOption,
    WhereOption,
    app,
    handle_errors,
    open_platform,
    print_json,
)
from omnivec.errors import InvalidInputError

# -- see and organise ---------------------------------------------------------------------------
ClustersOption = Annotated[
    int | None, typer.Option("-n", "--clusters", help="k-means clusters (default: HDBSCAN).")
]


@app.command("map")
@handle_errors
def map_(
    name: str,
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("map.png"),
    color_by: Annotated[str, typer.Option(help="'cluster' or a metadata key.")] = "cluster",
    method: Annotated[str, typer.Option(help="Projection: pca, umap or tsne.")] = "pca",
    n_clusters: ClustersOption = None,
    limit: Annotated[int, typer.Option(help="Most records drawn (a seeded sample).")] = 20_000,
    where: WhereOption = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
) -> None:
    """Draw a collection as a 2-D map (PNG), coloured by cluster or a metadata key."""
    from omnivec.platform.plots import draw_collection_map

    with open_platform(db, token) as plat:
        col = plat.get_collection(name)
        typer.echo(draw_collection_map(col, out, method, color_by, where, limit, n_clusters))


@app.command()
@handle_errors
def cluster(
    name: str,
    n_clusters: ClustersOption = None,
    write_key: Annotated[str | None, typer.Option(help="Store each label under this key.")] = None,
    where: WhereOption = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Cluster a collection's records (k-means with -n, else HDBSCAN; -1 is noise)."""
    from omnivec.platform.plots import cluster_lines

    with open_platform(db, token) as plat:
        labels = plat.get_collection(name).cluster(n_clusters, where=where, write_key=write_key)
        if as_json:
            print_json({"clusters": [{"id": i, "cluster": c} for i, c in labels.items()]})
        else:
            typer.echo("\n".join(cluster_lines(labels)))


@app.command()
@handle_errors
def classify(
    name: str,
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.")],
    label: Annotated[str, typer.Option(help="Metadata key holding the labels.")],
    method: Annotated[str, typer.Option(help="logistic or knn.")] = "logistic",
    where: WhereOption = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Label TEXTS with a classifier fitted on the records whose metadata has --label."""
    from omnivec.platform.plots import classify_report

    with open_platform(db, token) as plat:
        clf = plat.get_collection(name).classifier(label, method, where=where)
        report, lines = classify_report(clf, list(texts))
        print_json(report) if as_json else typer.echo("\n".join(lines))


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
    with open_platform(db, token) as plat:
        report = plat.get_collection(name).reembed(**options)
    if as_json:
        print_json({"name": name, **report.to_dict()})
        return
    resumed = f" ({report.resumed} resumed)" if report.resumed else ""
    typer.echo(
        f"re-embedded {name}: {report.total} records{resumed} into {report.space.describe()} "
        f"in {report.seconds:.1f} s ({report.rows_per_s:.0f} records/s)"
    )


@app.command()
@handle_errors
def reindex(
    name: str,
    keywords: Annotated[
        bool,
        typer.Option(
            "--keywords/--no-keywords",
            help="Turn the keyword (BM25) index on (hybrid search by default) or off.",
        ),
    ] = True,
    analyzer: Annotated[
        str | None,
        typer.Option(
            "--analyzer",
            help="standard, english or chinese (default: the current one, else standard).",
        ),
    ] = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Rebuild a text collection's keyword index from its stored text, without re-encoding.

    Searches answer from the old rows until the switch; run it again to resume one that was
    interrupted."""
    from omnivec.platform.reindex import describe_keywords

    with open_platform(db, token) as plat:
        report = plat.get_collection(name).reindex(keywords=keywords, analyzer=analyzer)
    if as_json:
        print_json({"name": name, **report.to_dict()})
        return
    resumed = f" ({report.resumed} resumed)" if report.resumed else ""
    typer.echo(
        f"re-indexed {name}: {report.total} records{resumed}, "
        f"{describe_keywords(report.old_keywords)} -> {describe_keywords(report.keywords)} "
        f"in {report.seconds:.1f} s"
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
    with open_platform(db, token) as plat:
        results = {
            n: plat.get_collection(n).evaluate(queries, relevant, k=k, where=where) for n in names
        }
    if as_json:
        print_json(results[name] if against is None else results)
        return
    metrics = list(results[name])
    width = max(12, *(len(n) + 2 for n in names))
    typer.echo(f"{len(queries)} queries, k={k}")
    typer.echo("metric".ljust(12) + "".join(n.rjust(width) for n in names))
    for metric in metrics:
        typer.echo(
            metric.ljust(12) + "".join(f"{results[n][metric]:.4f}".rjust(width) for n in names)
        )
