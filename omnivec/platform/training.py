"""Training a collection's encoder and recording what it learned: compute first, commit
after (``encoder.train`` -> rows stored all or nothing -> ``encoder.adopt`` -> the new space
in one catalog write), fit markers, graph features by collection name, and ``embed`` of new
nodes with trained weights.

Layered on :class:`omnivec.platform.query.SearchableCollection`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from omnivec.core.encoder import FitResult, Trained
from omnivec.core.ids import decode_id, encode_ids
from omnivec.core.queries import Record
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
    StoreError,
)
from omnivec.platform import hybrid, windows
from omnivec.platform.analysis import gc_paused
from omnivec.platform.query import SearchableCollection

__all__ = ["TrainableCollection"]

logger = logging.getLogger(__name__)


class TrainableCollection(SearchableCollection):
    """A collection whose encoder learns from data (see the module docstring)."""

    def fit(
        self, data: Any, *args: Any, warm_start: bool = False, **kwargs: Any
    ) -> TrainableCollection:
        """Train the collection's encoder on ``data`` and (re)write every vector it learned.

        For node2vec and graphsage, ``data`` is a graph; see the encoder's ``fit``. For text and
        CLIP collections, ``data`` are training pairs and the model is fine-tuned (only while the
        collection is empty; to move stored records, fine-tune a model and ``reembed`` into
        it). With ``warm_start=True``
        the stored vectors seed the training (new entities start at random). Rows of entities
        no longer in ``data`` are deleted, and the new space is recorded in the same step.
        """
        enc = self._encoder
        if enc is None or not hasattr(enc, "fit"):
            raise InvalidInputError(
                f"collection {self.name!r} has no trainable encoder; "
                "fit() works on node2vec collections (recommenders have their own fit)"
            )
        trains = callable(getattr(enc, "train", None)) and callable(getattr(enc, "adopt", None))
        if {"text", "image"} & set(getattr(enc, "modalities", ())) and not trains:
            # A content encoder (text, CLIP) fine-tunes its model rather than learning stored
            # vectors. Its fit listeners refuse a collection that holds vectors of the current
            # weights (before any training) and record the new space once trained.
            if warm_start:
                raise InvalidInputError(
                    f"collection {self.name!r}: warm_start= is for node2vec/graphsage; a "
                    f"{self.encoder_name} model always starts from its current weights"
                )
            with self._fit_lock:
                enc.fit(data, *args, **kwargs)
            return self
        # One fit at a time per collection; searches never wait for it (they take no lock
        # held during training) and answer from the previous vectors until the commit.
        with self._fit_lock:
            feature_source = kwargs.get("features")
            if isinstance(feature_source, str) and hasattr(enc, "feature_ids"):
                ids = enc.feature_ids(data, None, kwargs.get("directed"))
                kwargs["features"] = self._features_from(feature_source, ids)
            self._pending_options = {
                "feature_collection": feature_source if isinstance(feature_source, str) else None
            }
            if warm_start and len(self) > 0:
                # A half-written fit is no starting point.
                self.check_complete("fit it again without warm_start=True (or drop it)")
                rows = self._store.rows(self.physical)
                kwargs["init"] = {decode_id(k): r.vector for k, r in rows.items()}
            if isinstance(data, str) and getattr(enc, "reads_corpus", False):
                data = self._corpus_from(data)
            try:
                if trains:
                    # Compute first: the encoder stays as it was until the rows are stored.
                    trained = enc.train(data, *args, **kwargs)
                    if not isinstance(trained, Trained):
                        raise EncoderError(
                            f"encoder {self.encoder_name!r}.train() did not return a Trained"
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
                            f"encoder {self.encoder_name!r}.fit() did not return a FitResult"
                        )
                    self._replace_all(result, enc.space, lambda: None)
            except NotImplementedError as exc:
                raise InvalidInputError(f"collection {self.name!r}: {exc}") from exc
        return self

    def _replace_all(self, result: FitResult, space: Space, adopt: Callable[[], None]) -> None:
        """Store ``result`` as every row of this collection, then ``adopt`` the training in
        memory and record ``space``. If the store fails, nothing changes anywhere."""
        vecs = check_vectors(result.vectors, space.dim, "learned vectors")
        keys = encode_ids(result.ids)
        meta = check_metadata(result.metadata, len(keys))
        if self.text_options:
            # Learned records of a text encoder (word vectors): each keeps its id as its text.
            plan = windows.plan_texts(
                self._encoder, [str(i) for i in result.ids], keys, meta, self.text_options
            )
            if self.keywords is not None:
                hybrid.keyword_rows(plan)
            keys, meta = plan.keys, plan.metadata
        old = set(self._store.keys(self.physical))
        self.begin_fit()
        marker = self._record.fitting
        try:
            # The previous fit's records this one does not have go in the same write.
            stale = sorted(old - set(keys))
            try:
                # All or nothing: if it raises, the store rolled back what it wrote.
                self._store.upsert(self.physical, keys, vecs, meta, delete=stale)
            except BaseException:
                self.end_fit()  # the previous fit's rows stand, unchanged
                raise
            adopt()
            self.record_space(space)
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
            or self._catalog.collection(data) is None
        ):
            return data
        if data == self.name:
            raise InvalidInputError("fit() names this collection itself; name a text collection")
        source = self._resolve(data)
        texts = [r.text for r in source.records() if r.text]
        if not texts:
            raise InvalidInputError(
                f"collection {data!r} stores no texts to train on; pass texts or a file"
            )
        return texts

    def _features_from(self, name: str, ids: list[Any]) -> dict[Any, np.ndarray]:
        """``{node: vector}`` for ``ids`` from collection ``name``, whose records share the node
        ids (text, image, CF or raw vectors). Every id must be there."""
        if name == self.name:
            raise InvalidInputError(
                "features= names this collection itself; name the collection of node features"
            )
        source = self._resolve(name)
        found = {r.id: r.vector for r in source.get_present(ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise NotFoundError(
                f"feature collection {name!r} has no record for node {missing[0]!r}{more}; "
                "add one for every node of the graph"
            )
        return found

    def get_present(self, ids: Sequence[Any]) -> list[Record]:
        """The stored records among ``ids`` (unknown ids are left out), in the order asked."""
        keys = encode_ids(check_batch(ids, "ids"), unique=False)
        present = self._store.existing(self.physical, keys)
        wanted = [i for i, k in zip(ids, keys, strict=True) if k in present]
        return self.get(wanted) if wanted else []

    def embed(
        self, graph: Any, nodes: Sequence[Any], *, features: Any = None, **kwargs: Any
    ) -> list[Any]:
        """Embed ``nodes`` that are new to the trained model (graphsage), with their edges
        (and features) in ``graph``, using the trained weights; store (upsert) only them and
        return their ids. No training: every other row is untouched, the space is unchanged.

        ``features``: ``{node: vector}``, an array in the graph's node order, or the name of a
        collection sharing the node ids (default: the one the fit used, if it used one).
        All or nothing: on any error nothing is written.
        """
        enc = self._encoder
        if enc is None or not hasattr(enc, "embed"):
            raise InvalidInputError(
                f"collection {self.name!r} cannot embed new nodes; embed() works on "
                "graphsage collections (node2vec needs a new fit)"
            )
        with self._fit_lock:
            self.check_complete()
            if not getattr(enc, "fitted", False):
                raise InvalidInputError(
                    f"collection {self.name!r} has no trained model yet; fit it first"
                )
            if not enc.has_weights:
                blob = self._catalog.get_blob(self._record.blob)
                if blob is None:
                    raise StoreError(
                        f"collection {self.name!r}: its trained weights are missing or damaged "
                        "in the catalog; fit it again"
                    )
                enc.load_state_bytes(blob)
            if features is None:
                features = self._record.options.get("feature_collection")
            if isinstance(features, str):
                ids = enc.feature_ids(graph, nodes, kwargs.get("directed"))
                features = self._features_from(features, ids)
            result = enc.embed(graph, nodes, features=features, **kwargs)
            vecs = check_vectors(result.vectors, self.dim, "embedded vectors")
            keys = encode_ids(result.ids)
            self._store.upsert(
                self.physical, keys, vecs, check_metadata(result.metadata, len(keys))
            )
        return [decode_id(k) for k in keys]
