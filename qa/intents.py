"""What kind of value a question asks for (a count, an amount, a year, a list, a heading, a photo),
and what an answer of that kind looks like.

The words come from the per-language lists in ``qa/data/words/`` (`qa.words`); the
patterns here only arrange them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.words import alternation, words

_ZH, _EN = words("zh"), words("en")
_MEASURES = _ZH["measure_words"]
_NUMERALS = _ZH["numerals"]
_ZH_SMALL = "".join(w for w in _ZH["number_words"] if len(w) == 1)  # 一两二…十
_ZH_SMALL_NO_ONE = _ZH_SMALL.replace("一", "")
_NUMBER_WORDS = {**_ZH["number_words"], **_EN["number_words"], **_EN["ordinals"]}
_LAST = set(_ZH["last_words"]) | set(_EN["last_words"])
# "几" counts only when it is not "哪几" / "这几" / "近几" / "前几" (which few, these few).
_JI = r"(?<![哪这那近前])几"


def number_word(word: str) -> int:
    """The value of a small number word or of digits: "四" -> 4, "second" -> 2, "12" -> 12; 0 if neither."""
    word = word.lower()
    return _NUMBER_WORDS.get(word) or (int(word) if word.isdigit() else 0)


# A quantity: digits that are not part of a date, or a Chinese numeral with a measure word.
_NUMERAL = (
    r"((?<![\d.])(?!\d{4}\s*年)\d+(?:[.,]\d+)*(?!\s*[月日号\d.])"
    r"|[" + _NUMERALS + r"几]+[" + _MEASURES + r"]|[十百千万亿]余)"
)
# "多少起" / "几名": the measure word the answer's number must carry (人 also as 名 / 人次).
_ASKED_MEASURE = re.compile(r"(?:多少|" + _JI + r")\s*([" + _MEASURES.replace("个", "") + r"])")
# "多少贫困户" / "多少确诊病例": a counted noun ending in its own measure word.
# The noun never runs over 的 ("每小时多少公里的人" counts kilometres, not people).
_ASKED_NOUN_MEASURE = re.compile(r"(?:多少|" + _JI + r")(?:个|名|位)?\s*[^\W\d的]{1,3}?([户例人])(?![\u4e00-\u9fff]{0,2}[名个位])")
_MEASURE_ALIASES = _ZH["measure_aliases"]
# "是哪四个" / "哪两年" / "which are the six": a list of that many items.
_ASKED_ITEMS = re.compile(
    r"哪([" + _ZH_SMALL_NO_ONE + r"]|\d{1,2})(?![\d月日号])(?!个?字)"
    r"|\b(?:which|what)\s+(?:are|were)?\s*(?:the\s+)?(" + "|".join(_EN["number_words"]) + r")\b",
    re.I,
)
# A count: a number, "余"/"多" maybe, then one of the measure words (alternatives joined by |).
_COUNT = r"(\d[\d.,]*|[" + _NUMERALS + r"]+)\s*(余|多)?\s*({})"
_EXPECTATIONS = [
    (
        "money",
        r"多少钱|花了多少|花费|投资.{0,8}多少|投入.{0,8}多少|金额|资金|多少亿|多少万元|how much money|\bcost|\bspen[dt]\b|\binvest(?:s|ed|ing|ment|ments)?\b|\bbudget|\bworth\b",
        r"\d[\d.,]*\s*(亿|万|千)?\s*(元|美元|块)|[亿万]元|\$\s*\d",
    ),
    # "比例" asks for a share only as a quantity (多大比例, 比例是多少), not in "哪种米的比例最多" (DRCD train).
    (
        "percent",
        r"百分之|百分比|多少%|比例.{0,6}(?:多少|几)|(?:多大|多少|多高)的?比例|率(是|为|达到?|有)?多少|\bpercent|percentage|\brate\b",
        r"\d[\d.]*\s*%|百分之",
    ),
    # A year is also an early one (845年, 公元前216年), a reign year (民國34年, 會昌五年, 元年)
    # or a century or decade (19世纪, 1950年代).
    (
        "year",
        r"哪一?年|何年|什么年份|which year|what year",
        r"\d{1,4}\s*年|\b\d{4}\b|[〇零一二三四五六七八九]{4}年|[元一二三四五六七八九十]{1,3}年|世纪|年代|庚子|[甲乙丙丁戊己庚辛壬癸][子丑寅卯辰巳午未申酉戌亥]",
    ),
    (
        "date",
        r"哪一?天|几月几[日号]|哪个月|什么时候|何时|什么时间|\bwhen\b|what date|which day",
        r"\d{1,2}\s*月|\d{1,4}\s*年|年初|年底|年末|以来|\d{1,2}\s*日|[元一二三四五六七八九十]{1,3}年|世纪|年代|时期|时代|年间"
        r"|时候|之后|以后|之前|以前|期间|[初中末早晚]期|[朝代]末|[春夏秋冬]季|早上|晚上|平日|周末"
        r"|\b(" + "|".join(_EN["months"]) + r")\b",
    ),
    ("count", r"多少|" + _JI + r"[" + _MEASURES + r"万千百十]|how many|how much|number of", _NUMERAL),
]
_EXPECTATIONS = [(name, re.compile(q, re.I), re.compile(a, re.I)) for name, q, a in _EXPECTATIONS]


@dataclass(frozen=True)
class Expectation:
    """The kind of value a question asks for, and how to tell a sentence that holds one."""

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
_ASKED_CATEGORY = re.compile(r"哪(?:一|个|座|条|片|家|所|些|几个)?\s*(" + "|".join(_ZH["categories"]) + ")")
_ASKED_CATEGORY_EN = re.compile(r"\b(?:which|what)\s+(" + "|".join(_EN["categories"]) + r")s?\b", re.I)
_CATEGORY_EN = _EN["categories"]
_CATEGORY_ANSWERS = {
    k: (_ZH["organisation_suffixes"] if v == "@org" else v) for k, v in _ZH["category_answers"].items()
}
# "how many suspects / cases / square metres": the Chinese measure words such a count carries.
_EN_COUNTED = [(re.compile(r"\bhow many\s+(?:[a-z'\-]+\s+){0,3}?(?:" + q + r")\b", re.I), u) for q, u in _EN["counted"]]


def _english_measure(question: str) -> str | None:
    for asks, units in _EN_COUNTED:
        if asks.search(question):
            return units
    return None


def expected_answer(question: str) -> Expectation | None:
    """The kind of value `question` asks for (a number, money, a date, a place, ...), if any.

    First match wins; None when the question asks for no particular kind of value
    (who / what / why ...).
    """
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


# "第一张配图" / "最后一张照片" / "the second picture": a photo named by its position.
_PHOTO_AT = re.compile(
    r"(?:第([" + _ZH_SMALL.replace("两", "") + r"]|\d{1,2})|(" + alternation(_ZH["last_words"]) + r"))\s*[张幅]\s*(?:配图|照片|图片|相片|插图|图)"
    r"|\b(" + "|".join([*_EN["ordinals"], *_EN["last_words"]]) + r")\s+(?:photo|picture|image|photograph)s?\b",
    re.I,
)


def photo_position(question: str) -> int | None:
    """The position a question names a photo by: 0 for the first, -1 for the last; None if it names none."""
    m = _PHOTO_AT.search(question)
    if not m:
        return None
    word = next(g for g in m.groups() if g).lower()
    if word in _LAST:
        return -1
    return number_word(word) - 1


_YEAR = re.compile(r"(?<![\d.])(?:19|20)\d\d(?![\d.])")


def asked_years(question: str) -> list[str]:
    """The years a question names ("2015年的破案率" -> ["2015"])."""
    return _YEAR.findall(question)


# "X是谁" / "X叫什么": a question for the holder of a title, and the titles it can ask for.
_TITLE = r"(?:" + "|".join(_ZH["title_prefixes"]) + r")?(?:" + "|".join(_ZH["titles"]) + r")"
_ASKS_TITLE_HOLDER = re.compile(r"(" + _TITLE + r")(?:是谁|是哪位|叫什么|叫啥|姓什么|的名字|的姓名)|谁(?:是|担任)(" + _TITLE + r")")


def absent_title(question: str, text: str) -> list[str]:
    """The title a "who is the X" question asks about, when `text` (the document) never uses it.

    A document that never says 副局长 names no deputy director; 市长 inside 副市长
    does not count (a deputy is not the holder). The unit named right before the title
    (政治部主任, 交警支队长) counts too: the document must name that holder, not another 主任.
    """
    from qa.lexical import tokenize

    m = _ASKS_TITLE_HOLDER.search(question)
    if not m:
        return []
    title = m.group(1) or m.group(2)
    start = m.start(1) if m.group(1) else m.start(2)
    words_before = tokenize(question[:start])
    unit = words_before[-1] if words_before and question[:start].endswith(words_before[-1]) and len(words_before[-1]) >= 2 else ""
    for name in ([unit + title] if unit else []) + [title]:
        if not re.search(r"(?<![副常执])" + re.escape(name), text):
            return [name]
    return []


# "哪些" / "哪几类" / "有哪三个" / "分别是什么" / "which ones": the answer is every item of a list.
_ASKS_LIST = re.compile(
    r"哪些|哪几|有什么|包括什么|分别(?:是|有|为)|哪([" + _ZH_SMALL_NO_ONE + r"]|\d{1,2})(?![\d月日号年])"
    r"|\bwhich (?:ones|are|were)\b|\bwhat are the\b|\blist\b",
    re.I,
)
# Items of a list are separated by 、; "等" or clause punctuation ends the list.
_ITEM_SEPARATOR = "、"
_LIST_END = set("，,。．.；;：:！!？?\n（）()[]【】《》等")
_LAST_JOINS = ("以及", "和", "及", "与", "與")
MAX_ITEM_CHARS = 20


def asks_for_list(question: str) -> bool:
    """Whether `question` asks for the items of a list ("有哪几类", "哪三个", "which ones")."""
    return bool(_ASKS_LIST.search(question))


def _item_end(text: str, i: int) -> int:
    """Where the item starting at `i` ends: the next 、, clause punctuation or 等 (or -1 past `MAX_ITEM_CHARS`)."""
    j = i
    while j < len(text) and text[j] != _ITEM_SEPARATOR and text[j] not in _LIST_END:
        j += 1
        if j - i > MAX_ITEM_CHARS:
            return -1
    return j if j > i else -1


def _item_start(text: str, end: int) -> int:
    """Where the item ending at `end` (exclusive) starts, scanning back (or -1 past `MAX_ITEM_CHARS`)."""
    i = end
    while i > 0 and text[i - 1] != _ITEM_SEPARATOR and text[i - 1] not in _LIST_END:
        i -= 1
        if end - i > MAX_ITEM_CHARS:
            return -1
    return i if i < end else -1


def widen_to_list(text: str, start: int, end: int) -> tuple[int, int]:
    """The span `start:end` of `text` widened to the whole list it is an item of ("X、Y、Z").

    Only when the span touches a 、 (it is one or more items, not part of one): items
    are added to the right up to 等 or clause punctuation (a last item after 和 / 及 /
    与 / 以及 too), and to the left. The first item of a list has no separator before it,
    only the clause's start, which may carry a verb ("全力投入防范化解重大风险、精准脱贫"),
    and a last item that runs to the clause's end may carry its predicate ("约鲁巴、伊博三个部族"):
    such an item is added only when no longer than half as much again as the longest other item.
    """
    if not 0 <= start < end <= len(text):
        return start, end
    touches = (start > 0 and text[start - 1] == _ITEM_SEPARATOR) or (end < len(text) and text[end] == _ITEM_SEPARATOR) \
        or _ITEM_SEPARATOR in text[start:end]
    if not touches:
        return start, end
    lengths = [len(p) for p in text[start:end].split(_ITEM_SEPARATOR) if p]

    def closes(stop: int, size: int) -> bool:
        # An item ends cleanly at 、 or 等; one that runs to the clause's end may carry its
        # predicate ("约鲁巴、伊博三个部族"): kept only when no longer than the others allow.
        return (stop < len(text) and text[stop] in "、等") or size <= 1.5 * max(lengths, default=0)

    while end < len(text) and text[end] == _ITEM_SEPARATOR:
        stop = _item_end(text, end + 1)
        if stop < 0 or not closes(stop, stop - end - 1):
            break
        lengths.append(stop - end - 1)
        end = stop
    for join in _LAST_JOINS:  # "X、Y和Z"
        if text.startswith(join, end):
            stop = _item_end(text, end + len(join))
            if stop > 0 and closes(stop, stop - end - len(join)):
                end = stop
            break
    while start > 0 and text[start - 1] == _ITEM_SEPARATOR:
        first = _item_start(text, start - 1)
        if first < 0:
            break
        opened = first == 0 or text[first - 1] != _ITEM_SEPARATOR  # the list's first item: a clause starts there
        if opened and start - 1 - first > 1.5 * max(lengths, default=0):
            break
        lengths.append(start - 1 - first)
        start = first
    return start, end
