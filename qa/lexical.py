"""The keyword side: BM25 (bm25s) over jieba words."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from qa.normalize import fold_script
from qa.words import words

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w", re.UNICODE)

# Function words that match everywhere and only add noise to keyword scores.
_STOPWORDS = frozenset(words("zh")["stopwords"]) | frozenset(words("en")["stopwords"])


# Changes with the stop words and the script folding: an index whose keywords were cut
# differently is rebuilt.
TOKENIZER_VERSION = hashlib.sha256(("t2s\n" + " ".join(sorted(_STOPWORDS))).encode("utf-8")).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str) -> list[str]:
    """Words for BM25: jieba's search-mode cut, lower-cased, without punctuation and stop words.

    Traditional Chinese is folded to simplified first (`fold_script`), for documents as
    for questions: 語言 in a Taiwanese text is the word 语言 a question asks for. Search mode also emits the shorter words inside long ones (公安局 -> 公安, 公安局),
    so a question's wording need not match the document's segmentation exactly.
    """
    text = fold_script(unicodedata.normalize("NFKC", text)).lower()
    return [
        w
        for w in (t.strip() for t in _jieba().cut_for_search(text))
        if w and _WORD.search(w) and w not in _STOPWORDS
    ]


def coverage(terms: Sequence[str], text: str) -> float:
    """Share of the question's words (weighted by length) that occur in `text` (folded as `tokenize` folds)."""
    total = sum(len(t) for t in terms)
    if not total:
        return 0.0
    low = fold_script(text).lower()
    return sum(len(t) for t in terms if t in low) / total


def term_id(word: str) -> int:
    """A word's dimension in a sparse keyword vector: 32 bits of its BLAKE2b hash (2^32-1 is reserved by Milvus)."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest(), "little") % (2**32 - 1)


def query_vector(terms: Sequence[str]) -> dict[int, float]:
    """A question's sparse vector, {term_id(word): count}: its inner product with a passage's
    `LexicalIndex.sparse_vectors` row is that passage's BM25 score (an unknown word matches nothing)."""
    out: dict[int, float] = {}
    for t in terms:
        out[term_id(t)] = out.get(term_id(t), 0.0) + 1.0
    return out


class LexicalIndex:
    """BM25 over a list of texts; scores for every text at once."""

    def __init__(self, retriever) -> None:
        self._bm25 = retriever

    @classmethod
    def build(cls, texts: Sequence[str], *, show_progress: bool = False) -> LexicalIndex:
        import bm25s

        corpus = [tokenize(t) or ["\u2205"] for t in texts]
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index(corpus, show_progress=show_progress)
        return cls(bm25)

    @property
    def size(self) -> int:
        return int(self._bm25.scores["num_docs"])

    def vocabulary(self) -> list[str]:
        """Every indexed word."""
        return [w for w in self._bm25.vocab_dict if isinstance(w, str)]

    def has(self, token: str) -> bool:
        """Whether any indexed text contains this word."""
        return token in self._bm25.vocab_dict

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every text (0 where no query word occurs)."""
        vocab = self._bm25.vocab_dict
        known = [t for t in query_tokens if t in vocab]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def sparse_vectors(self) -> list[dict[int, float]]:
        """Each text's {term_id(word): BM25 weight of that word in it}, so that a question's
        `query_vector` scores it by inner product exactly as `scores` does (measured: within
        1e-5 on every passage of the public dev sets, docs/milvus.md). A text without words
        gets its placeholder word, so no vector is empty."""
        import scipy.sparse as sp

        scores = self._bm25.scores
        n_docs = int(scores["num_docs"])
        n_vocab = len(scores["indptr"]) - 1
        words = {i: w for w, i in self._bm25.vocab_dict.items()}
        matrix = sp.csc_matrix((scores["data"], scores["indices"], scores["indptr"]), shape=(n_docs, n_vocab)).tocsr()
        dims = np.array([term_id(str(words[j])) for j in range(n_vocab)], dtype=np.int64)
        out = []
        for i in range(n_docs):
            lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
            row = {int(d): float(v) for d, v in zip(dims[matrix.indices[lo:hi]], matrix.data[lo:hi]) if v > 0}
            out.append(row or {term_id("\u2205"): 1e-6})
        return out

    def save(self, directory: str | Path) -> None:
        self._bm25.save(str(directory), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, directory: str | Path) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(directory), allow_pickle=False, show_progress=False))
