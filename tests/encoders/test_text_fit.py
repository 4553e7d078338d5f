"""Text fine-tuning: the real bundled MiniLM trained for a step or two (CPU time is scarce here).

The quality check (reviews by sentiment rather than topic) is in tests/platform/test_reembed.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.encoders.text import DEFAULT_MODEL, TextEncoder
from omnivec.encoders.text_training import is_checkpoint

PAIRS = [
    ("The pasta was delicious", "Loved every bite of the meal"),
    ("The hotel room was filthy", "Awful, dirty place to stay"),
    ("This phone's battery lasts days", "Great device, charge lasts long"),
    ("The film dragged on forever", "A boring, slow movie"),
]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[TextEncoder, str, Path, list[float]]:
    """One encoder fitted for one step (batch of 4 pairs), with the base fingerprint."""
    enc = TextEncoder()
    base = enc.space.fingerprint
    out = tmp_path_factory.mktemp("fit") / "ckpt"
    history = enc.fit(PAIRS, epochs=1, batch_size=4, lr=1e-4, output=out, progress=False)
    return enc, base, out, history


def test_fit_saves_a_loadable_checkpoint_and_a_new_space(
    fitted: tuple[TextEncoder, str, Path, list[float]],
) -> None:
    enc, base, out, history = fitted
    assert len(history) == 1 and np.isfinite(history[0]) and history[0] > 0
    assert is_checkpoint(out)
    assert enc.cfg.model == str(out)
    assert enc.space.fingerprint != base
    again = TextEncoder(model=str(out))
    assert again.space == enc.space  # the folder's weights are the space the encoder reports
    texts = ["a quiet beach hotel", "the screen cracked"]
    np.testing.assert_allclose(again.encode(texts), enc.encode(texts), rtol=1e-5, atol=1e-6)
    # The trained weights differ from the base model's.
    assert not np.allclose(TextEncoder().encode(texts), enc.encode(texts), atol=1e-4)


def test_fit_is_seeded(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        enc = TextEncoder()
        enc.fit(PAIRS[:2], batch_size=2, lr=1e-4, output=tmp_path / name, seed=3, progress=False)
        runs.append(enc.space.fingerprint)
    assert runs[0] == runs[1]


def test_score_pairs_train_with_the_cosine_loss(tmp_path: Path) -> None:
    enc = TextEncoder()
    pairs = [(a, b, 0.9) for a, b in PAIRS[:2]] + [(PAIRS[0][0], PAIRS[1][0], 0.1)]
    history = enc.fit(pairs, batch_size=4, lr=1e-4, output=tmp_path / "cos", progress=False)
    assert len(history) == 1 and 0 <= history[0] < 1  # an MSE between cosines and scores
    assert is_checkpoint(tmp_path / "cos")


def test_fit_through_a_collection_records_the_new_space(
    plat: ov.Platform, tmp_path: Path, fitted: tuple[TextEncoder, str, Path, list[float]]
) -> None:
    busy = plat.collection("busy", encoder="text")  # same configuration, holds vectors
    busy.add(["something stored"], ids=["x"])
    scratch = plat.collection("scratch", encoder="text")
    assert scratch.encoder is not busy.encoder  # training one must not touch the other
    out = tmp_path / "tuned"
    scratch.encoder.fit(PAIRS[:2], batch_size=2, lr=1e-4, output=out, progress=False)
    assert scratch.space == scratch.encoder.space != busy.space
    assert scratch.record.config["model"] == str(out)
    assert busy.encoder.space == busy.space  # untouched
    scratch.add(["The pasta was delicious"], ids=["p"])
    assert scratch.search("tasty meal", k=1)[0].id == "p"
    # The checkpoint is an ordinary model folder: a new collection opens it as model=DIR.
    other = plat.collection("other", encoder="text", model=str(out))
    assert other.space == scratch.space
    plat.close()
    with ov.connect(plat.uri) as again:
        assert again.collection("scratch").space == scratch.space


def test_fit_on_a_collection_with_vectors_is_refused(plat: ov.Platform, tmp_path: Path) -> None:
    col = plat.collection("docs", encoder="text")
    col.add(["already stored"], ids=["a"])
    before = col.space
    out = tmp_path / "never"
    with pytest.raises(ov.errors.SpaceMismatchError, match="new, empty collection") as info:
        col.encoder.fit(PAIRS, output=out, progress=False)
    assert "reembed" in str(info.value)
    with pytest.raises(ov.errors.SpaceMismatchError, match="new, empty collection"):
        col.fit(PAIRS, output=out, progress=False)  # the collection's own fit: the same rule
    assert not out.exists()
    assert col.space == before == col.encoder.space
    assert col.encoder.cfg.model == DEFAULT_MODEL
    assert [r.text for r in col.get(["a"])] == ["already stored"]


def test_collection_fit_fine_tunes_an_empty_text_collection(
    plat: ov.Platform, tmp_path: Path
) -> None:
    col = plat.collection("tune_me", encoder="text")
    base = col.space
    out = tmp_path / "col_fit"
    assert col.fit(PAIRS[:2], batch_size=2, lr=1e-4, output=out, progress=False) is col
    assert is_checkpoint(out)
    assert col.space == col.encoder.space != base
    assert col.record.config["model"] == str(out)
    with pytest.raises(ov.errors.InvalidInputError, match="warm_start"):
        col.fit(PAIRS[:2], warm_start=True, output=tmp_path / "again", progress=False)
    col.add(["The pasta was delicious"], ids=["p"])
    assert col.search("tasty meal", k=1)[0].id == "p"


BAD_PAIRS: list[tuple[Any, str]] = [
    ([], "no pairs"),
    ("not pairs", "list of"),
    ([("only", "one")], "at least 2"),
    ([("a",), ("b",)], "pair 0"),
    ([("a", "b"), ("c", "d", "e")], "pair 1 has 3 members"),
    ([("a", 1), ("b", "c")], "pair 0 member 1 is a int"),
    ([("a", "b", 1.5), ("c", "d", 0.5)], "outside \\[0, 1\\]"),
    ([("a", "b", 0.5), ("c", "d", -0.1)], "outside \\[0, 1\\]"),
    ([("a", "b", 0.5), ("c", "d", "e")], "score 'e'"),
    ([("a", "b", float("nan")), ("c", "d", "e")], "member 2"),
]


@pytest.mark.parametrize(("pairs", "message"), BAD_PAIRS)
def test_bad_pairs_are_one_line_errors(
    fitted: tuple[TextEncoder, str, Path, list[float]], pairs: Any, message: str, tmp_path: Path
) -> None:
    enc = fitted[0]
    before, model = enc.space, enc.model
    with pytest.raises(ov.errors.InvalidInputError, match=message) as err:
        enc.fit(pairs, output=tmp_path / "x", progress=False)
    assert "\n" not in str(err.value)
    assert enc.space == before and enc.model is model
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"lr": 0}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_hyperparameters(
    fitted: tuple[TextEncoder, str, Path, list[float]], kwargs: dict[str, Any], message: str
) -> None:
    enc = fitted[0]
    before = enc.space
    with pytest.raises(ov.errors.InvalidInputError, match=message):
        enc.fit(PAIRS, progress=False, **kwargs)
    assert enc.space == before


def test_output_that_is_not_a_checkpoint_is_refused(
    fitted: tuple[TextEncoder, str, Path, list[float]], tmp_path: Path
) -> None:
    enc = fitted[0]
    before = enc.space
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    (tmp_path / "file").write_text("a file")
    for target, message in (
        (tmp_path / "notes", "not a sentence-transformers"),
        (tmp_path / "file", "is a file"),
    ):
        with pytest.raises(ov.errors.InvalidInputError, match=message):
            enc.fit(PAIRS, output=target, progress=False)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    assert enc.space == before
