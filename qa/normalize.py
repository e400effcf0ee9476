"""Normalisation for matching: width, traditional to simplified Chinese (documents and questions alike), whitespace, control characters."""

from __future__ import annotations

import functools
import re
import unicodedata

_SPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


_CONTROLS = ("Cc", "Cs", "Cf")


def strip_controls(
    text: str, *, keep: str = "", replacement: str = " ", categories: tuple[str, ...] = _CONTROLS
) -> str:
    """`text` with control characters (NUL, escapes, format marks, lone surrogates) replaced.

    Args:
        text: any text.
        keep: characters to leave alone (``"\n\t"`` keeps a document's line breaks).
        replacement: what stands in for each removed character.
        categories: the Unicode categories removed: controls, surrogates and format
            marks for a question; a document keeps its format marks (Persian's
            zero-width non-joiner is spelling), so it passes ``("Cc",)``.
    """
    if "Cf" not in categories:  # controls and surrogates are fixed ranges: one regex pass, fast on a 50 MB file
        ranges = {"Cc": "\x00-\x1f\x7f-\x9f", "Cs": "\ud800-\udfff"}
        pattern = _range_pattern("".join(ranges[c] for c in categories), keep)
        return pattern.sub(replacement, text)
    return "".join(replacement if unicodedata.category(ch) in categories and ch not in keep else ch for ch in text)


@functools.lru_cache(maxsize=8)
def _range_pattern(ranges: str, keep: str) -> re.Pattern:
    if keep:
        return re.compile("(?![" + re.escape(keep) + "])[" + ranges + "]")
    return re.compile("[" + ranges + "]")


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def fold_script(text: str) -> str:
    """`text` with traditional Chinese written in simplified characters, nothing else changed.

    What matching compares, for documents and questions alike: 語言 and 语言 are one
    word, so a Taiwanese document answers a simplified question and the reverse. Quotes
    are never folded. The result has the length of `text`, so a position in it is a
    position in the original: OpenCC's t2s maps characters and phrases to ones of the
    same length (every DRCD and CMRC 2018 text, measured); where a conversion would not,
    the text is converted character by character, and a character that would become
    several stays as written.
    """
    if not _CJK.search(text):
        return text
    t2s = _t2s()
    out = t2s.convert(text)
    if len(out) == len(text):
        return out
    chars = [t2s.convert(ch) for ch in text]
    return "".join(c if len(c) == 1 else ch for c, ch in zip(chars, text))


def normalize_query(text: str) -> str:
    """Canonical form of a question for matching (never shown to the user).

    Full-width letters, digits and punctuation become half-width (NFKC), traditional
    Chinese becomes simplified, control characters and runs of whitespace become one
    space.
    """
    text = strip_controls(text)
    text = fold_script(unicodedata.normalize("NFKC", text))
    return _SPACE.sub(" ", text).strip()


def normalize_text(text: str) -> str:
    """A document's or a question's text as matching compares it: normalised and lower-cased."""
    return normalize_query(text).lower()


def cjk_ratio(text: str) -> float:
    """Share of the letters in `text` that are CJK ideographs (0 for no letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff") / len(letters)


# Markup, character entities and links: what is left of a message without them is what it says.
_MARKUP = re.compile(r"<[^>]*>|&[#\w]+;|https?://\S+")


def strip_markup(text: str) -> str:
    """`text` with tags, entities and links replaced by spaces (``"<b>年</b>"`` -> ``" 年 "``)."""
    return _MARKUP.sub(" ", text or "")
