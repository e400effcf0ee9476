"""A deterministic fake encoder: hashed character n-grams, so tests can assert rankings exactly."""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np


# A small Chinese document with three sections, shared by the fast tests.
SMALL_ZH_DOC = """测试文档

疫情防控

疫情期间共核查人员45561人，完成率100%。

交通安全

全市整治事故多发路段110处，没有发生重大交通事故。

扫黑除恶

共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人。
"""


class HashEncoder:
    """Bag of hashed character unigrams and bigrams, L2-normalised.

    Texts sharing more characters are more similar; the same text always gives the
    same vector. Counts calls so tests can check what was (re-)encoded.
    """

    def __init__(self, dim: int = 64, *, name: str = "fake/hash-64") -> None:
        self.dim = dim
        self.name = name
        self.calls = 0
        self.encoded: list[str] = []

    def _vec(self, text: str) -> np.ndarray:
        text = unicodedata.normalize("NFKC", text).lower()
        v = np.zeros(self.dim, dtype=np.float32)
        chars = [c for c in text if c.isalnum()]
        grams = chars + [a + b for a, b in zip(chars, chars[1:])]
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode("utf-8", "replace"), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0
        n = np.linalg.norm(v)
        if n == 0:
            v[0] = 1.0
            return v
        return v / n

    def _encode(self, texts):
        self.calls += 1
        self.encoded.extend(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._vec(t) for t in texts]).astype(np.float32)

    def encode_queries(self, texts):
        return self._encode(list(texts))

    def encode_passages(self, texts):
        return self._encode(list(texts))
