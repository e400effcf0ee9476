"""Answers: the result types, choosing the answer sentence, and the not-found decision."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from qa.corpus import Sentence


@dataclass(frozen=True)
class Passage:
    """A retrieved passage, verbatim, with where it stands and how well it matched."""

    id: int  # its number in reading order (1-based)
    text: str
    score: float  # fused relevance, higher is better
    section: str
    kind: str = "paragraph"
    dense: float = 0.0  # cosine similarity to the question
    lexical: float = 0.0  # BM25 score
    source: str = ""  # the file it comes from
    page: int = 0  # its page in a paged format (PDF); 0 where pages do not apply


@dataclass(frozen=True)
class Answer:
    """What `ask` returns.

    ``found`` is False when the document does not answer the question; ``passages``
    then lists the nearest passages as possibly related, never as the answer.
    """

    question: str
    found: bool
    text: str  # verbatim sentence(s) of the document; "" when not found
    passages: list[Passage]
    confidence: float  # 0..1, how sure the system is that `text` answers
    passage_id: int | None = None  # the passage holding `text`
    start: int = -1  # where `text` starts inside that passage's text
    end: int = -1
    matched_terms: list[str] = field(default_factory=list)
    signals: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    evidence: float = 0.0  # the raw match strength the not-found decision thresholds
    timings: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def passage(self) -> Passage | None:
        """The passage the answer was quoted from."""
        return next((p for p in self.passages if p.id == self.passage_id), None)

    @property
    def confidence_label(self) -> str:
        return confidence_label(self.confidence, self.found)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "found": self.found,
            "answer": self.text,
            "confidence": round(self.confidence, 4),
            "confidence_label": self.confidence_label,
            "passage_id": self.passage_id,
            "start": self.start,
            "end": self.end,
            "passages": [
                {
                    "id": p.id,
                    "section": p.section,
                    "kind": p.kind,
                    "score": round(p.score, 4),
                    "dense": round(p.dense, 4),
                    "lexical": round(p.lexical, 4),
                    "source": p.source,
                    "page": p.page,
                    "text": p.text,
                }
                for p in self.passages
            ],
        }


def confidence_label(confidence: float, found: bool) -> str:
    if not found:
        return "not in the document"
    if confidence >= 0.75:
        return "high"
    if confidence >= 0.5:
        return "medium"
    return "low"


def coverage(terms: Sequence[str], text: str) -> float:
    """Share of the question's words (weighted by length) that occur in `text`."""
    total = sum(len(t) for t in terms)
    if not total:
        return 0.0
    low = text.lower()
    return sum(len(t) for t in terms if t in low) / total


# What kind of value a question asks for, read from its interrogative words, and what
# an answer of that kind looks like. First match wins; None when the question asks for
# no particular kind of value (who / what / why ...).
_MEASURES = "个名人起次项条处位家所座辆台种届年倍天例件只册本张套架艘头匹份间栋层篇部首封批户"
# A quantity: digits that are not part of a date, or a Chinese numeral with a measure word.
_NUMERAL = (
    r"((?<![\d.])(?!\d{4}\s*年)\d+(?:[.,]\d+)*(?!\s*[月日号\d.])"
    r"|[一二两三四五六七八九十百千万亿几]+[" + _MEASURES + r"]|[十百千万亿]余)"
)
# "多少起" / "几名": the measure word the answer's number must carry (人 also as 名 / 人次).
_ASKED_MEASURE = re.compile(r"(?:多少|(?<![哪这那近前])几)\s*([" + _MEASURES.replace("个", "") + r"])")
# "多少贫困户" / "多少确诊病例": a counted noun ending in its own measure word.
_ASKED_NOUN_MEASURE = re.compile(r"(?:多少|(?<![哪这那近前])几)(?:个|名|位)?\s*[\u4e00-\u9fff]{1,3}?([户例人])(?![\u4e00-\u9fff]{0,2}[名个位])")
_MEASURE_ALIASES = {"人": "人名", "名": "名人", "次": "次", "位": "位名人"}
# Small numbers as questions write them: 两 / 四 / "six" / "second", or digits.
_NUMBER_WORDS = {
    "一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
}


