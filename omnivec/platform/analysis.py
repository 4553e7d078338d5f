"""See and organise what a collection stores: cluster, classify and project its vectors.

Everything here reads a collection through its public methods (``vectors`` where the
vectors suffice, ``records`` where metadata is needed, ``add``; a classifier's queries through
the query encoder the collection gives it) and runs
scikit-learn (and umap-learn for ``"umap"``) on the vectors, which are prepared for the collection's metric first: cosine vectors are
L2-normalised, so Euclidean k-means, logistic regression and the projections see the angles
that cosine search sees; ``ip`` and ``l2`` vectors are used as stored.

The heavy libraries are imported inside the functions, so importing omnivec stays light.
"""

from __future__ import annotations

import functools
import gc
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.core.ids import encode_ids
from omnivec.core.space import unit_rows
from omnivec.errors import InvalidInputError

if TYPE_CHECKING:
    from omnivec.core.queries import Record
    from omnivec.platform.collection import Collection

__all__ = [
    "CLASSIFIER_METHODS",
    "CLUSTER_METHODS",
    "PCA_FIT_ROWS",
    "PROJECT_LIMIT",
    "PROJECT_METHODS",
    "Classifier",
    "MapPoint",
    "Projection",
    "classifier",
    "cluster",
    "cluster_vectors",
    "map_points",
    "pca_2d",
    "prepare",
    "project",
    "project_vectors",
    "projection",
]

logger = logging.getLogger(__name__)

CLUSTER_METHODS = ("kmeans", "hdbscan")
CLASSIFIER_METHODS = ("logistic", "knn")
PROJECT_METHODS = ("pca", "umap", "tsne")
#: Records projected at most; larger collections are projected on a seeded sample this big.
PROJECT_LIMIT = 20_000
#: PCA fits its axes on at most this many rows (a seeded sample) and projects every row: at
#: 100k x 384 the fit on all rows is ~110 ms of one Gram product, half that on the sample, and
#: the sample's axes keep 99.9% of the exact axes' variance (benchmarks/bench_analysis.py);
#: where the top variances are nearly equal the map may turn between them (points moved up
#: to 12% of its spread on 20 blobs), as it would between two samples of the same data.
PCA_FIT_ROWS = 50_000
#: k-means restarts: ten keep the result stable from seed to seed (one restart, scikit-learn's
#: "auto", gave ARI 0.57-0.68 on the digits where ten gave 0.66-0.67); above this many
#: records three restarts keep it fast.
KMEANS_INITS = 10
KMEANS_FEW_INITS_ABOVE = 20_000
#: HDBSCAN on hundreds of dimensions is slow and finds little (distances concentrate), so
#: it runs on the first principal components, as is usual for embeddings.
HDBSCAN_DIMS = 32


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a block that only makes acyclic objects."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# -- reading -------------------------------------------------------------------------------------
def prepare(vectors: np.ndarray, metric: str) -> np.ndarray:
    """Vectors as the metric sees them: float32 ``(n, dim)``, unit rows for ``"cosine"``."""
    if metric == "cosine":
        return unit_rows(vectors)
    return np.asarray(vectors, dtype=np.float32)


def _check_method(method: Any, allowed: Sequence[str], what: str) -> str:
    if not isinstance(method, str) or method.lower() not in allowed:
        raise InvalidInputError(
            f"unknown {what} method {method!r}; use one of {', '.join(map(repr, allowed))}"
        )
    return method.lower()


def _read(
    col: Collection, where: str | None, limit: int | None = None, seed: int = 0
) -> list[Record]:
    records = col.records(where=where, limit=limit, seed=seed)
    if not records:
        if where:
            raise InvalidInputError(
                f"where {where!r} matches no record of collection {col.name!r}; loosen the filter"
            )
        raise InvalidInputError(f"collection {col.name!r} is empty; add records first")
    return records


