"""col.evaluate: recall@k, MRR and nDCG@k from the collection's own search."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.platform.evaluation import retrieval_metrics

DOCS = {
    "cat1": "A kitten sleeps on the warm sofa",
    "cat2": "My cat purrs when I stroke her fur",
    "dog1": "The puppy chased the ball across the park",
    "dog2": "Dogs love long walks in the woods",
    "stock1": "Stocks fell sharply after the earnings report",
    "stock2": "The central bank raised interest rates again",
    "rain1": "Heavy rain flooded the streets downtown",
    "rain2": "A storm brought thunder and lightning overnight",
    "cook1": "Simmer the tomato sauce for twenty minutes",
    "cook2": "Knead the dough and let the bread rise",
}
QUERIES = {
    "q-cats": "felines napping",
    "q-dogs": "walking my dog",
    "q-money": "markets and the economy",
    "q-weather": "bad weather",
    "q-baking": "baking recipes",
}
RELEVANT = {
    "q-cats": ["cat1", "cat2"],
    "q-dogs": ["dog1", "dog2"],
    "q-money": ["stock1", "stock2"],
    "q-weather": ["rain1", "rain2"],
    "q-baking": ["cook2", "cook1", "bread-not-stored"],
}


@pytest.fixture
def docs(plat: ov.Platform) -> ov.Collection:
    col = plat.collection("docs", encoder="text")
    col.add(list(DOCS.values()), ids=list(DOCS), metadata=[{"kind": k[:-1]} for k in DOCS])
    return col


def by_hand(col: ov.Collection, k: int, **kwargs: Any) -> dict[str, float]:
    """The three metrics written out from search results, one query at a time."""
    recalls, rrs, ndcgs = [], [], []
    for qid, query in QUERIES.items():
        ids = [h.id for h in col.search(query, k=k, **kwargs)]
        rel = RELEVANT[qid]
        recalls.append(sum(1 for i in ids if i in rel) / len(rel))
        ranks = [r for r, i in enumerate(ids, start=1) if i in rel]
        rrs.append(1 / ranks[0] if ranks else 0.0)
        dcg = sum(1 / math.log2(r + 1) for r in ranks)
        idcg = sum(1 / math.log2(r + 1) for r in range(1, min(k, len(rel)) + 1))
        ndcgs.append(dcg / idcg)
    return {f"recall@{k}": np.mean(recalls), "mrr": np.mean(rrs), f"ndcg@{k}": np.mean(ndcgs)}


@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_evaluate_equals_metrics_computed_from_search(docs: ov.Collection, k: int) -> None:
    got = docs.evaluate(QUERIES, RELEVANT, k=k)
    assert set(got) == {f"recall@{k}", "mrr", f"ndcg@{k}"}
    want = by_hand(docs, k)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12)
    if k == 10:  # every stored relevant document is within 10 of 10 documents
        assert got["recall@10"] == pytest.approx((4 + 2 / 3) / 5)


def test_search_options_pass_through(docs: ov.Collection) -> None:
    where = 'kind == "cat" or kind == "dog"'
    got = docs.evaluate(QUERIES, RELEVANT, k=3, where=where)
    assert got == pytest.approx(by_hand(docs, 3, where=where))
    assert got["recall@3"] <= 0.4 + 1e-9  # three of five queries cannot find their documents


def test_metrics_on_a_ranking_worked_out_on_paper() -> None:
    ranked = [["x", "a", "y", "b"], ["c", "z"], ["w"]]
    relevant = [["a", "b"], ["c"], ["d", "e"]]
    got = retrieval_metrics(ranked, relevant, k=4)
    ndcg1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert got["recall@4"] == pytest.approx((1 + 1 + 0) / 3)
    assert got["mrr"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert got["ndcg@4"] == pytest.approx((ndcg1 + 1 + 0) / 3)
    # k cuts the ranking: at k=1 only "c" is found.
    assert retrieval_metrics(ranked, relevant, k=1) == pytest.approx(
        {"recall@1": 1 / 3, "mrr": 1 / 3, "ndcg@1": 1 / 3}
    )


@pytest.mark.parametrize(
    ("queries", "relevant", "message"),
    [
        ({}, {}, "no queries"),
        ({"q": "cats"}, {}, "no relevant ids"),
        ({"q": "cats"}, {"q": []}, "is empty"),
        ({"q": "cats"}, {"q": "cat1"}, "list of ids"),
        ({"q": "cats"}, {"q": ["cat1"], "other": ["dog1"]}, "not a query"),
        (["cats"], {"q": ["cat1"]}, "dicts"),
    ],
)
def test_bad_judgements(docs: ov.Collection, queries: Any, relevant: Any, message: str) -> None:
    with pytest.raises(ov.errors.InvalidInputError, match=message):
        docs.evaluate(queries, relevant)


def test_bad_k_and_search_options(docs: ov.Collection) -> None:
    with pytest.raises(ov.errors.InvalidInputError):
        docs.evaluate(QUERIES, RELEVANT, k=0)
    with pytest.raises(ov.errors.InvalidInputError, match="no_such"):
        docs.evaluate(QUERIES, RELEVANT, no_such=1)


def test_cli_eval_one_collection_and_side_by_side(
    plat: ov.Platform, docs: ov.Collection, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from omnivec.cli import app

    other = plat.collection("other", encoder="text", max_seq_length=4)
    other.add(list(DOCS.values()), ids=list(DOCS))
    want = docs.evaluate(QUERIES, RELEVANT, k=3)
    want_other = other.evaluate(QUERIES, RELEVANT, k=3)
    judged = tmp_path / "judged.jsonl"
    judged.write_text(
        "\n".join(
            json.dumps({"id": q, "query": QUERIES[q], "relevant": RELEVANT[q]}) for q in QUERIES
        )
        + "\n"
    )
    plat.close()
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "docs", str(judged), "--k", "3", "--json", "--db", plat.uri])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == pytest.approx(want)
    args = ["eval", "docs", str(judged), "--k", "3", "--against", "other", "--db", plat.uri]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "5 queries, k=3" and lines[1].split() == ["metric", "docs", "other"]
    row = lines[2].split()
    assert row[0] == "recall@3"
    assert float(row[1]) == pytest.approx(want["recall@3"], abs=1e-4)
    assert float(row[2]) == pytest.approx(want_other["recall@3"], abs=1e-4)
    judged.write_text('{"query": "x"}\n')
    res = runner.invoke(app, ["eval", "docs", str(judged), "--db", plat.uri])
    assert res.exit_code == 1 and "relevant must be a non-empty list" in res.output