def number_word(word: str) -> int:
    """The value of a small number word or of digits: "四" -> 4, "second" -> 2, "12" -> 12; 0 if neither."""
    word = word.lower()
    return _NUMBER_WORDS.get(word) or (int(word) if word.isdigit() else 0)


# "是哪四个" / "哪两年": a list of that many items.
_ASKED_ITEMS = re.compile(
    r"哪([两二三四五六七八九十]|\d{1,2})(?![\d月日号])(?!个?字)"
    r"|\b(?:which|what)\s+(?:are|were)?\s*(?:the\s+)?(two|three|four|five|six|seven|eight|nine|ten)\b",
    re.I,
)
# A count: a number, "余"/"多" maybe, then one of the measure words (alternatives joined by |).
_COUNT = r"(\d[\d.,]*|[一二两三四五六七八九十百千万亿]+)\s*(余|多)?\s*({})"
_EXPECTATIONS = [
    (
        "money",
        r"多少钱|花了多少|花费|投资.{0,8}多少|投入.{0,8}多少|金额|资金|多少亿|多少万元|how much money|\bcost|\bspen[dt]\b|\binvest(?:s|ed|ing|ment|ments)?\b|\bbudget|\bworth\b",
        r"\d[\d.,]*\s*(亿|万|千)?\s*(元|美元|块)|[亿万]元|\$\s*\d",
    ),
    ("percent", r"百分之|百分比|多少%|比例|率(是|为|达到?|有)?多少|\bpercent|percentage|\brate\b", r"\d[\d.]*\s*%|百分之"),
    ("year", r"哪一?年|何年|什么年份|which year|what year", r"\d{4}\s*年|\b\d{4}\b|[〇零一二三四五六七八九]{4}年|庚子|[甲乙丙丁戊己庚辛壬癸][子丑寅卯辰巳午未申酉戌亥]"),
    (
        "date",
        r"哪一?天|几月几[日号]|哪个月|什么时候|何时|什么时间|\bwhen\b|what date|which day",
        r"\d{1,2}\s*月|\d{4}\s*年|年初|年底|年末|以来|\d{1,2}\s*日|\b(january|february|march|april|may|june|july|august|september|october|november|december)\b",
    ),
    ("count", r"多少|(?<![哪这那近前])几[个名人起次项条处位家所座辆台种届年倍天例件只万千百十]|how many|how much|number of", _NUMERAL),
]
_EXPECTATIONS = [(name, re.compile(q, re.I), re.compile(a, re.I)) for name, q, a in _EXPECTATIONS]


@dataclass(frozen=True)
class Expectation:
    kind: str
    pattern: re.Pattern | None = None
    items: int = 0  # a list of at least this many items

    def satisfied_by(self, text: str) -> bool:
        if self.items:
            return enumerated(text) >= self.items
        return bool(self.pattern.search(text))


def enumerated(text: str) -> int:
    """How many items a sentence lists: "甲、乙、丙" -> 3, "“甲”“乙”" -> 2, "甲与乙" -> 2."""
    quoted = len(re.findall(r"“[^”]{1,30}”", text))
    return max(1 + text.count("、") + text.count("；"), quoted, 1 + len(re.findall(r"[与和及]", text)))


_ASKS_SECTION = re.compile(r"小标题|章节|(这|那|哪)一?(部分|段|节|块).{0,6}(标题|题目)|section (title|heading)|heading of the section|\bheading\b")
# English "title" is a heading only as "the title" / "title of": "which national title" is an honour.
_ASKS_TITLE = re.compile(r"标题|题目|题为|\b(?:the|its|article'?s|report'?s)\s+(?:main\s+)?title\b|\btitle of\b|headline|subtitle|副标题", re.I)