def _read_vectors(
    col: Collection,
    where: str | None,
    limit: int | None = None,
    seed: int = 0,
    ordered: bool = True,
) -> tuple[list[Any], np.ndarray]:
    """(ids, prepared float32 ``(n, dim)``) like :func:`_read`, without the records' metadata
    (one array, no per-record objects; from the in-process copy where there is one).
    ``ordered=False`` for methods whose result does not depend on the row order."""
    ids, vectors = col.vectors(
        where=where, limit=limit, seed=seed, unit=True, ordered=ordered, copy=False
    )
    if not ids:
        _read(col, where, limit, seed)  # says why there is nothing (the same messages)
    return ids, np.asarray(vectors, dtype=np.float32)  # unit rows for cosine already


def _matrix(records: Sequence[Record], metric: str) -> np.ndarray:
    return prepare(np.stack([r.vector for r in records]), metric)


# -- clustering ---------------------------------------------------------------------------------
def cluster_vectors(
    vectors: np.ndarray,
    n_clusters: int | None = None,
    method: str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Cluster labels (int64 ``(n,)``) of prepared vectors ``(n, dim)``.

    ``n_clusters`` given: k-means. ``None``: HDBSCAN, whose noise points are labelled -1.
    """
    n = vectors.shape[0]
    method = _check_method(
        method or ("kmeans" if n_clusters is not None else "hdbscan"), CLUSTER_METHODS, "cluster"
    )
    if method == "kmeans":
        if n_clusters is None:
            raise InvalidInputError("k-means needs n_clusters (an int of at least 2)")
        from sklearn.cluster import KMeans

        n_init = KMEANS_INITS if n <= KMEANS_FEW_INITS_ABOVE else 3
        km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
        return km.fit_predict(vectors).astype(np.int64)  # type: ignore[no-any-return]
    if n_clusters is not None:
        raise InvalidInputError(
            "HDBSCAN chooses the number of clusters itself; drop n_clusters or use method='kmeans'"
        )
    if n < 3:
        raise InvalidInputError(f"HDBSCAN needs at least 3 records, got {n}")
    from sklearn.cluster import HDBSCAN

    reduced = vectors
    if vectors.shape[1] > HDBSCAN_DIMS and n > HDBSCAN_DIMS:
        from sklearn.decomposition import PCA

        reduced = PCA(n_components=HDBSCAN_DIMS, random_state=seed).fit_transform(vectors)
    # Small collections still get clusters: the minimum size grows slowly with n.
    min_size = int(max(2, min(50, round(np.sqrt(n) / 2))))
    model = HDBSCAN(min_cluster_size=min_size, min_samples=min(min_size, 5), copy=True)
    return model.fit_predict(reduced).astype(np.int64)  # type: ignore[no-any-return]


def cluster(
    col: Collection,
    n_clusters: int | None = None,
    method: str | None = None,
    where: str | None = None,
    seed: int = 0,
    write_key: str | None = None,
) -> dict[Any, int]:
    """``{id: cluster}`` for every record (matching ``where``); see :meth:`Collection.cluster`."""
    if method is not None:
        _check_method(method, CLUSTER_METHODS, "cluster")
    if n_clusters is not None and (
        isinstance(n_clusters, bool) or not isinstance(n_clusters, int | np.integer)
    ):
        raise InvalidInputError(f"n_clusters must be an int or None, got {n_clusters!r}")
    if n_clusters is not None and n_clusters < 2:
        raise InvalidInputError(f"n_clusters must be at least 2, got {n_clusters}")
    if write_key is not None and (not isinstance(write_key, str) or not write_key.isidentifier()):
        raise InvalidInputError(
            f"write_key must be a metadata key like 'topic_cluster', got {write_key!r}"
        )
    if write_key is None:  # labels only: the vectors suffice
        ids, x = _read_vectors(col, where)
    else:
        records = _read(col, where)
        ids, x = [r.id for r in records], _matrix(records, col.metric)
    if n_clusters is not None and n_clusters > len(ids):
        raise InvalidInputError(
            f"n_clusters={n_clusters} is more than the {len(ids)} records to cluster"
        )
    k = int(n_clusters) if n_clusters is not None else None
    labels = cluster_vectors(x, k, method, seed)
    out = {i: int(c) for i, c in zip(ids, labels, strict=True)}
    if write_key is not None:
        # One upsert of the same vectors with the merged metadata: all labels or none.
        col.add(
            vectors=np.stack([r.vector for r in records]),
            ids=[r.id for r in records],
            metadata=[{**r.metadata, write_key: out[r.id]} for r in records],
            progress=False,
        )
    return out


# -- classification -----------------------------------------------------------------------------
@dataclass
class Classifier:
    """A classifier over a collection's space, fitted on its labelled records.

    ``classes`` are the labels seen, sorted; ``predict`` / ``predict_proba`` take what
    ``search`` takes. ``accuracy`` is stratified k-fold cross-validated accuracy on the labelled
    records (k = min(5, smallest class count)), computed on first use.
    """

    collection: Collection
    label_key: str
    method: str
    classes: list[Any]
    n_records: int
    _model: Any = field(repr=False)
    _x: np.ndarray = field(repr=False)
    _y: np.ndarray = field(repr=False)
    #: What a search of the collection would search with (its searcher's query_vectors).
    _query_vectors: Callable[[Any], np.ndarray] = field(repr=False)

    def _vectors(self, queries: Any) -> tuple[np.ndarray, bool]:
        from omnivec.core.queries import VectorQuery

        single = not isinstance(queries, list | tuple) and not (
            isinstance(queries, VectorQuery) and queries.is_batch
        )
        vecs = self._query_vectors(queries)
        return prepare(vecs, self.collection.metric), single

    def predict(self, queries: Any) -> Any:
        """The label of each query: one label for one query, a list for a list (or an
        ``ov.vector`` of shape ``(n, dim)``)."""
        x, single = self._vectors(queries)
        labels = [self.classes[i] for i in self._model.predict(x)]
        return labels[0] if single else labels

    def predict_proba(self, queries: Any) -> np.ndarray:
        """Class probabilities, float64 ``(n, len(classes))`` (``(len(classes),)`` for one
        query), columns in the order of ``classes``."""
        x, single = self._vectors(queries)
        proba = np.asarray(self._model.predict_proba(x), dtype=np.float64)
        return proba[0] if single else proba

    @functools.cached_property
    def accuracy(self) -> float:
        """Mean accuracy over stratified folds of the labelled records."""
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        folds = min(5, int(np.bincount(self._y).min()))
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        scores = cross_val_score(clone(self._model), self._x, self._y, cv=cv)
        return float(np.mean(scores))

    def __repr__(self) -> str:
        return (
            f"Classifier({self.collection.name!r}, label_key={self.label_key!r}, "
            f"method={self.method!r}, classes={self.classes!r}, n_records={self.n_records})"
        )


def _estimator(method: str, n: int) -> Any:
    if method == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        # Prepared cosine vectors are unit length: Euclidean order is cosine order.
        return KNeighborsClassifier(n_neighbors=min(5, n), weights="distance")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Embedding coordinates are small (unit vectors in hundreds of dimensions); scaling them
    # lets the default regularisation fit instead of flattening every class to the prior.
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000))


def classifier(
    col: Collection,
    label_key: str,
    method: str,
    where: str | None,
    query_vectors: Callable[[Any], np.ndarray],
) -> Classifier:
    """Fit a classifier on the records whose metadata has ``label_key``; see
    :meth:`Collection.classifier`. ``query_vectors`` turns what ``search`` takes into the
    vectors a search of ``col`` would search with."""
    method = _check_method(method, CLASSIFIER_METHODS, "classifier")
    if not isinstance(label_key, str) or not label_key:
        raise InvalidInputError(f"label_key must be a metadata key (a str), got {label_key!r}")
    records = [r for r in _read(col, where) if r.metadata.get(label_key) is not None]
    if not records:
        raise InvalidInputError(
            f"no record of collection {col.name!r}"
            + (f" matching {where!r}" if where else "")
            + f" has metadata key {label_key!r}; label some records first"
        )
    raw = [r.metadata[label_key] for r in records]
    if any(isinstance(v, dict | list) for v in raw):
        raise InvalidInputError(f"metadata {label_key!r} must hold plain labels (str, int, bool)")
    counts = Counter(raw)
    if len(counts) < 2:
        raise InvalidInputError(
            f"metadata {label_key!r} has one class ({next(iter(counts))!r}); "
            "a classifier needs records of at least two classes"
        )
    if min(counts.values()) < 2:
        few = min(counts, key=lambda c: counts[c])
        raise InvalidInputError(
            f"too few labelled records: class {few!r} of {label_key!r} has {counts[few]}; "
            "label at least two records of every class"
        )
    try:
        classes = sorted(counts)
    except TypeError:  # mixed label types (1 and "1"): order them by their text
        classes = sorted(counts, key=repr)
    index = {c: i for i, c in enumerate(classes)}
    x = _matrix(records, col.metric)
    y = np.array([index[v] for v in raw], dtype=np.int64)
    model = _estimator(method, len(records)).fit(x, y)
    return Classifier(col, label_key, method, classes, len(records), model, x, y, query_vectors)


# -- projection ---------------------------------------------------------------------------------
@dataclass
class Projection:
    """2-D coordinates of (a seeded sample of) a collection's records.

    ``ids`` and ``xy`` (float64 ``(sample_size, 2)``) are in the same order; ``total`` is how
    many records matched, ``sample_size`` how many were projected; ``records`` the projected
    records (empty when only the vectors were read).
    """

    ids: list[Any]
    xy: np.ndarray
    method: str
    sample_size: int
    total: int
    records: list[Record] = field(repr=False, default_factory=list)

    @property
    def points(self) -> dict[Any, tuple[float, float]]:
        # Columns to Python floats in two calls: a third of a per-row conversion at 100k.
        pairs = zip(self.xy[:, 0].tolist(), self.xy[:, 1].tolist(), strict=True)
        # The 2n new objects would set off collections of the whole heap, which find
        # nothing to free here (measured at 100k: 100 ms with them, 20 ms without).
        with gc_paused():
            return dict(zip(self.ids, pairs, strict=True))


_BLAS_CONTROLLER: Any = None
_BLAS_LIMIT_LOCK = threading.Lock()


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread for the block (threadpoolctl; its library scan made once). One
    block at a time: two overlapping limits would restore each other's setting, leaving BLAS
    on one thread for good."""
    global _BLAS_CONTROLLER
    from threadpoolctl import ThreadpoolController

    with _BLAS_LIMIT_LOCK:
        if _BLAS_CONTROLLER is None:
            _BLAS_CONTROLLER = ThreadpoolController()
        with _BLAS_CONTROLLER.limit(limits=1, user_api="blas"):
            yield


def pca_2d(
    vectors: np.ndarray,
    fit_rows: int | None = PCA_FIT_ROWS,
    seed: int = 0,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """The first two principal coordinates, float64 ``(n, min(2, n, dim))``, of ``vectors``
    ``(n, dim)``: scikit-learn's ``PCA(2).fit_transform``, signs included; above ``fit_rows``
    rows, ``PCA(2).fit(seeded sample of fit_rows).transform(vectors)`` (every row projected).
    ``order`` (n,) int: the rows' positions in a canonical order (their ids sorted), so that
    the sample is drawn from the same records however the rows came (None: as given).

    With n >= 10 dim, scikit-learn's own "covariance_eigh" algorithm without its overheads:
    timed at 100k x 384 float32, the ``X.T @ X`` product (~110 ms) dominates; scikit-learn
    adds input checks, a slower mean and a full float32 ``eigh`` (~20-40 ms in all). Here
    the mean is one pass and only the top two eigenpairs are computed, from the covariance in
    float64. Fewer rows: scikit-learn (its SVD of the centred rows, the better choice there)."""
    x = np.asarray(vectors)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)  # float16 products overflow; ints are no vectors to multiply
    n, dim = x.shape
    fit = x
    if fit_rows is not None and n > fit_rows:
        pick = np.random.default_rng(seed).choice(n, size=fit_rows, replace=False)
        if order is not None:
            pick = np.asarray(order)[pick]
        fit = x[np.sort(pick)]  # sorted: the gather reads the rows in memory order
    m = len(fit)
    if m < 10 * dim:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(2, m, dim), random_state=seed).fit(fit)
        return np.asarray(pca.transform(x), dtype=np.float64)
    from scipy.linalg import eigh

    comps = min(2, dim)
    # In the rows' own dtype, as scikit-learn's mean: a float64 pass is 4x slower.
    mean = (fit.sum(axis=0) / m).astype(np.float64)
    # Centred afterwards (C - m mean mean^T), as scikit-learn does: no centred copy.
    cov = (fit.T @ fit).astype(np.float64)
    cov -= m * np.outer(mean, mean)
    cov /= m - 1
    with _one_blas_thread():
        # A 384 x 384 eigh is many small BLAS calls: on two threads, woken for each, it took
        # 5-100 ms right after the product above; on one, 6-7 ms.
        _, vecs = eigh(cov, subset_by_index=[dim - comps, dim - 1], driver="evx")
    top = vecs[:, ::-1].T  # (comps, dim), the largest variance first
    # scikit-learn's svd_flip(u_based_decision=False): each component's largest entry > 0.
    top *= np.sign(top[np.arange(comps), np.abs(top).argmax(axis=1)])[:, None]
    w = top.astype(np.float32 if x.dtype == np.float32 else np.float64)
    return np.asarray(x @ w.T - mean.astype(w.dtype) @ w.T, dtype=np.float64)


