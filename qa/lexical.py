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

    def save(self, directory: str | Path) -> None:
        self._bm25.save(str(directory), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, directory: str | Path) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(directory), allow_pickle=False, show_progress=False))