def asks_for_heading(question: str) -> str | None:
    """``"section"`` or ``"title"`` when the question asks for a heading, else None.

    Headings are not passages (they answer nothing by themselves), but "what is the
    title of the part about X" is answered by one, quoted verbatim.
    """
    if _ASKS_SECTION.search(question):
        return "section"
    if _ASKS_TITLE.search(question):
        return "title"
    return None


# "哪个区" / "哪条路": the answer names a place of that kind (荷塘区, 新华路).
# "哪个部门" / "哪家企业": an organisation of that kind (市卫健委, 华为技术有限公司).
_ASKED_CATEGORY = re.compile(
    r"哪(?:一|个|座|条|片|家|所|些|几个)?\s*(城市|省|国家|区|县|镇|乡|街道|村|路|街|部门|单位|机构|公司|企业|分局|支队|大队|派出所|学校|大学|医院)"
)
_ASKED_CATEGORY_EN = re.compile(
    r"\b(?:which|what)\s+(district|county|town|township|village|road|street|department|unit|agency|company|"
    r"enterprise|branch|detachment|brigade|school|university|hospital)s?\b",
    re.I,
)
_CATEGORY_EN = {
    "district": "区", "county": "县", "town": "镇", "township": "乡", "village": "村", "road": "路", "street": "街",
    "department": "部门", "unit": "单位", "agency": "机构", "company": "公司", "enterprise": "企业",
    "branch": "分局", "detachment": "支队", "brigade": "大队", "school": "学校", "university": "大学", "hospital": "医院",
}
_ORG = "部|委|厅|局|办|署|院|所|队|中心|公司|集团|单位"
_CATEGORY_ANSWERS = {
    "区": "区|分局",  # a district's police branch bears its name (荷塘分局 of 荷塘区)
    "县": "县|分局",
    "城市": "市",
    "国家": "国",
    "路": "路|街|大道",
    "街": "街|路|大道",
    "街道": "街道|街|镇|乡",
    "部门": _ORG,
    "单位": _ORG,
    "机构": _ORG,
    "公司": "公司|集团|企业|厂",
    "企业": "公司|集团|企业|厂",
    "学校": "学|校|院",
    "大学": "学|校|院",
    "医院": "医院|院",
}


# "how many suspects / cases / square metres": the Chinese measure words such a count carries.
_EN_COUNTED = [
    (r"people|persons|suspects|visitors|officers|policemen|police officers|residents|victims|members|staff|"
     r"employees|students|graduates|criminals|gangsters|recruits|patients|women|children", "人|名|人次"),
    (r"cases|crimes|incidents|accidents|frauds", "起|件|宗"),
    (r"households|families", "户"),
    (r"cars|vehicles|trucks", "辆|台"),
    (r"square met(?:er|re)s|sq\.? ?m|hectares|acres", "平方米|㎡|亩|公顷"),
    (r"times", "次"),
    (r"years", "年"),
]
_EN_COUNTED = [(re.compile(r"\bhow many\s+(?:[a-z'\-]+\s+){0,3}?(?:" + q + r")\b", re.I), u) for q, u in _EN_COUNTED]


def _english_measure(question: str) -> str | None:
    for asks, units in _EN_COUNTED:
        if asks.search(question):
            return units
    return None


