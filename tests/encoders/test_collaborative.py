"""ALS / BPR encoders on real implicit: conformance, equality with raw implicit, input forms."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import omnivec as ov
from omnivec.encoders.collaborative import ALSEncoder, BPREncoder, interactions_from
from omnivec.recs.evaluation import synthetic_interactions
from tests.encoders.conformance import EncoderConformance

ALS_CFG: dict[str, Any] = {
    "factors": 16,
    "iterations": 8,
    "regularization": 0.05,
    "random_state": 7,
}
BPR_CFG: dict[str, Any] = {
    "factors": 16,
    "iterations": 30,
    "learning_rate": 0.05,
    "random_state": 7,
    "num_threads": 1,  # implicit's BPR is only reproducible single-threaded
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synthetic_interactions(300, 120, per_user=15, seed=11)


@pytest.fixture(scope="module")
def als(data: pd.DataFrame) -> ALSEncoder:
    enc = ALSEncoder(**ALS_CFG)
    enc.fit(data)
    return enc


@pytest.fixture(scope="module")
def bpr(data: pd.DataFrame) -> BPREncoder:
    enc = BPREncoder(**BPR_CFG)
    enc.fit(data)
    return enc


def _own_nearest(enc: Any, modality: str, n: int = 3) -> list[Any]:
    """``n`` ids each of which is its own top inner-product match among them. Under ``ip`` a
    vector is not always its own nearest neighbour (a longer vector in the same direction
    scores higher), so the conformance samples are picked where the store check applies."""
    ids = enc.ids(modality)
    vecs = enc.factors(modality)
    picked: list[int] = []
    for cand in range(len(ids)):
        trial = [*picked, cand]
        scores = vecs[trial] @ vecs[trial].T
        if (scores.argmax(axis=1) == np.arange(len(trial))).all():
            picked = trial
        if len(picked) == n:
            break
    return [ids[i] for i in picked]


class TestALSConformance(EncoderConformance):
    registry_name = "als"

    @pytest.fixture
    def encoder(self, als: ALSEncoder) -> ALSEncoder:
        return als

    @pytest.fixture
    def samples(self, als: ALSEncoder) -> dict[str, list[Any]]:
        return {"user": _own_nearest(als, "user"), "item": _own_nearest(als, "item")}


class TestBPRConformance(EncoderConformance):
    registry_name = "bpr"

    @pytest.fixture
    def encoder(self, bpr: BPREncoder) -> BPREncoder:
        return bpr

    @pytest.fixture
    def samples(self, bpr: BPREncoder) -> dict[str, list[Any]]:
        return {"user": _own_nearest(bpr, "user"), "item": _own_nearest(bpr, "item")}


def _raw(model_cls: Any, cfg: dict[str, Any], matrix: sp.csr_matrix) -> Any:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = model_cls(**cfg)
        model.fit(matrix, show_progress=False)
    return model


def test_als_equals_raw_implicit(als: ALSEncoder, data: pd.DataFrame) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    inter = interactions_from(data)
    raw = _raw(AlternatingLeastSquares, ALS_CFG, inter.matrix)
    np.testing.assert_allclose(
        als.encode(inter.user_ids, "user"), raw.user_factors, rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        als.encode(inter.item_ids, "item"), raw.item_factors, rtol=1e-4, atol=1e-5
    )
    assert als.dim == ALS_CFG["factors"] and als.metric == "ip"


def test_bpr_bias_column_makes_inner_product_implicits_score(
    bpr: BPREncoder, data: pd.DataFrame
) -> None:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    inter = interactions_from(data)
    raw = _raw(BayesianPersonalizedRanking, BPR_CFG, inter.matrix)
    assert bpr.dim == BPR_CFG["factors"] + 1 == raw.item_factors.shape[1]
    users = bpr.encode(inter.user_ids, "user")
    items = bpr.encode(inter.item_ids, "item")
    np.testing.assert_allclose(users[:, -1], 1.0)  # the user side of the bias column
    assert np.abs(items[:, -1]).max() > 0  # items carry a learned bias
    for row in (0, 5, 17):
        ids, scores = raw.recommend(row, inter.matrix[row], N=10)
        ours = users[row] @ items.T
        np.testing.assert_allclose(ours[ids], scores, rtol=1e-4, atol=1e-5)


def test_every_fit_is_a_new_space(data: pd.DataFrame) -> None:
    enc = ALSEncoder(**ALS_CFG)
    unfitted = enc.space
    assert unfitted.fingerprint.startswith("unfitted:") and unfitted.dim == 16
    enc.fit(data)
    first = enc.space
    enc.fit(data)
    assert first != enc.space != unfitted
    assert first.dim == enc.space.dim == 16 and enc.space.metric == "ip"


def test_constructor_stores_config_only() -> None:
    code = (
        "import sys; from omnivec.encoders.collaborative import ALSEncoder, BPREncoder; "
        "ALSEncoder(factors=8); BPREncoder(factors=8); "
        "print('implicit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    with pytest.raises(ov.errors.EncoderError, match="not fitted"):
        ALSEncoder(factors=8).encode(["u1"], "user")


@pytest.mark.parametrize(
    ("cls", "config"),
    [
        (ALSEncoder, {"factors": 0}),
        (ALSEncoder, {"factors": True}),
        (ALSEncoder, {"alpha": -1.0}),
        (ALSEncoder, {"regularization": float("nan")}),
        (ALSEncoder, {"learning_rate": 0.1}),  # a BPR option
        (BPREncoder, {"alpha": 2.0}),  # an ALS option
        (BPREncoder, {"iterations": 0}),
        (BPREncoder, {"random_state": -3}),
    ],
)
def test_bad_config_is_refused(cls: Any, config: dict[str, Any]) -> None:
    with pytest.raises(ov.errors.InvalidInputError):
        cls(**config)


def test_input_forms_agree() -> None:
    tuples = [("ann", "x", 2.0), (7, "y", 1.0), ("ann", "y", 1.0), ("ann", "x", 1.0), (7, 3)]
    frame = pd.DataFrame(tuples[:4], columns=["who", "what", "w"])
    a = interactions_from(tuples)
    b = interactions_from(frame, user_col="who", item_col="what", weight_col="w")
    assert a.user_ids == ["ann", 7] and a.item_ids == ["x", "y", 3]  # types kept, first-seen order
    assert a.matrix[0, 0] == 3.0  # duplicates add up
    assert b.user_ids == ["ann", 7] and b.matrix[0, 0] == 3.0
    dense = np.array([[3.0, 1.0], [0.0, 1.0]])
    c = interactions_from(sp.csr_matrix(dense), users=["ann", 7], items=["x", "y"])
    np.testing.assert_array_equal(c.matrix.toarray(), dense)
    np.testing.assert_array_equal(b.matrix.toarray(), dense)


@pytest.mark.parametrize(
    ("data", "kwargs"),
    [
        ([], {}),
        ([("u", "i", float("nan"))], {}),
        ([("u",)], {}),
        ([(1.5, "i")], {}),
        ([(None, "i")], {}),
        (pd.DataFrame({"u": [1], "i": [2]}), {}),  # no user/item columns
        (sp.csr_matrix(np.ones((2, 2))), {}),  # no users=/items=
        (sp.csr_matrix(np.ones((2, 2))), {"users": ["a", "a"], "items": ["x", "y"]}),
        (sp.csr_matrix(np.ones((2, 2))), {"users": ["a"], "items": ["x", "y"]}),
        ("user,item", {}),
    ],
)
def test_bad_interactions_are_refused(data: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ov.errors.InvalidInputError):
        interactions_from(data, **kwargs)


def test_fold_in_reproduces_trained_users(
    als: ALSEncoder, bpr: BPREncoder, data: pd.DataFrame
) -> None:
    """Folding in a trained user's own history lands near the trained vector: ALS exactly
    repeats one training half-step, BPR re-optimises the ranking loss for that user."""
    inter = interactions_from(data)
    rows = inter.matrix[:40]
    for enc, min_overlap in ((als, 0.8), (bpr, 0.5)):
        items = enc.encode(inter.item_ids, "item")
        trained = enc.encode(inter.user_ids[:40], "user") @ items.T
        folded = enc.fold_in(rows) @ items.T
        overlaps = []
        for r in range(40):
            seen = rows[r].indices
            trained[r, seen] = folded[r, seen] = -np.inf
            top_a = set(np.argsort(-trained[r])[:10])
            top_b = set(np.argsort(-folded[r])[:10])
            overlaps.append(len(top_a & top_b) / 10)
        assert np.mean(overlaps) >= min_overlap, (enc.name, np.mean(overlaps))


def test_unknown_ids_and_modalities(als: ALSEncoder) -> None:
    with pytest.raises(ov.errors.NotFoundError, match="nobody"):
        als.encode(["nobody"], "user")
    with pytest.raises(ov.errors.InvalidInputError):
        als.encode(["u1"], "text")


def test_update_users_is_copy_on_write(data: pd.DataFrame) -> None:
    """The user factors handed out (and shared with a recommender's snapshot) never change
    in place; the update is visible in the encoder's new array."""
    enc = ALSEncoder(**ALS_CFG)
    enc.fit(data)
    before = enc.factors("user")
    kept = before.copy()
    new = np.full((2, enc.dim), 0.5, dtype=np.float32)
    enc.update_users(["s:u1", "s:newcomer"], new)
    np.testing.assert_array_equal(before, kept)
    after = enc.factors("user")
    assert after.shape == (before.shape[0] + 1, enc.dim)
    np.testing.assert_array_equal(enc.encode(["u1", "newcomer"], "user"), new)
    assert enc.ids("user")[-1] == "newcomer"