def _id_order(ids: list[Any]) -> np.ndarray:
    """Positions of ``ids`` in sorted order: int ids by value, others by their store key."""
    if all(type(i) is int for i in ids):
        try:
            return np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
        except OverflowError:  # an int id past int64
            pass
    keys = encode_ids(ids, unique=False)
    return np.asarray(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)


def project_vectors(
    vectors: np.ndarray, method: str = "pca", seed: int = 0, order: np.ndarray | None = None
) -> np.ndarray:
    """2-D coordinates, float64 ``(n, 2)``, of prepared vectors ``(n, dim)``; ``order``: see
    :func:`pca_2d`."""
    method = _check_method(method, PROJECT_METHODS, "projection")
    n = vectors.shape[0]
    if n < 3 or (method != "pca" and n < 5):
        # Too few points for a neighbourhood; lay them out on their first axes instead.
        method = "pca"
    if method == "pca":
        if n == 1:
            return np.zeros((1, 2))
        xy = pca_2d(vectors, fit_rows=PCA_FIT_ROWS, seed=seed, order=order)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (n - 1) / 3))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        xy = xy.fit_transform(vectors)
    else:
        import warnings

        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed)
        with warnings.catch_warnings():
            # A seed makes umap run on one thread, and it says so on every call.
            warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
            xy = reducer.fit_transform(vectors)
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape[1] < 2:  # one-dimensional data: the second axis is flat
        xy = np.hstack([xy, np.zeros((n, 2 - xy.shape[1]))])
    return xy


