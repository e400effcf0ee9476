"""Query normalisation: width, traditional to simplified Chinese, whitespace, control characters."""

from __future__ import annotations

import functools
import re
import unicodedata

_SPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def _strip_controls(text: str) -> str:
    # NUL, other C0/C1 controls and lone surrogates carry no meaning in a question.
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cs", "Cf") else ch for ch in text)


def normalize_query(text: str) -> str:
    """Canonical form of a question for matching (never shown to the user).

    Full-width letters, digits and punctuation become half-width (NFKC), traditional
    Chinese becomes simplified, control characters and runs of whitespace become one
    space.
    """
    text = _strip_controls(text)
    text = unicodedata.normalize("NFKC", text)
    if any("\u3400" <= ch <= "\u9fff" for ch in text):
        text = _t2s().convert(text)
    return _SPACE.sub(" ", text).strip()


def cjk_ratio(text: str) -> float:
    """Share of the letters in `text` that are CJK ideographs (0 for no letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff") / len(letters)
