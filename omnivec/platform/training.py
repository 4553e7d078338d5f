"""Training a collection's encoder and recording what it learned: compute first, commit
after (``encoder.train`` -> rows stored all or nothing -> ``encoder.adopt`` -> the new space
in one catalog write), fit markers, graph features by collection name, ``embed`` of new
nodes with trained weights, and fine-tuning a content model (text, CLIP).

A fine-tuned model belongs to the collection that trained it: ``encoder.train(pairs)``
returns a :class:`~omnivec.core.encoder.Trained` (new weights, new space, nothing changed
yet), and only the owning collection adopts it, after checking that it holds no vector of
the old weights. ``col.encoder`` is an :class:`OwnedEncoder`, so ``col.encoder.fit(pairs)``
takes that same path; the encoder itself never calls back into a collection.

A helper of :class:`omnivec.platform.collection.Collection`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from omnivec.core.encoder import FitResult, Trained
from omnivec.core.ids import decode_id, encode_ids
from omnivec.core.space import Space
from omnivec.core.validation import (
    check_batch,
    check_metadata,
    check_vectors,
)
from omnivec.errors import (
    EncoderError,
    InvalidInputError,
    NotFoundError,
    SpaceMismatchError,
    StoreError,
)
from omnivec.platform import hybrid, windows
from omnivec.platform.analysis import gc_paused
from omnivec.platform.collection_state import CollectionState

__all__ = ["OwnedEncoder", "Trainer"]

logger = logging.getLogger(__name__)


class OwnedEncoder:
    """A collection's encoder as ``col.encoder`` hands it out: every attribute is the
    encoder's own, except ``fit``, which fine-tunes through the owning collection (refused
    while it holds vectors of the current weights; the new space recorded once trained)."""

    __slots__ = ("encoder", "trainer")

    def __init__(self, encoder: Any, trainer: Trainer) -> None:
        object.__setattr__(self, "encoder", encoder)
        object.__setattr__(self, "trainer", trainer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.encoder, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self.encoder, name)

    def __repr__(self) -> str:
        return repr(self.encoder)

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        return self.trainer.fine_tune(self.encoder, args, kwargs)


class Trainer:
    """Training of one collection's encoder (see the module docstring)."""

    def __init__(self, state: CollectionState) -> None:
        self.state = state
        self._handle: OwnedEncoder | None = None

    def handle(self) -> Any:
        """``col.encoder``: the encoder, behind an :class:`OwnedEncoder` where its ``fit``
        fine-tunes a model (text, CLIP)."""
        enc = self.state.encoder
        if enc is None or not getattr(enc, "fine_tunes", False):
            return enc
        handle = self._handle
        if handle is None or handle.encoder is not enc:
            handle = self._handle = OwnedEncoder(enc, self)
        return handle

    def fine_tune(self, enc: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Fine-tune ``enc`` (this collection's encoder) on ``args``, ``kwargs``; return what
        its training reports (the loss of each epoch). Compute first: the encoder and the
        catalog change only once the trained weights are saved."""
        state = self.state
        if enc is not state.encoder:
            raise InvalidInputError(
                f"this encoder is no longer collection {state.name!r}'s (it was re-embedded); "
                "fit the one col.encoder gives now"
            )
        with state.fit_lock:
            self._refuse_stale()
            trained = enc.train(*args, **kwargs)
            if not isinstance(trained, Trained):
                raise EncoderError(
                    f"encoder {state.record.encoder!r}.train() did not return a Trained"
                )
            enc.adopt(trained)
            state.record_space(trained.space)
        return trained.learned.get("history")

    def _refuse_stale(self) -> None:
        """Refuse to change the weights under vectors this collection holds."""
        state = self.state
        n = state.count() if state.store.has_collection(state.physical) else 0
        if n > 0:
            raise SpaceMismatchError(
                f"collection {state.name!r} holds {n} vectors of the current weights; "
                "training would make them stale. Train into a new, empty collection, then "
                "move this one onto the new weights with col.reembed(...)"
            )

    def fit(
        self, data: Any, args: tuple[Any, ...], warm_start: bool, kwargs: dict[str, Any]
    ) -> None:
        """See :meth:`omnivec.platform.collection.Collection.fit`."""
        state = self.state
        enc = state.encoder
        if enc is None or not hasattr(enc, "fit"):
            raise InvalidInputError(
                f"collection {state.name!r} has no trainable encoder; "
                "fit() works on node2vec collections (recommenders have their own fit)"
            )
        if getattr(enc, "trainable", True) is False:
            enc.fit(data, *args, **kwargs)  # its own one-line refusal; nothing changes
        trains = callable(getattr(enc, "train", None)) and callable(getattr(enc, "adopt", None))
        tunes = getattr(enc, "fine_tunes", False)
        if tunes or ({"text", "image"} & set(getattr(enc, "modalities", ())) and not trains):
            # A content encoder (text, CLIP) fine-tunes its model rather than learning stored
            # vectors: refused while the collection holds vectors of the current weights
            # (before any training), the new space recorded once trained.
            if warm_start:
                raise InvalidInputError(
                    f"collection {state.name!r}: warm_start= is for node2vec/graphsage; a "
                    f"{state.record.encoder} model always starts from its current weights"
                )
            if tunes:
                self.fine_tune(enc, (data, *args), kwargs)
                return
            with state.fit_lock:  # a plugin with only fit(): it changes itself
                self._refuse_stale()
                enc.fit(data, *args, **kwargs)
                state.record_space(enc.space)
            return
        # One fit at a time per collection; searches never wait for it (they take no lock
        # held during training) and answer from the previous vectors until the commit.
        with state.fit_lock:
            feature_source = kwargs.get("features")
            if isinstance(feature_source, str) and hasattr(enc, "feature_ids"):
                ids = enc.feature_ids(data, None, kwargs.get("directed"))
                kwargs["features"] = self._features_from(feature_source, ids)
            state.pending_options = {
                "feature_collection": feature_source if isinstance(feature_source, str) else None
            }
            if warm_start and state.count() > 0:
                # A half-written fit is no starting point.
                state.check_complete("fit it again without warm_start=True (or drop it)")
                rows = state.store.rows(state.physical)
                kwargs["init"] = {decode_id(k): r.vector for k, r in rows.items()}
            if isinstance(data, str) and getattr(enc, "reads_corpus", False):
                data = self._corpus_from(data)
            try:
                if trains:
                    # Compute first: the encoder stays as it was until the rows are stored.
                    trained = enc.train(data, *args, **kwargs)
                    if not isinstance(trained, Trained):
                        raise EncoderError(
                            f"encoder {state.record.encoder!r}.train() did not return a Trained"
                        )
                    # The rows' dicts and lists are acyclic: a full collection of the
                    # process's objects amid them costs as much as writing them.
                    with gc_paused():
                        self._replace_all(trained.result, trained.space, lambda: enc.adopt(trained))
                else:
                    # A plugin with only fit(): it has changed itself before anything is stored.
                    result = enc.fit(data, *args, **kwargs)
                    if not isinstance(result, FitResult):
                        raise EncoderError(
                            f"encoder {state.record.encoder!r}.fit() did not return a FitResult"
                        )
                    self._replace_all(result, enc.space, lambda: None)
            except NotImplementedError as exc:
                raise InvalidInputError(f"collection {state.name!r}: {exc}") from exc

    def _replace_all(self, result: FitResult, space: Space, adopt: Callable[[], None]) -> None:
        """Store ``result`` as every row of this collection, then ``adopt`` the training in
        memory and record ``space``. If the store fails, nothing changes anywhere."""
        state = self.state
        vecs = check_vectors(result.vectors, space.dim, "learned vectors")
        keys = encode_ids(result.ids)
        meta = check_metadata(result.metadata, len(keys))
        if state.text_options:
            # Learned records of a text encoder (word vectors): each keeps its id as its text.
            plan = windows.plan_texts(
                state.encoder, [str(i) for i in result.ids], keys, meta, state.text_options
            )
            if state.keywords is not None:
                hybrid.keyword_rows(plan)
            keys, meta = plan.keys, plan.metadata
        physical = state.physical
        old = set(state.store.keys(physical))
        state.begin_fit()
        marker = state.record.fitting
        try:
            # The previous fit's records this one does not have go in the same write.
            stale = sorted(old - set(keys))
            try:
                # All or nothing: if it raises, the store rolled back what it wrote.
                state.store.upsert(physical, keys, vecs, meta, delete=stale)
            except BaseException:
                state.end_fit()  # the previous fit's rows stand, unchanged
                raise
            adopt()
            state.record_space(space)
        finally:
            # Done or dead: a marker still recorded now means a fit that stopped mid-write.
            if marker is not None:
                marker.finish()

    def _corpus_from(self, data: str) -> Any:
        """A corpus given by name: a file path stays as it is; otherwise the stored texts of
        the collection of that name (word vectors trained on a text collection)."""
        import os
        import re

        if (
            os.path.exists(data)
            or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", data)
            or self.state.catalog.collection(data) is None
        ):
            return data
        if data == self.state.name:
            raise InvalidInputError("fit() names this collection itself; name a text collection")
        source = self.state.resolve(data)
        texts = [r.text for r in source.records() if r.text]
        if not texts:
            raise InvalidInputError(
                f"collection {data!r} stores no texts to train on; pass texts or a file"
            )
        return texts

    def _features_from(self, name: str, ids: list[Any]) -> dict[Any, np.ndarray]:
        """``{node: vector}`` for ``ids`` from collection ``name``, whose records share the node
        ids (text, image, CF or raw vectors). Every id must be there."""
        state = self.state
        if name == state.name:
            raise InvalidInputError(
                "features= names this collection itself; name the collection of node features"
            )
        source = state.resolve(name)
        # Read through the source's public face: the ids it holds, then their records.
        keys = encode_ids(check_batch(ids, "ids"), unique=False)
        present = state.store.existing(source.physical, keys)
        wanted = [i for i, k in zip(ids, keys, strict=True) if k in present]
        found = {r.id: r.vector for r in (source.get(wanted) if wanted else [])}
        missing = [i for i in ids if i not in found]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise NotFoundError(
                f"feature collection {name!r} has no record for node {missing[0]!r}{more}; "
                "add one for every node of the graph"
            )
        return found

    def embed(
        self, graph: Any, nodes: Sequence[Any], features: Any, kwargs: dict[str, Any]
    ) -> list[Any]:
        """See :meth:`omnivec.platform.collection.Collection.embed`."""
        state = self.state
        enc = state.encoder
        if enc is None or not hasattr(enc, "embed"):
            raise InvalidInputError(
                f"collection {state.name!r} cannot embed new nodes; embed() works on "
                "graphsage collections (node2vec needs a new fit)"
            )
        with state.fit_lock:
            state.check_complete()
            if not getattr(enc, "fitted", False):
                raise InvalidInputError(
                    f"collection {state.name!r} has no trained model yet; fit it first"
                )
            if not enc.has_weights:
                blob = state.catalog.get_blob(state.record.blob)
                if blob is None:
                    raise StoreError(
                        f"collection {state.name!r}: its trained weights are missing or "
                        "damaged in the catalog; fit it again"
                    )
                enc.load_state_bytes(blob)
            if features is None:
                features = state.record.options.get("feature_collection")
            if isinstance(features, str):
                ids = enc.feature_ids(graph, nodes, kwargs.get("directed"))
                features = self._features_from(features, ids)
            result = enc.embed(graph, nodes, features=features, **kwargs)
            vecs = check_vectors(result.vectors, state.dim, "embedded vectors")
            keys = encode_ids(result.ids)
            state.store.upsert(
                state.physical, keys, vecs, check_metadata(result.metadata, len(keys))
            )
        return [decode_id(k) for k in keys]
