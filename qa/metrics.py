"""CMRC 2018's span metrics: exact match and character F1 (no imports beyond the standard library,
so a reader trained from a pack, `qa.reader_pack`, measures itself as `docqa eval` does)."""

from __future__ import annotations

import re

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def _strip(text: str) -> str:
    return _PUNCT.sub("", text.lower())


def char_f1(prediction: str, gold: str) -> float:
    """CMRC-2018 F1: longest common substring over characters, punctuation removed."""
    p, g = _strip(prediction), _strip(gold)
    if not p or not g:
        return 0.0
    # Longest common substring by dynamic programming (short strings: answers are sentences).
    best = 0
    prev = [0] * (len(g) + 1)
    for i in range(1, len(p) + 1):
        cur = [0] * (len(g) + 1)
        pc = p[i - 1]
        for j in range(1, len(g) + 1):
            if pc == g[j - 1]:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    if best == 0:
        return 0.0
    precision, recall = best / len(p), best / len(g)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> float:
    """CMRC-2018 exact match: equal once punctuation and spaces are removed and case folded."""
    p = _strip(prediction)
    return float(bool(p) and p == _strip(gold))
