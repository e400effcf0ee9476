"""Follow-ups: whether a question leans on the one before it, what it means read with that one, and its answer.

A follow-up opens with a connective ("那…呢", "and …", "what about …"), points back with a
pronoun, or is too short to stand alone. Its missing parts come from the previous turn:

* a fragment ("那2019年呢？", "And in 2019?") keeps the previous question and swaps in the
  new part: a year for its year, or otherwise a word of the same kind, or the part is put
  in front;
* a pronoun ("它是哪年建的？", "他负责什么？") stands for what the previous turn was about:
  the previous question's topic (its longest run of nouns) or, for a person, the previous
  short answer;
* a short question ("投入多少钱？") is read with the previous question's topic in front.

Each reading is asked like any question; the first that the document answers, with a word
of the follow-up itself in its answer, is the reply, and the reading is shown with it.
When none is answered, the reply is "not in the document" for the first reading: a
follow-up is never answered by repeating the previous answer. The words come from
``qa/data/words/*.json``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from qa.lexical import tokenize
from qa.normalize import fold_script
from qa.settings import MAX_QUESTION_CHARS
from qa.words import words

_ZH, _EN = words("zh")["follow_up"], words("en")["follow_up"]
_LEADS_ZH = tuple(_ZH["leads"])
_LEADS_EN = tuple(_EN["leads"])
_PRONOUNS_ZH = tuple(_ZH["pronouns"])
_PRONOUNS_EN = re.compile(r"\b(" + "|".join(_EN["pronouns"]) + r")\b", re.I)
# Words of a follow-up that only point back: they add nothing the answer must contain.
_POINTING = set(_PRONOUNS_ZH) | set(_ZH["filler"]) | set(_EN["filler"])
# Nouns a question asks with ("什么地方", "什么时候"): never what it is about.
_QUESTION_NOUNS = frozenset(_ZH["question_nouns"])
# A fragment holding one of these asks a question of its own ("那他的职务是什么？").
_QUESTION_WORDS_ZH = tuple(_ZH["question_words"])
SHORT_CJK = 8  # characters
SHORT_WORDS = 4  # words, for questions without CJK
K = 5
MAX_READINGS = 4

# Connectives a fragment opens with and the particle it ends with: "那 … 呢？", "还有 … 呢".
_FRAGMENT_LEAD_ZH = re.compile(r"^(?:那么|那|还有|另外|此外|以及|而|再问一下|再问)[，,、\s]*")
_FRAGMENT_END_ZH = re.compile(r"(?:的情况)?(?:呢|怎么样|如何)?[？?。.!！\s]*$")
_FRAGMENT_EN = re.compile(r"^(?:and|what about|how about|and what about|then|also)\b[\s,]*(.*?)[?.!\s]*$", re.I)
# A time the fragment asks about instead of the previous one: a year, a month, a date.
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?:年度|年)?(?!\d)")
_MONTH = re.compile(r"(?<!\d)(?:1[0-2]|[1-9])月(?:份)?(?:\d{1,2}日)?")
# Pronouns standing for a thing and for a person (the person is often the previous answer).
_THING_ZH = ("它们", "它", "其", "该", "这个", "那个", "此", "这些", "那些", "上述")
_PERSON_ZH = ("他们", "她们", "他", "她")
_THING_EN = re.compile(r"\b(it|its|this|that|these|those|they|them|their)\b", re.I)
_PERSON_EN = re.compile(r"\b(he|she|him|her|his)\b", re.I)
# jieba part-of-speech tags that make up a topic: nouns, names, places, organisations,
# distinguishing words ("刑事"), abbreviations, idioms and foreign words.
_NOUNISH = {"n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "ng", "vn", "an", "b", "j", "l", "eng"}


@dataclass(frozen=True)
class Turn:
    """The follow-up as answered: the standalone question asked (None when asked as it is) and the answer."""

    answer: object  # qa.Answer
    reading: str | None = None


def is_follow_up(question: str) -> bool:
    """Whether a question probably leans on the one before it."""
    q = question.strip()
    low = q.lower()
    if low.startswith(_LEADS_EN) or q.startswith(_LEADS_ZH) or _fragment(q):
        return True
    if any(p in q for p in _PRONOUNS_ZH + _PERSON_ZH) or _PRONOUNS_EN.search(q):
        return True
    cjk = sum(1 for ch in q if "\u3400" <= ch <= "\u9fff")
    if cjk:
        return cjk <= SHORT_CJK
    return len(re.findall(r"\w+", q)) <= SHORT_WORDS


def combine(previous: str, question: str) -> str:
    """The follow-up glued to the question it leans on (the last resort reading)."""
    combined = f"{previous.rstrip()} {question}"
    return combined[-MAX_QUESTION_CHARS:]


@functools.lru_cache(maxsize=1)
def _posseg():
    from qa.lexical import _jieba

    _jieba()  # initialised once, quietly
    import jieba.posseg

    return jieba.posseg


def _tagged(text: str) -> list[tuple[str, str]]:
    """jieba's words and part-of-speech tags, cut on the simplified text (its dictionary's
    script) and returned in the text's own characters (script folding keeps positions)."""
    folded = fold_script(text)
    if len(folded) != len(text):
        folded = text
    out, pos = [], 0
    for w in _posseg().cut(folded):
        out.append((text[pos : pos + len(w.word)], w.flag))
        pos += len(w.word)
    return out