def projection(
    col: Collection,
    method: str = "pca",
    where: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    with_records: bool = True,
) -> Projection:
    """Project the records (matching ``where``) to 2-D; above ``limit`` records (default
    :data:`PROJECT_LIMIT`) a seeded random sample of ``limit`` of them. ``with_records=False``
    reads only the vectors (``Projection.records`` stays empty)."""
    method = _check_method(method, PROJECT_METHODS, "projection")
    if limit is None:
        limit = PROJECT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise InvalidInputError(f"limit must be a positive int, got {limit!r}")
    records: list[Record] = []
    if with_records:
        records = _read(col, where, limit=int(limit), seed=seed)
        ids, x = [r.id for r in records], _matrix(records, col.metric)
    else:
        # PCA needs no sorted read: its result does not depend on the row order (its fit
        # sample, above PCA_FIT_ROWS rows, is drawn by id below).
        ids, x = _read_vectors(col, where, limit=int(limit), seed=seed, ordered=method != "pca")
    # Fewer than the limit: every matching record was read.
    total = len(ids) if len(ids) < limit else col.count(where=where)
    if len(ids) < total:
        logger.info(
            "projecting a seeded sample of %d of the %d records of %r", len(ids), total, col.name
        )
    order = None
    if method == "pca" and len(ids) > PCA_FIT_ROWS:
        # The rows came in the in-process copy's order (inserts, a retraining or a read from
        # Milvus change it): PCA's fit sample is drawn by id instead.
        order = _id_order(ids)
    xy = project_vectors(x, method, seed, order)
    return Projection(ids, xy, method, len(ids), total, records)


