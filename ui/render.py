"""Turning an `Answer` into the chat reply: HTML built here, every piece of text escaped.

The chat window renders replies as HTML (Markdown rendering is off), so the only markup in
a reply is the markup written in this module; text from the question or the document goes
through `html.escape` first and can never become a tag, an attribute or a link.
"""

from __future__ import annotations

import re
from typing import Sequence

from qa import fold_script, place
from qa import message
from ui.document_view import view_url
from ui.escape import esc, text_block

__all__ = ["esc", "text_block", "highlight", "render_answer", "render_documents", "render_notice", "render_user"]

SNIPPET_CHARS = 160
MIN_TERM_CHARS = 2  # a lone character ("市" inside "副市长") marks nothing worth seeing


def _term_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    # Terms are in simplified characters; they are found in the folded text, whose
    # positions are the verbatim text's (a traditional quote is highlighted as written).
    text = fold_script(text)
    spans: list[tuple[int, int]] = []
    for term in sorted({t for t in terms if t and len(t.strip()) >= MIN_TERM_CHARS}, key=len, reverse=True):
        for m in re.finditer(re.escape(term), text, flags=re.IGNORECASE):
            spans.append((m.start(), m.end()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def highlight(text: str, terms: Sequence[str], *, span: tuple[int, int] | None = None) -> str:
    """Escaped `text` with the question's words of two or more characters in ``<mark class="term">``
    and, when given, the exact answer ``text[span[0]:span[1]]`` in ``<mark class="short">``.

    Spans are found on the raw text and each piece is escaped on its own, so a mark can
    never cut an HTML entity in half; a word overlapping the answer is left to the answer.
    """
    marks = [(s, e, "term") for s, e in _term_spans(text, terms)]
    if span is not None and 0 <= span[0] < span[1] <= len(text):
        a, b = span
        marks = [(s, e, k) for s, e, k in marks if e <= a or s >= b] + [(a, b, "short")]
    out, pos = [], 0
    for s, e, kind in sorted(marks):
        out.append(text_block(text[pos:s]))
        inner = text_block(text[s:e])
        out.append(f'<mark class="short"><b>{inner}</b></mark>' if kind == "short" else f'<mark class="term">{inner}</mark>')
        pos = e
    out.append(text_block(text[pos:]))
    return "".join(out)


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _cite(p, lang: str, start: int = -1, end: int = -1) -> str:
    """The citation as a link opening the document view at that paragraph."""
    return (
        f'<a class="docqa-cite" href="{esc(view_url(p, start, end))}" target="_blank" '
        f'title="{esc(message("open_in_document", lang))}">{esc(place(p, lang=lang))}</a>'
    )


def _where(p, lang: str, start: int = -1, end: int = -1) -> str:
    section = f"「{esc(p.section)}」" if p.section else esc(message("no_section", lang))
    return f"{_cite(p, lang, start, end)} · {section}"


def _passage_list(passages, *, title: str, lang: str) -> str:
    if not passages:
        return ""
    items = "".join(f"<li><b>{_where(p, lang)}</b><br>{esc(_snippet(p.text))}</li>" for p in passages)
    count = f"（{len(passages)}）" if lang == "zh" else f" ({len(passages)})"
    return f"<details><summary>{esc(title)}{count}</summary><ul>{items}</ul></details>"


def render_confidence(answer, lang: str) -> str:
    """One confidence: the label, the calibrated probability on hover."""
    label = message(f"label_{answer.confidence_label}", lang) if answer.confidence_label in ("high", "medium", "low") else answer.confidence_label
    hover = message("confidence_hover", lang, percent=f"{answer.confidence:.0%}")
    return (
        f'<span class="docqa-confidence docqa-{esc(answer.confidence_label)}" title="{esc(hover)}">'
        f'{esc(message("confidence", lang))} <b>{esc(label)}</b></span>'
    )


def render_not_a_question(lang: str = "zh") -> str:
    """The reply to input with no question in it, or about nothing the document mentions: no quote, no passages."""
    return (
        f'<p class="docqa-notfound docqa-offtopic"><b>{esc(message("not_a_question", lang))}</b></p>'
        f'<p class="docqa-note">{esc(message("not_a_question_hint", lang, example=message("example", lang)))}</p>'
    )


def render_answer(answer, *, context_question: str | None = None, lang: str | None = None) -> str:
    """The reply for an answer: the exact answer, the quote with it marked, its source, the paragraph folded.

    Args:
        answer: a `qa.Answer`.
        context_question: when the question was read as a follow-up, the reading that was
            answered (shown so the user sees how it was understood).
        lang: the chrome's language (``"zh"``/``"en"``); the question's when omitted.

    Returns:
        HTML for the chat window.
    """
    from qa import language

    lang = lang or language(answer.question)
    parts: list[str] = []
    if context_question:
        parts.append(f'<p class="docqa-reading">{esc(message("reading", lang, reading=context_question))}</p>')
    if not answer.found and answer.off_topic:
        return "".join(parts) + render_not_a_question(lang)
    if not answer.found:
        parts.append(f'<p class="docqa-notfound"><b>{esc(message("not_found", lang))}</b></p>')
        parts.append(f'<p class="docqa-note">{esc(message("nearest_note", lang))}</p>')
        parts.append(_passage_list(answer.passages, title=message("nearest_title", lang), lang=lang))
        return "".join(p for p in parts if p)

    p = answer.passage
    in_sentence = None
    if p is not None and answer.short and answer.start <= answer.short_start < answer.short_end <= answer.end:
        in_sentence = (answer.short_start - answer.start, answer.short_end - answer.start)
    if answer.short:  # the reader's exact answer first, then the sentence that holds it
        parts.append(f'<p class="docqa-short"><b>{esc(answer.short)}</b></p>')
    parts.append(f'<blockquote class="docqa-quote">“{highlight(answer.text, answer.matched_terms, span=in_sentence)}”</blockquote>')
    source = f"—— {_where(p, lang, answer.start, answer.end)}" if p is not None else "——"
    parts.append(f'<p class="docqa-source">{source} · {render_confidence(answer, lang)}</p>')
    if p is not None:
        if 0 <= answer.start <= answer.end <= len(p.text):
            before, after = p.text[: answer.start], p.text[answer.end :]
            body = f'{text_block(before)}<mark class="answer">{text_block(p.text[answer.start : answer.end])}</mark>{text_block(after)}'
        else:
            body = text_block(p.text)
        caption = esc(message("paragraph_caption", lang, place=place(p, lang=lang)))
        parts.append(
            f'<details class="docqa-paragraph"><summary class="docqa-caption">{caption} · {esc(message("show_paragraph", lang))}'
            f"</summary>{body}</details>"
        )
    others = [q for q in answer.passages if p is None or q.id != p.id]
    parts.append(_passage_list(others, title=message("other_passages", lang), lang=lang))
    return "".join(x for x in parts if x)


def render_documents(documents, skipped=()) -> str:
    """The list of loaded documents (name, passages, pages) and the files that could not be read."""
    items = "".join(
        f"<li>{esc(d.name)} <span class=\"docqa-note\">（{d.passages} 段"
        + (f"，{d.pages} 页" if d.pages else "")
        + "）</span></li>"
        for d in documents
    )
    bad = "".join(f"<li>{esc(name)}：{esc(why)}</li>" for name, why in skipped)
    out = f"<details open><summary>已载入的文档（{len(documents)}）</summary><ul>{items}</ul></details>"
    if bad:
        out += f'<details><summary class="docqa-notfound">无法读取的文件（{len(skipped)}）</summary><ul>{bad}</ul></details>'
    return out


def render_notice(text: str) -> str:
    """A friendly one-line message (bad input, errors)."""
    return f'<p class="docqa-notice">{esc(text)}</p>'


def render_user(message: str) -> str:
    """The user's own message as it appears in the chat: text, never markup."""
    if not message.strip():
        return '<span class="docqa-note">（空消息）</span>'
    if len(message) > 500:  # a huge paste would bury the conversation
        message = message[:500] + f"…（共 {len(message):,} 个字符）"
    return text_block(message)
