"""Turning an `Answer` into the chat reply: HTML built here, every piece of text escaped.

The chat window renders replies as HTML (Markdown rendering is off), so the only markup in
a reply is the markup written in this module; text from the question or the document goes
through `html.escape` first and can never become a tag, an attribute or a link.
"""

from __future__ import annotations

import html
import re
from typing import Sequence

from qa import fold_script, place

LABELS_ZH = {"high": "高", "medium": "中", "low": "低"}
SNIPPET_CHARS = 160


def esc(text: str) -> str:
    """Text as HTML text: ``<img …>`` shows as the characters, never as an element."""
    return html.escape(text, quote=True)


def text_block(text: str) -> str:
    """Escaped text with its line breaks kept."""
    return esc(text).replace("\n", "<br>")


def _term_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    # Terms are in simplified characters; they are found in the folded text, whose
    # positions are the verbatim text's (a traditional quote is highlighted as written).
    text = fold_script(text)
    spans: list[tuple[int, int]] = []
    for term in sorted({t for t in terms if t and t.strip()}, key=len, reverse=True):
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


def highlight(text: str, terms: Sequence[str]) -> str:
    """Escaped `text` with every occurrence of `terms` wrapped in ``<mark>``.

    Spans are found on the raw text and each piece is escaped on its own, so a term can
    never cut an HTML entity in half.
    """
    out, pos = [], 0
    for s, e in _term_spans(text, terms):
        out.append(esc(text[pos:s]))
        out.append(f'<mark class="term">{esc(text[s:e])}</mark>')
        pos = e
    out.append(esc(text[pos:]))
    return "".join(out)


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _where(p) -> str:
    section = f"「{esc(p.section)}」" if p.section else "（无章节）"
    return f"{esc(place(p))} · {section}"  # "report.pdf 第 3 页" for a collection, "第 7 段" otherwise


def _passage_list(passages, *, title: str, open_: bool = False) -> str:
    if not passages:
        return ""
    items = "".join(
        f"<li><b>{_where(p)}</b> · 相关度 {p.score:.3f}<br>{esc(_snippet(p.text))}</li>" for p in passages
    )
    state = " open" if open_ else ""
    return f"<details{state}><summary>{title}（{len(passages)}）</summary><ul>{items}</ul></details>"


def render_answer(answer, *, context_question: str | None = None) -> str:
    """The reply for an answer: the quote, its source, the paragraph, other passages folded.

    Args:
        answer: a `qa.Answer`.
        context_question: when the question was read as a follow-up, the combined
            question that was asked instead (shown so the user sees how it was read).

    Returns:
        HTML for the chat window.
    """
    parts: list[str] = []
    if context_question:
        parts.append(f'<p class="docqa-context">（按上下文理解为：{esc(context_question)}）</p>')
    if not answer.found:
        parts.append('<p class="docqa-notfound"><b>文档中没有找到这个问题的答案。</b></p>')
        parts.append(
            '<p class="docqa-note">下面是最接近的段落，仅供参考，<b>不是答案</b>。</p>'
        )
        parts.append(_passage_list(answer.passages, title="可能相关的段落（不是答案）"))
        return "".join(p for p in parts if p)

    p = answer.passage
    label = LABELS_ZH.get(answer.confidence_label, answer.confidence_label)
    if answer.short:  # the reader's exact answer first, then the sentence that holds it
        parts.append(f'<p class="docqa-short"><b>{esc(answer.short)}</b></p>')
    parts.append(f'<blockquote class="docqa-quote">“{highlight(answer.text, answer.matched_terms)}”</blockquote>')
    source = f"—— {_where(p)}" if p is not None else "——"
    parts.append(
        f'<p class="docqa-source">{source} · 置信度 <b>{esc(label)}</b>（{answer.confidence:.2f}）'
        + (f" · 相关度 {p.score:.3f}" if p is not None else "")
        + "</p>"
    )
    if p is not None:
        if 0 <= answer.start <= answer.end <= len(p.text):
            before, after = p.text[: answer.start], p.text[answer.end :]
            a, b = answer.short_start, answer.short_end
            if answer.short and answer.start <= a < b <= answer.end:  # the exact answer marked inside the sentence
                quote = (
                    text_block(p.text[answer.start : a]) + f'<mark class="short"><b>{text_block(p.text[a:b])}</b></mark>'
                    + text_block(p.text[b : answer.end])
                )
            else:
                quote = text_block(p.text[answer.start : answer.end])
            body = f'{text_block(before)}<mark class="answer">{quote}</mark>{text_block(after)}'
        else:
            body = text_block(p.text)
        parts.append(f'<div class="docqa-paragraph"><div class="docqa-caption">原文（{esc(place(p))}）</div>{body}</div>')
    others = [q for q in answer.passages if p is None or q.id != p.id]
    parts.append(_passage_list(others, title="其他检索到的段落"))
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