def project(
    col: Collection,
    method: str = "pca",
    where: str | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> dict[Any, tuple[float, float]]:
    """``{id: (x, y)}``; see :func:`projection` (which also states the sample size)."""
    return projection(col, method, where, limit, seed, with_records=False).points


# -- the map (CLI picture, HTTP route, web page) ------------------------------------------------
@dataclass
class MapPoint:
    id: Any
    x: float
    y: float
    cluster: int
    label: Any
    text: str | None = None
    thumbnail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "x": self.x, "y": self.y, "cluster": self.cluster}
        out["label"] = self.label
        if self.text is not None:
            out["text"] = self.text
        if self.thumbnail is not None:
            out["thumbnail"] = self.thumbnail
        return out


def _text_of(record: Record) -> str | None:
    text = getattr(record, "text", None) or record.metadata.get("text")
    return text if isinstance(text, str) else None


def map_points(
    col: Collection,
    method: str = "pca",
    color_by: str = "cluster",
    where: str | None = None,
    limit: int | None = None,
    n_clusters: int | None = None,
    seed: int = 0,
) -> tuple[Projection, list[MapPoint]]:
    """The projection plus one point per projected record: its cluster (k-means with
    ``n_clusters``, else HDBSCAN, over the same sample), the value of ``color_by`` (the
    cluster, or a metadata key's value, ``None`` where absent), and text / thumbnail if
    stored."""
    proj = projection(col, method, where, limit, seed)
    n = proj.sample_size
    if n_clusters is not None and not 2 <= n_clusters <= n:
        raise InvalidInputError(f"n_clusters must be from 2 to {n} (the records mapped)")
    if n_clusters is None and n < 3:
        labels = np.zeros(n, dtype=np.int64)
    else:
        labels = cluster_vectors(_matrix(proj.records, col.metric), n_clusters, None, seed)
    by_cluster = color_by in ("cluster", "", None)
    points = []
    for rec, (x, y), c in zip(proj.records, proj.xy, labels, strict=True):
        value = int(c) if by_cluster else rec.metadata.get(color_by)
        thumb = rec.metadata.get("thumbnail")
        points.append(
            MapPoint(
                rec.id,
                float(x),
                float(y),
                int(c),
                value,
                _text_of(rec),
                thumb if isinstance(thumb, str) else None,
            )
        )
    if not by_cluster and all(p.label is None for p in points):
        raise InvalidInputError(
            f"no mapped record of {col.name!r} has metadata key {color_by!r}; "
            "colour by 'cluster' or a key the records have"
        )
    return proj, points
