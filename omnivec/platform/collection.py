"""A named collection of vectors in one vector space: the public :class:`Collection`.

Its layers live one concern per module: :mod:`~omnivec.platform.collection_base` (identity,
writing, reading, encoding), :mod:`~omnivec.platform.query` (search), :mod:`~omnivec.platform.training`
(fit, embed); analysis (cluster, classify, project) delegates to :mod:`~omnivec.platform.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.core.ids import decode_id
from omnivec.core.queries import Record
from omnivec.core.validation import (
    check_where,
)
from omnivec.platform.training import TrainableCollection

if TYPE_CHECKING:
    from omnivec.platform.analysis import Classifier

#: Looks up another collection by name (for cross-collection refs); NotFoundError if absent.
Resolver = Callable[[str], "Collection"]

__all__ = ["Collection"]


class Collection(TrainableCollection):
    """Vectors of one space, stored under the user's ids, searchable by text, image, vector or ref.

    Get one with :meth:`omnivec.Platform.collection`; do not construct it directly.
    """

    def records(
        self, where: str | None = None, limit: int | None = None, seed: int = 0
    ) -> list[Record]:
        """Every stored record (matching ``where``) in id order; above ``limit`` records, a
        random sample of ``limit`` of them drawn with ``seed`` (the same seed, the same sample)."""
        where = self._records_where(check_where(where))
        keys = sorted(self._store.keys(self.name, where=where))
        if limit is not None and len(keys) > limit:
            rng = np.random.default_rng(seed)
            keys = [keys[i] for i in sorted(rng.choice(len(keys), size=limit, replace=False))]
        if not keys:
            return []
        return self.get([decode_id(k) for k in keys])

    def vectors(
        self, where: str | None = None, limit: int | None = None, seed: int = 0
    ) -> tuple[list[Any], np.ndarray]:
        """(ids, float32 ``(n, dim)`` array) of :meth:`records` with the same arguments."""
        recs = self.records(where=where, limit=limit, seed=seed)
        arr = np.stack([r.vector for r in recs]) if recs else np.empty((0, self.dim), np.float32)
        return [r.id for r in recs], arr.astype(np.float32, copy=False)

    # -- analysis (omnivec.platform.analysis) ------------------------------------------------
    def cluster(
        self,
        n_clusters: int | None = None,
        method: str | None = None,
        *,
        where: str | None = None,
        seed: int = 0,
        write_key: str | None = None,
    ) -> dict[Any, int]:
        """``{id: cluster}`` for every record (matching ``where``): k-means with ``n_clusters``,
        else HDBSCAN, which picks the number itself and labels noise -1. Cosine vectors are
        L2-normalised first. ``write_key`` also stores each label in the records' metadata
        under that key, all or nothing."""
        from omnivec.platform import analysis

        return analysis.cluster(self, n_clusters, method, where, seed, write_key)

    def classifier(
        self, label_key: str, method: str = "logistic", *, where: str | None = None
    ) -> Classifier:
        """A :class:`~omnivec.platform.analysis.Classifier` fitted on the records whose metadata
        has ``label_key`` (``method`` "logistic" or "knn"); ``.predict`` takes what search takes."""
        from omnivec.platform import analysis

        return analysis.classifier(self, label_key, method, where)

    def project(
        self,
        method: str = "pca",
        *,
        where: str | None = None,
        limit: int | None = None,
        seed: int = 0,
    ) -> dict[Any, tuple[float, float]]:
        """``{id: (x, y)}`` by "pca", "umap" or "tsne"; above ``limit`` records (default 20,000)
        a seeded sample (``analysis.projection`` also says the sample size)."""
        from omnivec.platform import analysis

        return analysis.project(self, method, where, limit, seed)