def expected_answer(question: str) -> Expectation | None:
    """The kind of value `question` asks for (a number, money, a date, a place, ...), if any."""
    m = _ASKED_ITEMS.search(question)
    if m:
        n = number_word(m.group(1) or m.group(2))
        if n >= 2:
            return Expectation(f"list:{n}", items=n)
    m = _ASKED_CATEGORY.search(question) or _ASKED_CATEGORY_EN.search(question)
    if m:
        kind = _CATEGORY_EN.get(m.group(1).lower(), m.group(1))
        return Expectation(f"category:{kind}", re.compile(r"\w(?:" + _CATEGORY_ANSWERS.get(kind, kind) + ")"))
    for name, asks, looks_like in _EXPECTATIONS:
        if asks.search(question):
            if name == "count":
                units, kind = _english_measure(question), None
                if units:
                    kind = units.split("|")[0]
                else:
                    m = _ASKED_MEASURE.search(question) or _ASKED_NOUN_MEASURE.search(question)
                    if m:
                        kind = m.group(1)
                        units = "|".join(_MEASURE_ALIASES.get(kind, kind))
                if units:
                    return Expectation(f"count:{kind}", re.compile(_COUNT.format(units)))
            return Expectation(name, looks_like)
    return None


@dataclass(frozen=True)
class SentenceChoice:
    passage_index: int  # index into the candidate list
    sentence: Sentence
    end: int
    score: float
    similarity: float
    type_ok: bool = True  # the sentence holds the kind of value the question asks for
    type_gap: float = 0.0  # how much less relevant the best sentence of the right kind is than the best one


def choose_sentence(
    candidates: Sequence[tuple[int, float, Sequence[Sentence], np.ndarray, str]],
    terms: Sequence[str],
    *,
    passage_weight: float = 0.3,
    lexical_weight: float = 0.3,
    expect: Expectation | None = None,
    type_penalty: float = 0.3,
    lead_penalty: float = 0.1,
    lead_chars: int = 30,
    char_weight: float = 0.2,
) -> SentenceChoice | None:
    """Pick the sentence that best answers, among the top passages.

    Args:
        candidates: per passage (index, fused passage score in 0..1, its sentences,
            the sentences' cosine similarities to the question, passage text).
        terms: the question's words.
        expect: the kind of value asked for; sentences without one are penalised.
        char_weight: weight of the share of the question's Chinese characters (of its
            words) that the sentence holds: a paraphrase shares characters more often
            than words (dev split: answer accuracy 0.801 -> 0.816).
        lead_penalty: taken off a passage's short first sentence (at most `lead_chars`,
            in a passage of three or more): "近5年来，株洲公安力推改革，佳绩频传。" sums up
            what the next sentences say, and those are what a question asks for (dev split:
            answer accuracy 0.786 -> 0.796).

    Returns:
        The best sentence, extended by the next one when it is too short to stand
        alone, or None when there are no sentences.
    """
    best: SentenceChoice | None = None
    best_any = best_typed = None
    qchars = {c for c in "".join(terms) if "\u4e00" <= c <= "\u9fff"}
    for idx, pscore, sentences, sims, text in candidates:
        for j, s in enumerate(sentences):
            sim = float(sims[j]) if j < len(sims) else 0.0
            score = sim + lexical_weight * coverage(terms, s.text) + passage_weight * pscore
            if qchars:  # characters carry a paraphrase that words miss (毒品大案 / 贩毒案)
                score += char_weight * sum(c in s.text for c in qchars) / len(qchars)
            if j == 0 and len(sentences) >= 3 and len(s.text) <= lead_chars:
                score -= lead_penalty  # a short opening line announces the topic, the next ones answer
            end = s.start + len(s.text)
            if len(s.text) < 12 and j + 1 < len(sentences):  # too short to answer alone
                nxt = sentences[j + 1]
                end = nxt.start + len(nxt.text)
            ok = expect is None or expect.satisfied_by(text[s.start : end])
            best_any = score if best_any is None else max(best_any, score)
            if ok:
                best_typed = score if best_typed is None else max(best_typed, score)
            if not ok:
                score -= type_penalty
            if best is None or score > best.score:
                best = SentenceChoice(idx, s, end, score, sim, ok)
    if best is not None and expect is not None:
        gap = 0.5 if best_typed is None else min(0.5, max(0.0, best_any - best_typed))
        best = SentenceChoice(best.passage_index, best.sentence, best.end, best.score, best.similarity, best.type_ok, gap)
    return best