def _noun_runs(question: str) -> list[str]:
    """The runs of nouns in a Chinese question, in order; a verb inside a run counts when a noun follows it."""
    tagged = _tagged(question)
    runs, run = [], []
    for i, (word, flag) in enumerate(tagged):
        # A word ending in 于 is a verb with its preposition (位于, 属于, 隶属于, 相当于), whatever
        # jieba tags it: never part of a name ("潜江市隶属于中国" is about 潜江市).
        nounish = (flag in _NOUNISH or (flag.startswith("n") and flag != "nx")) and not (len(word) >= 2 and word[-1] in "于於")
        # Before a common noun a verb is part of the name ("发案总量"); before a proper name it
        # is the predicate ("隶属于中国").
        verb_inside = flag.startswith("v") and run and i + 1 < len(tagged) and tagged[i + 1][1] in ("n", "vn", "ng")
        if nounish or verb_inside:
            run.append(word)
            continue
        if run:
            runs.append("".join(run))
        run = []
    if run:
        runs.append("".join(run))
    return runs


_EN_QUESTION = re.compile(
    r"^(?:what|who|whom|when|where|which|why|how)(?:\s+(?:many|much|long|old|big|far))?\s+(.*?)\s*"
    r"\b(?:was|were|is|are|did|does|do|has|have|had|will|can|could)\b\s+(.*?)[?.!\s]*$",
    re.I,
)


def topic(question: str) -> str:
    """What a question is about: its longest run of nouns ("市监管中心投入多少建成的？" -> "市监管中心").

    English: the words between the question word and the auxiliary ("How many people were
    checked?" -> "people"), else the subject after the auxiliary without its verb ("When was
    the museum built?" -> "the museum").
    """
    if not re.search(r"[\u3400-\u9fff]", question):
        m = _EN_QUESTION.match(question.strip())
        if m:
            if m.group(1).strip():
                return m.group(1).strip()
            rest = m.group(2).split()
            return " ".join(rest[:-1] if len(rest) > 1 else rest)
        stop = set(words("en")["stopwords"])
        return " ".join(w for w in re.findall(r"[A-Za-z0-9'-]+", question) if w.lower() not in stop)
    runs = [r for r in _noun_runs(question) if len(r) >= 2 and fold_script(r) not in _QUESTION_NOUNS]
    return max(runs, key=len, default="")


def _fragment(question: str) -> str | None:
    """The part a fragment follow-up swaps in ("那2019年呢？" -> "2019年"), None if it is not a fragment."""
    q = unicodedata.normalize("NFKC", question).strip()
    m = _FRAGMENT_EN.match(q)
    if m and not re.search(r"[\u3400-\u9fff]", q):
        rest = m.group(1).strip()
        return rest if rest and len(rest.split()) <= 5 and not _is_question_en(rest) else None
    lead = _FRAGMENT_LEAD_ZH.match(q)
    end = _FRAGMENT_END_ZH.search(q)
    ends_with_particle = bool(re.search(r"(呢|怎么样|如何)[？?。.!！\s]*$", q))
    if not (lead and lead.end() > 0) and not ends_with_particle:
        return None
    core = q[lead.end() if lead else 0 : end.start() if end else len(q)].strip(" ，,、")
    if (
        not core
        or len(core) > 16
        or any(w in core for w in _QUESTION_WORDS_ZH)
        or any(p in core for p in _THING_ZH + _PERSON_ZH)
    ):
        return None  # a question of its own ("那他的职务是什么？"), not a fragment
    return core


def _is_question_en(text: str) -> bool:
    return bool(re.match(r"(what|who|when|where|which|how|why|is|are|was|were|do|does|did)\b", text, re.I))


def _strip_end(question: str) -> str:
    return re.sub(r"[？?。.!！\s]+$", "", question)


def _ends(question: str) -> str:
    m = re.search(r"[？?。.!！]+$", question.strip())
    return m.group(0) if m else ""


