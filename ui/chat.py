"""The chat turn: `respond(message, history)` checks the input, reads follow-ups in context, answers."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from typing import Any, Sequence

from qa.config import MAX_QUESTION_CHARS
from qa.lexical import tokenize
from ui.render import render_answer, render_notice

log = logging.getLogger(__name__)

K = 5

# A follow-up leans on the previous question: it opens with a connective ("那…呢",
# "and …", "what about …"), points back with a pronoun, or is too short to stand alone.
_LEADS_ZH = ("那么", "那", "它", "他们", "她们", "他", "她", "其", "这个", "那个", "该", "还有", "另外", "此外", "以及")
_LEADS_EN = ("and ", "what about", "how about", "and what", "then ", "so ", "also ")
_PRONOUNS_ZH = ("它", "他们", "她们", "其中", "这个", "那个", "这些", "那些", "此项", "该项", "上述")
_PRONOUNS_EN = re.compile(r"\b(it|its|they|them|their|that|this|these|those|there|he|she|his|her)\b", re.I)
_PRONOUN_WORDS = set(_PRONOUNS_ZH) | {"它", "他", "她", "那么", "what", "about", "how", "and", "then", "also"}
_SHORT_CJK = 8  # characters
_SHORT_WORDS = 4  # words, for questions without CJK

_default_index = None
_default_lock = threading.Lock()


def _index():
    """The bundled document's index, loaded on first use (tests and `build_app` pass their own)."""
    global _default_index
    with _default_lock:
        if _default_index is None:
            from qa import load_index

            _default_index = load_index()
        return _default_index


def message_text(content: Any) -> str:
    """The text of a chat message's content in any of Gradio 6's shapes.

    Gradio 6 hands history as ``{"role", "content"}`` dicts whose content is a string
    (messages the app appended itself) or a list of ``{"type": "text", "text": …}`` parts
    (after the Chatbot component's preprocessing).
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(t for t in (message_text(c) for c in content) if t)
    return ""


def clean_question(message: Any) -> str:
    """The question without control characters (NUL, escapes, format marks) and outer space.

    Raises:
        ValueError: not text, empty, or longer than the limit; the message is meant for people.
    """
    if not isinstance(message, str):
        raise ValueError("请输入文字问题。")
    # Checked before any work on the text, so a 100,000-character paste costs nothing.
    if len(message) > MAX_QUESTION_CHARS * 4:
        raise ValueError(f"问题太长了（{len(message):,} 个字符）。请把问题缩短到 {MAX_QUESTION_CHARS} 字以内。")
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch not in "\n\t" else ch for ch in message
    )
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    if not cleaned:
        raise ValueError("请输入一个问题，例如：疫情期间共核查了多少人员？")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise ValueError(f"问题太长了（{len(cleaned):,} 个字符）。请把问题缩短到 {MAX_QUESTION_CHARS} 字以内。")
    if not any(ch.isalnum() for ch in cleaned):
        raise ValueError("没有看懂这个问题：请用文字提问，例如：疫情期间共核查了多少人员？")
    return cleaned


def previous_question(history: Sequence[Any] | None) -> str | None:
    """The last usable question the user asked before this one."""
    for msg in reversed(list(history or [])):
        if isinstance(msg, dict):
            role, content = msg.get("role"), msg.get("content")
        elif isinstance(msg, (list, tuple)) and len(msg) == 2:  # the old [user, bot] pair shape
            role, content = "user", msg[0]
        else:
            continue
        if role != "user":
            continue
        try:
            return clean_question(message_text(content))
        except ValueError:
            continue
    return None


def is_follow_up(question: str) -> bool:
    """Whether a question probably leans on the one before it (see the module constants)."""
    q = question.strip()
    low = q.lower()
    if low.startswith(_LEADS_EN) or q.startswith(_LEADS_ZH):
        return True
    if any(p in q for p in _PRONOUNS_ZH) or _PRONOUNS_EN.search(q):
        return True
    cjk = sum(1 for ch in q if "\u3400" <= ch <= "\u9fff")
    if cjk:
        return cjk <= _SHORT_CJK
    return len(re.findall(r"\w+", q)) <= _SHORT_WORDS


def combine(previous: str, question: str) -> str:
    """The follow-up read together with the question it leans on."""
    combined = f"{previous.rstrip()} {question}"
    return combined[-MAX_QUESTION_CHARS:]


def answer_in_context(index, question: str, history: Sequence[Any] | None, *, k: int = K):
    """Answer `question`, reading it together with the previous question when it is a follow-up.

    Both readings are asked. The combined one wins when it finds an answer, that answer
    contains a word of the follow-up itself (so the follow-up added something, and an
    unrelated short question does not just repeat the previous answer), and it is more
    confident than the question alone.

    Returns:
        ``(answer, combined_question_or_None)``.
    """
    alone = index.ask(question, k)
    prev = previous_question(history)
    if not prev or prev == question or not is_follow_up(question):
        return alone, None
    combined = combine(prev, question)
    together = index.ask(combined, k)
    terms = [t for t in tokenize(question) if t not in _PRONOUN_WORDS]
    answered_text = unicodedata.normalize("NFKC", together.text).lower()
    contributes = not terms or any(t in answered_text for t in terms)
    if together.found and contributes and (not alone.found or together.confidence > alone.confidence):
        return together, combined
    return alone, None


def respond(message: Any, history: Sequence[Any] | None = None, *, index=None) -> str:
    """One chat turn: the reply to `message`, given the conversation so far.

    Never raises for anything a user can type: bad input and internal errors become a
    friendly message.

    Args:
        message: what the user typed.
        history: earlier messages, ``[{"role": "user"|"assistant", "content": …}, …]``.
        index: the `qa.DocumentIndex` to ask; the bundled document's when omitted.

    Returns:
        The reply as HTML in which all text from the question and the document is escaped.
    """
    try:
        question = clean_question(message)
    except ValueError as exc:
        return render_notice(str(exc))
    try:
        answer, combined = answer_in_context(index or _index(), question, history)
    except ValueError as exc:  # the library's own check of the question
        return render_notice(f"这个问题无法处理：{exc}")
    except Exception:  # noqa: BLE001 - the chat keeps serving; the details go to the log
        log.exception("answering %r failed", question[:200])
        return render_notice("抱歉，回答这个问题时出错了，请换个说法再试一次。")
    return render_answer(answer, context_question=combined)
