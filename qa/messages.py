"""What docqa says to people, in the question's language: one table of messages per language (``qa/data/messages/*.json``)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from qa.normalize import strip_markup

MESSAGES_DIR = Path(__file__).resolve().parent / "data" / "messages"
LANGUAGES = ("zh", "en")


@functools.lru_cache(maxsize=None)
def table(lang: str) -> dict[str, str]:
    """The messages of one language (``"zh"`` or ``"en"``).

    Raises:
        ValueError: no messages for that language.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return json.loads((MESSAGES_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def message(key: str, lang: str = "zh", **values) -> str:
    """Message `key` in `lang`, with ``{name}`` fields filled from `values`."""
    text = table(lang)[key]
    return text.format(**values) if values else text


def language(text: str) -> str:
    """The language to answer in: ``"en"`` for a question written in Latin letters, else ``"zh"``.

    Markup and links are ignored, and a question with no letters at all gets the page's language (Chinese).
    """
    plain = strip_markup(text)
    cjk = sum(1 for ch in plain if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\u3040" <= ch <= "\u30ff")
    latin_words = len(re.findall(r"[A-Za-z]+", plain))
    if not cjk and not latin_words:
        return "zh"
    # A Chinese question with a Latin name ("iPhone手机多少钱") is Chinese; a Chinese name in
    # an English sentence ("Who is 周建明?") is English: a Chinese word is about two characters.
    return "en" if latin_words > cjk / 2 else "zh"