def _swap_time(previous: str, part: str) -> str | None:
    """The previous question with its year (or month) replaced by the one in `part`; None if `part` is not a time."""
    for pattern in (_YEAR, _MONTH):
        new = pattern.search(part)
        if not new:
            continue
        value = new.group(0)
        others = [m for m in pattern.finditer(previous) if m.group(0) != value]
        if others:  # the first time that is not the new one ("跟2020年相比，2019年…" + "那2020年呢")
            m = others[0]
            return previous[: m.start()] + value + previous[m.end() :]
        if pattern.search(previous):
            return None  # it already asks about that time: nothing to swap
        # The previous question named no time: the new one leads ("2019年全市刑事发案率下降了多少？").
        if re.search(r"[\u3400-\u9fff]", previous):
            return f"{part}{previous}"
        glue = " " if re.match(r"(in|on|at|during|for|by)\b", part, re.I) else " in "
        return f"{_strip_end(previous)}{glue}{part}{_ends(previous) or '?'}"
    return None


def _fragment_readings(previous: str, part: str) -> list[str]:
    timed = _swap_time(previous, part)
    if timed:
        return [timed]
    out = []
    if re.search(r"[\u3400-\u9fff]", previous):
        part_words = [w for w, _ in _tagged(part)]
        # The run of nouns the new part stands for: one ending in the same word ("那女性民警呢"
        # after "男性民警…"), else one word of the same kind.
        runs = [r for r in _noun_runs(previous) if len(r) >= 2 and r != part and r not in part]
        same = [r for r in runs if part_words and r.endswith(part_words[-1])]
        # Any other run may be what the part replaces ("综治考评呢？" after "…党风廉政建设…"); the
        # answer must then hold a word of the part, so a wrong swap finds nothing.
        others = sorted((r for r in runs if r not in same), key=len, reverse=True)
        out += [previous.replace(r, part, 1) for r in same]
        out.append(f"{part}{previous}")
        out += [previous.replace(r, part, 1) for r in others[:2]]
    else:
        out.append(f"{_strip_end(previous)}, {part}{_ends(previous) or '?'}")
    return out


def _pronoun_readings(previous: str, question: str, previous_answer: str | None) -> list[str]:
    subject = topic(previous)
    person_answer = previous_answer if previous_answer and _looks_like_name(previous_answer) else None
    chinese = bool(re.search(r"[\u3400-\u9fff]", question))
    out: list[str] = []
    if chinese:
        person = next((p for p in _PERSON_ZH if p in question), None)
        thing = next((p for p in _THING_ZH if p in question), None)
        # "他/她" stands for a person: the previous answer, or a name in the previous question.
        names = [w for w, f in _tagged(previous) if f in ("nr", "nrfg", "nrt") and len(w) >= 2] if person else []
        referents = ([person_answer] if person and person_answer else []) + names + ([subject] if subject else [])
        if not person and person_answer:
            referents.append(person_answer)
        pronoun = person or thing
        if pronoun is None:
            return []
        noun = re.search(re.escape(pronoun) + r"(?:个|项|些)?([\u3400-\u9fff])", question)
        if noun:  # "这个案子" stands for the referent that is a 案 ("10·29谭江华涉黑组织案") first
            referents.sort(key=lambda r: not r.endswith(noun.group(1)))
        for ref in referents:
            # "该中心" after "市监管中心": the whole phrase stands for it; "它" alone is replaced.
            m = re.search(re.escape(pronoun) + r"(?:个|项|些)?([\u3400-\u9fff]{0,4})", question)
            reading = None
            for n in range(len(m.group(1)), 0, -1):
                if ref.endswith(m.group(1)[:n]):
                    reading = question[: m.start()] + ref + question[m.start(1) + n :]
                    break
            if reading is None:
                reading = question[: m.start()] + ref + question[m.start() + len(pronoun) :]
            out.append(reading)
    else:
        m = _PERSON_EN.search(question) or _THING_EN.search(question)
        if not m:
            return []
        refs = ([person_answer] if person_answer and _PERSON_EN.search(question) else []) + ([subject] if subject else [])
        for ref in refs:
            possessive = m.group(1).lower() in ("its", "their", "his", "her")
            out.append(question[: m.start()] + (f"{ref}'s" if possessive else ref) + question[m.end() :])
    return out


def _looks_like_name(text: str) -> bool:
    """A short answer that can stand for a person or thing ("王德胜", "10·29谭江华涉黑组织案"), not an amount or a date."""
    t = text.strip()
    if not t or len(t) > 16 or "%" in t:
        return False
    rest = re.sub(r"[\d.,·:：\s零一二三四五六七八九十百千万亿余多个人次件名元年月日天起处条项]", "", t)
    return len(rest) >= 2


