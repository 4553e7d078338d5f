"""Retrieval metrics over ranked ids: recall@k, MRR and nDCG@k with binary relevance.

Definitions (per query, then the mean over queries):

- ``recall@k``: relevant ids among the top k, divided by the number of relevant ids.
- ``mrr``: 1 / rank of the first relevant id in the top k (0 when none is there).
- ``ndcg@k``: DCG / ideal DCG, with DCG = sum over relevant hits at rank r of 1 / log2(r + 1)
  and the ideal DCG placing min(k, relevant) relevant ids at ranks 1, 2, ...
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import InvalidInputError

__all__ = [
    "check_judgements",
    "list_ndcg",
    "list_recall",
    "metric_names",
    "read_judgements",
    "retrieval_metrics",
]


def list_recall(top: Sequence[Hashable], wanted: set[Hashable]) -> float:
    """Share of ``wanted`` (non-empty) found in ``top`` (one query's top-k ids)."""
    return len(set(top) & wanted) / len(wanted)


def list_ndcg(top: Sequence[Hashable], wanted: set[Hashable], k: int) -> float:
    """Binary-relevance nDCG of one query's top-``k`` ids against ``wanted`` (non-empty)."""
    dcg = sum(1.0 / math.log2(r + 1) for r, hit in enumerate(top[:k], 1) if hit in wanted)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(k, len(wanted)) + 1))
    return dcg / ideal


def metric_names(k: int) -> tuple[str, str, str]:
    return f"recall@{k}", "mrr", f"ndcg@{k}"


def check_judgements(
    queries: Mapping[Any, Any], relevant: Mapping[Any, Sequence[Any]]
) -> list[Any]:
    """The query ids, in order; every query needs a non-empty list of relevant ids and every
    judged id a query (one-line :class:`InvalidInputError` otherwise)."""
    if not isinstance(queries, Mapping) or not isinstance(relevant, Mapping):
        raise InvalidInputError(
            "evaluate() takes queries={qid: query} and relevant={qid: [id, ...]} dicts"
        )
    if not queries:
        raise InvalidInputError("evaluate() got no queries")
    qids = list(queries)
    for qid in qids:
        rel = relevant.get(qid)
        if rel is None:
            raise InvalidInputError(f"query {qid!r} has no relevant ids; give relevant[{qid!r}]")
        if isinstance(rel, str | bytes) or not isinstance(rel, Sequence | set | frozenset):
            raise InvalidInputError(f"relevant[{qid!r}] must be a list of ids, got {rel!r}")
        if not rel:
            raise InvalidInputError(f"relevant[{qid!r}] is empty; each query needs a relevant id")
    extra = [q for q in relevant if q not in queries]
    if extra:
        raise InvalidInputError(f"relevant ids given for {extra[0]!r}, which is not a query")
    return qids


def retrieval_metrics(
    ranked: Sequence[Sequence[Hashable]], relevant: Sequence[Sequence[Hashable]], k: int
) -> dict[str, float]:
    """Mean recall@k, MRR and nDCG@k of ``ranked`` id lists (best first) against ``relevant``."""
    if len(ranked) != len(relevant) or not ranked:
        raise InvalidInputError("retrieval_metrics needs one ranked list per judged query")
    recall = mrr = ndcg = 0.0
    for hits, rel in zip(ranked, relevant, strict=True):
        wanted = set(rel)
        top = list(hits)[:k]
        found = [r for r, hit in enumerate(top, 1) if hit in wanted]
        recall += list_recall(top, wanted)
        mrr += 1.0 / found[0] if found else 0.0
        ndcg += list_ndcg(top, wanted, k)
    n = len(ranked)
    names = metric_names(k)
    return {names[0]: recall / n, names[1]: mrr / n, names[2]: ndcg / n}


def read_judgements(path: str | Path) -> tuple[dict[Any, str], dict[Any, list[Any]]]:
    """``(queries, relevant)`` from a .jsonl file with ``{"query": "...", "relevant": [ids]}``
    (and optionally ``"id"``; else the line number) on each line. Ids keep their JSON type."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist")
    queries: dict[Any, str] = {}
    relevant: dict[Any, list[Any]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{n} is not JSON: {exc}") from exc
            if not isinstance(row, dict) or not isinstance(row.get("query"), str):
                raise InvalidInputError(f'{path}:{n} needs {{"query": "...", "relevant": [...]}}')
            rel = row.get("relevant")
            if not isinstance(rel, list) or not rel:
                raise InvalidInputError(f"{path}:{n}: relevant must be a non-empty list of ids")
            qid = row.get("id", n)
            if qid in queries:
                raise InvalidInputError(f"{path}:{n}: query id {qid!r} appears twice")
            queries[qid], relevant[qid] = row["query"], rel
    if not queries:
        raise InvalidInputError(f"{path} holds no queries")
    return queries, relevant
