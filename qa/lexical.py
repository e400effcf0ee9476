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

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w", re.UNICODE)

# Function words that match everywhere and only add noise to keyword scores.
_STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 等 对 把 被 从 向 为 以 于 之 其 这 那 有 也 都 就 而 并 又 还 个 中 上 下
    吗 呢 吧 啊 哪 哪些 哪个 什么 多少 几 怎么 怎样 如何 为什么 谁 是否 请问 一下 一共 共 到底 呀 么
    哪家 哪位 哪里 哪儿 哪年 哪天 啥 咋 咋样 怎么样 那些 这些 那个 这个 有没有 是不是 能不能
    a an the of to in on at for by with and or is are was were be been what which who whom how
    many much when where why did does do has have had it its this that these those""".split()
)


# Changes with the stop words: an index whose keywords were cut differently is rebuilt.
TOKENIZER_VERSION = hashlib.sha256(" ".join(sorted(_STOPWORDS)).encode("utf-8")).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str) -> list[str]:
    """Words for BM25: jieba's search-mode cut, lower-cased, without punctuation and stop words.

    Search mode also emits the shorter words inside long ones (公安局 -> 公安, 公安局),
    so a question's wording need not match the document's segmentation exactly.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return [
        w
        for w in (t.strip() for t in _jieba().cut_for_search(text))
        if w and _WORD.search(w) and w not in _STOPWORDS
    ]


# Only place names: jieba's person and organisation tags fire on ordinary words too often.
_NAME_TAGS = frozenset({"ns"})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def specific_terms(text: str) -> list[str]:
    """Place names and numbers in a question.

    A question naming one of these that a document never mentions asks about
    something else (another city, a year the document does not cover).
    """
    import jieba.posseg

    _jieba()
    text = unicodedata.normalize("NFKC", text)
    names = [w for w, flag in jieba.posseg.cut(text) if flag in _NAME_TAGS and len(w) >= 2]
    return names + _NUMBER.findall(text)


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