def readings(previous: str, question: str, previous_answer: str | None = None) -> list[str]:
    """Standalone readings of follow-up `question` after `previous`, the likeliest first.

    Args:
        previous: the question asked before it.
        question: the follow-up.
        previous_answer: the previous turn's short answer (the person "他" may stand for).

    Returns:
        Up to `MAX_READINGS` questions, each different from `previous` and from `question`.
    """
    part = _fragment(question)
    if part:
        out = _fragment_readings(previous, part)
    else:
        out = _pronoun_readings(previous, question, previous_answer)
        if not out and re.search(r"[\u3400-\u9fff]", question):
            subject = topic(previous)
            if subject and subject not in question:
                out.append(f"{subject}{question}")
        # (An English short question is read glued to the previous one, below: its topic is
        # not reliably a run of words.)
    out.append(combine(previous, question))
    seen, unique = {previous.strip(), question.strip()}, []
    for r in out:
        r = r.strip()[:MAX_QUESTION_CHARS]
        if r and r not in seen:
            seen.add(r)
            unique.append(r)
    return unique[:MAX_READINGS]


def _leans(question: str) -> bool:
    """Whether the question cannot stand alone (a fragment or a pronoun), as opposed to being merely short."""
    q = question.strip()
    return bool(_fragment(q)) or any(p in q for p in _THING_ZH + _PERSON_ZH) or bool(
        not re.search(r"[\u3400-\u9fff]", q) and (_PRONOUNS_EN.search(q) or q.lower().startswith(_LEADS_EN))
    )


def answer_follow_up(index, question: str, previous: str | None, *, previous_answer: str | None = None, k: int = K) -> Turn:
    """Answer `question`, reading it with the previous question when it is a follow-up.

    A fragment or a pronoun is only read with the previous turn: its readings are asked in
    order and the first the document answers wins, unless its answer is the previous answer
    again without a word of the follow-up; when none is answered the reply is the first
    reading's "not in the document". A merely short question is asked on its own only when
    no reading is answered.

    Args:
        index: a `qa.Library` (anything with ``ask(question, k)``).
        question: the new question.
        previous: the question asked before it, or None.
        previous_answer: the previous turn's short answer or sentence, if any.
        k: passages to return.

    Returns:
        A `Turn`: the answer, and the reading it answers (None when the question was asked as it is).
    """
    from qa.notfound import no_question

    if not previous or previous.strip() == question.strip() or no_question(question) or not is_follow_up(question):
        return Turn(index.ask(question, k))
    leans = _leans(question)
    terms = [t for t in tokenize(question) if t not in _POINTING and t not in tokenize(previous)]
    first = None
    answered = []
    for reading in readings(previous, question, previous_answer):
        answer = index.ask(reading, k)
        if first is None:
            first = Turn(answer, reading)
        text = unicodedata.normalize("NFKC", answer.text).lower()
        # The follow-up must add something: its own words are in the answer, or the answer is
        # not the previous one again ("红烧肉怎么做" read with the previous question finds that
        # answer). The same sentence may hold both ("投入1.86亿元…15万个视频探头"): the exact
        # answers are compared.
        said = unicodedata.normalize("NFKC", answer.short or answer.text).lower()
        # Without the previous answer (a client that sends none), only the words can tell.
        repeats = not previous_answer or unicodedata.normalize("NFKC", previous_answer).lower() in said
        contributes = not terms or any(t in text for t in terms) or not repeats
        if answer.found and contributes:
            # The same exact answer as the previous turn's ("完成率呢？" marked 45561人 again): the
            # sentence may answer, the span does not; another reading may mark the right one.
            same_span = bool(previous_answer and answer.short) and _norm(answer.short) == _norm(previous_answer)
            answered.append(Turn(_without_span(answer) if same_span else answer, reading))
            if leans and not same_span:
                break
    if leans:
        if not answered:
            return first
        # A later reading may mark a new span in the same sentence; a different sentence does not win.
        return next((t for t in answered if t.answer.short and t.answer.text == answered[0].answer.text), answered[0])
    if answered:  # a short question read with the previous one's topic, and answered so
        return max(answered, key=lambda t: t.answer.confidence)
    return Turn(index.ask(question, k))


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _without_span(answer):
    """The answer with its sentence but no exact answer marked."""
    from dataclasses import replace

    return replace(answer, short="", short_start=-1, short_end=-1)


def answer_in_context(index, question: str, previous: str | None, *, previous_answer: str | None = None, k: int = K):
    """`answer_follow_up` as ``(answer, reading_or_None)``."""
    turn = answer_follow_up(index, question, previous, previous_answer=previous_answer, k=k)
    return turn.answer, turn.reading
