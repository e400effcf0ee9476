"""The word lists docqa reads questions with, one data file per language (``qa/data/words/*.json``), loaded once."""

from __future__ import annotations

import functools
import json
from pathlib import Path

WORDS_DIR = Path(__file__).resolve().parent / "data" / "words"
LANGUAGES = ("zh", "en")


@functools.lru_cache(maxsize=None)
def words(lang: str) -> dict:
    """The word lists of one language (``"zh"`` or ``"en"``).

    Raises:
        ValueError: no word lists for that language.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return json.loads((WORDS_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def alternation(items) -> str:
    """A regex alternation of literal words, longest first (so 最后一 wins over 最后)."""
    import re

    return "|".join(re.escape(w) for w in sorted(items, key=lambda w: (-len(w), w)))
