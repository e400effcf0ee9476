"""Follow-ups: whether a short question leans on the one before it, and answering it in that context.

A follow-up opens with a connective ("那…呢", "and …", "what about …"), points back with a
pronoun, or is too short to stand alone. The words come from ``qa/data/words/*.json``.
"""

from __future__ import annotations

import re
import unicodedata

from qa.lexical import tokenize
from qa.settings import MAX_QUESTION_CHARS
from qa.words import words

_ZH, _EN = words("zh")["follow_up"], words("en")["follow_up"]
_LEADS_ZH = tuple(_ZH["leads"])
_LEADS_EN = tuple(_EN["leads"])
_PRONOUNS_ZH = tuple(_ZH["pronouns"])
_PRONOUNS_EN = re.compile(r"\b(" + "|".join(_EN["pronouns"]) + r")\b", re.I)
# Words of a follow-up that only point back: they add nothing the answer must contain.
_POINTING = set(_PRONOUNS_ZH) | set(_ZH["filler"]) | set(_EN["filler"])
SHORT_CJK = 8  # characters
SHORT_WORDS = 4  # words, for questions without CJK
K = 5


def is_follow_up(question: str) -> bool:
    """Whether a question probably leans on the one before it."""
    q = question.strip()
    low = q.lower()
    if low.startswith(_LEADS_EN) or q.startswith(_LEADS_ZH):
        return True
    if any(p in q for p in _PRONOUNS_ZH) or _PRONOUNS_EN.search(q):
        return True
    cjk = sum(1 for ch in q if "\u3400" <= ch <= "\u9fff")
    if cjk:
        return cjk <= SHORT_CJK
    return len(re.findall(r"\w+", q)) <= SHORT_WORDS


def combine(previous: str, question: str) -> str:
    """The follow-up read together with the question it leans on."""
    combined = f"{previous.rstrip()} {question}"
    return combined[-MAX_QUESTION_CHARS:]


def answer_in_context(index, question: str, previous: str | None, *, k: int = K):
    """Answer `question`, reading it together with the previous question when it is a follow-up.

    Both readings are asked. The combined one wins when it finds an answer, that answer
    contains a word of the follow-up itself (so the follow-up added something, and an
    unrelated short question does not just repeat the previous answer), and it is more
    confident than the question alone.

    Args:
        index: a `qa.Library` (anything with ``ask(question, k)``).
        question: the new question.
        previous: the question asked before it, or None.
        k: passages to return.

    Returns:
        ``(answer, combined_question_or_None)``.
    """
    alone = index.ask(question, k)
    if not previous or previous == question or not is_follow_up(question):
        return alone, None
    combined = combine(previous, question)
    together = index.ask(combined, k)
    terms = [t for t in tokenize(question) if t not in _POINTING]
    answered_text = unicodedata.normalize("NFKC", together.text).lower()
    contributes = not terms or any(t in answered_text for t in terms)
    if together.found and contributes and (not alone.found or together.confidence > alone.confidence):
        return together, combined
    return alone, None
