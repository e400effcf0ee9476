"""The chat turn: `respond(message, history)` checks the input, finds the previous question, answers (follow-ups: `qa.conversation`)."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Sequence

from qa import MAX_QUESTION_CHARS, strip_controls
from qa import answer_follow_up
from qa import language, message
from qa import no_question
from ui.render import render_answer, render_not_a_question, render_notice

log = logging.getLogger(__name__)

K = 5

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


def clean_question(message_: Any) -> str:
    """The question without control characters (NUL, escapes, format marks) and outer space.

    Raises:
        ValueError: not text, empty, or longer than the limit; the message is meant for
            people, in the question's language.
    """
    if not isinstance(message_, str):
        raise ValueError(message("err_not_text"))
    lang = language(message_[:500])
    # Checked before any work on the text, so a 100,000-character paste costs nothing.
    if len(message_) > MAX_QUESTION_CHARS * 4:
        raise ValueError(message("err_too_long", lang, length=f"{len(message_):,}", limit=MAX_QUESTION_CHARS))
    cleaned = strip_controls(message_, keep="\n\t")
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    if not cleaned:
        raise ValueError(message("err_empty", lang, example=message("example", lang)))
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise ValueError(message("err_too_long", lang, length=f"{len(cleaned):,}", limit=MAX_QUESTION_CHARS))
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
            question = clean_question(message_text(content))
        except ValueError:
            continue
        if not no_question(question):
            return question
    return None


def previous_answer(history: Sequence[Any] | None) -> str | None:
    """The last reply's plain text (the short answer the app keeps in the conversation), if any."""
    for msg in reversed(list(history or [])):
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            text = message_text(msg.get("content")).strip()
            # An HTML reply (an older client's history) or a placeholder is no referent.
            return text if any(ch.isalnum() for ch in text) and "<" not in text else None
        if isinstance(msg, dict) and msg.get("role") == "user":
            return None
    return None


def answer_turn(message_: Any, history: Sequence[Any] | None = None, *, index=None):
    """One chat turn as data: ``(answer_or_None, reading_or_None, reply_html)``.

    The answer is None when the input was refused (the reply is then the notice).
    """
    try:
        question = clean_question(message_)
    except ValueError as exc:
        return None, None, render_notice(str(exc))
    lang = language(question)
    if no_question(question):  # markup, punctuation, symbols: the library would say the same, unasked
        return None, None, render_not_a_question(lang)
    try:
        turn = answer_follow_up(
            index or _index(), question, previous_question(history), previous_answer=previous_answer(history), k=K
        )
    except ValueError as exc:  # the library's own check of the question
        return None, None, render_notice(message("err_cannot", lang, why=exc))
    except Exception:  # noqa: BLE001 - the chat keeps serving; the details go to the log
        log.exception("answering %r failed", question[:200])
        return None, None, render_notice(message("err_internal", lang))
    return turn.answer, turn.reading, render_answer(turn.answer, context_question=turn.reading, lang=lang)


def remembered(answer) -> str:
    """What the conversation keeps of a reply for the next follow-up: the exact answer or the sentence."""
    if answer is None or not answer.found:
        return ""
    return answer.short or answer.text


def respond(message_: Any, history: Sequence[Any] | None = None, *, index=None) -> str:
    """One chat turn: the reply to `message_`, given the conversation so far.

    Never raises for anything a user can type: bad input and internal errors become a
    friendly message.

    Args:
        message_: what the user typed.
        history: earlier messages, ``[{"role": "user"|"assistant", "content": …}, …]``.
        index: the `qa.Library` to ask; the bundled document's when omitted.

    Returns:
        The reply as HTML in which all text from the question and the document is escaped.
    """
    return answer_turn(message_, history, index=index)[2]
