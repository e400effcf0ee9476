"""A FAISS vector index over normalised vectors, saved as a plain file."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)

# Below this many vectors exact search is fast enough and perfectly accurate; above it
# an inverted-file index keeps queries fast. Chosen by `docqa bench` on 2 cores: exact
# search costs ~0.35 ms per 1k vectors (20k -> ~7 ms, 100k -> ~35 ms, over its 30 ms
# budget), while IVF stays fast up to 1M passages.
APPROX_THRESHOLD = int(os.environ.get("DOCQA_APPROX_THRESHOLD", "20000"))
# IVF: about 2*sqrt(n) lists; a query scans IVF_PROBE_SHARE of them (at least 128).
# Measured at 1M vectors drawn like e5's: 1000 lists need 15% probed for recall@10
# 0.975 (58 ms); 2000 lists reach 0.956 at 10% (35 ms); 12.5% leaves a margin.
# IVF rather than HNSW: HNSW (M=32) built 20x slower at 100k, with recall 0.70 there.
IVF_LISTS_PER_SQRT_N = 2
IVF_PROBE_SHARE = 0.125
IVF_MIN_PROBES = 128  # smaller indexes need a larger share for the same recall
IVF_TRAIN_PER_LIST = 40  # k-means training sample: this many vectors per list
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


class IndexFileError(ValueError):
    """The FAISS file is missing, truncated or does not match what was expected."""


@dataclass(frozen=True)
class Hits:
    """Search results for one query, best first."""

    ids: np.ndarray
    scores: np.ndarray


class VectorIndex:
    """Inner-product search; on unit vectors that is cosine similarity."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray, *, kind: str = "auto") -> VectorIndex:
        """Index `vectors` (n, dim), already L2-normalised.

        Args:
            vectors: float32 array, one row a passage.
            kind: ``"flat"`` (exact), ``"ivf"`` or ``"hnsw"`` (approximate) or
                ``"auto"`` (IVF above ``APPROX_THRESHOLD`` vectors).

        Raises:
            ValueError: `vectors` is not a 2-D array or `kind` is unknown.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise ValueError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        if kind == "auto":
            kind = "ivf" if len(vectors) > APPROX_THRESHOLD else "flat"
        dim = vectors.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "ivf":
            index = _build_ivf(vectors)
            return cls(index)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            raise ValueError(f"kind must be 'auto', 'flat', 'ivf' or 'hnsw', got {kind!r}")
        if len(vectors):
            index.add(vectors)
        return cls(index)

    @property
    def kind(self) -> str:
        if isinstance(self._index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int) -> Hits:
        """The `k` nearest rows to one query vector, best first (missing rows dropped)."""
        k = min(k, len(self))
        if k <= 0:
            return Hits(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        scores, ids = self._index.search(q, k)
        keep = ids[0] >= 0
        return Hits(ids[0][keep], scores[0][keep])

    def reconstruct_all(self) -> np.ndarray:
        """All stored vectors, in insertion order."""
        if len(self) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_n(0, len(self))

    def reconstruct(self, ids) -> np.ndarray:
        """The stored vectors of some rows, in the order given (cheap: no full copy)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(ids)

    def save(self, path: str | Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: str | Path, *, expect_dim: int | None = None, expect_count: int | None = None) -> VectorIndex:
        """Read a FAISS file, checking it is whole and of the expected shape.

        Raises:
            IndexFileError: the file is missing, unreadable or of the wrong shape.
        """
        path = Path(path)
        if not path.is_file():
            raise IndexFileError(f"{path.name} is missing")
        try:
            index = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise IndexFileError(f"{path.name} is unreadable ({str(exc).splitlines()[0][:120]})") from exc
        if expect_dim is not None and index.d != expect_dim:
            raise IndexFileError(f"{path.name} has dimension {index.d}, expected {expect_dim}")
        if expect_count is not None and index.ntotal != expect_count:
            raise IndexFileError(f"{path.name} holds {index.ntotal} vectors, expected {expect_count}")
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = HNSW_EF_SEARCH
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = _nprobe(index.nlist)
            index.make_direct_map()  # so rows can be reconstructed by id
        return cls(index)


def _build_ivf(vectors: np.ndarray) -> faiss.Index:
    n, dim = vectors.shape
    nlist = max(1, min(4096, int(round(IVF_LISTS_PER_SQRT_N * n**0.5))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10  # enough for good lists; the default 25 triples the build time
    # An evenly spaced sample is deterministic and covers the whole document.
    step = max(1, n // (nlist * IVF_TRAIN_PER_LIST))
    index.train(vectors[::step])
    index.add(vectors)
    index.nprobe = _nprobe(nlist)
    index.make_direct_map()  # so rows can be reconstructed by id
    return index


def _nprobe(nlist: int) -> int:
    return min(nlist, max(IVF_MIN_PROBES, int(np.ceil(nlist * IVF_PROBE_SHARE))))
