"""The chat turn: `respond(message, history)` checks the input, finds the previous question, answers (follow-ups: `qa.conversation`)."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Sequence

from qa import MAX_QUESTION_CHARS, answer_in_context, strip_controls
from ui.render import render_answer, render_notice

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
    cleaned = strip_controls(message, keep="\n\t")
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


def respond(message: Any, history: Sequence[Any] | None = None, *, index=None) -> str:
    """One chat turn: the reply to `message`, given the conversation so far.

    Never raises for anything a user can type: bad input and internal errors become a
    friendly message.

    Args:
        message: what the user typed.
        history: earlier messages, ``[{"role": "user"|"assistant", "content": …}, …]``.
        index: the `qa.Library` to ask; the bundled document's when omitted.

    Returns:
        The reply as HTML in which all text from the question and the document is escaped.
    """
    try:
        question = clean_question(message)
    except ValueError as exc:
        return render_notice(str(exc))
    try:
        answer, combined = answer_in_context(index or _index(), question, previous_question(history), k=K)
    except ValueError as exc:  # the library's own check of the question
        return render_notice(f"这个问题无法处理：{exc}")
    except Exception:  # noqa: BLE001 - the chat keeps serving; the details go to the log
        log.exception("answering %r failed", question[:200])
        return render_notice("抱歉，回答这个问题时出错了，请换个说法再试一次。")
    return render_answer(answer, context_question=combined)
