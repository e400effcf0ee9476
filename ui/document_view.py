"""The document view: the whole text of one file, paragraphs numbered, sections and pages marked, served at ``/view``.

Every citation in a reply links here (`view_url`): the page opens at the cited paragraph
with the answer sentence highlighted. For a folder, the files are listed at the top and
shown one at a time. All document text is escaped, as in the chat.
"""

from __future__ import annotations

from urllib.parse import urlencode

from qa import paragraph_number
from qa import message
from ui.escape import esc, text_block

VIEW_PATH = "/view"

CSS = """
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
  max-width: 52rem; margin: 0 auto; padding: 0.8rem 1rem 4rem; line-height: 1.75; color: #1f2328; }
h1 { font-size: 1.3rem; margin: 0.4rem 0; }
nav { font-size: 0.92em; margin: 0.4rem 0 1rem; }
nav a { margin-right: 0.8rem; }
nav a.current { font-weight: 700; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; border-bottom: 1px solid #d0d7de; }
.page { color: #6e7781; font-size: 0.85em; margin: 1rem 0 0.2rem; }
.para { display: flex; gap: 0.6rem; padding: 0.25rem 0.4rem; border-radius: 6px; scroll-margin-top: 30vh; }
.para .n { color: #6e7781; min-width: 2.6rem; text-align: right; font-size: 0.85em; padding-top: 0.15rem;
  text-decoration: none; }
.para.cited { background: #eef7f1; outline: 2px solid #2f7d4f; }
mark.answer { background: #fff1a8; color: inherit; }
"""


def view_url(passage, start: int = -1, end: int = -1) -> str:
    """The link that opens the document view at `passage`, with ``[start, end)`` of its text highlighted."""
    query = {"u": passage.id}
    if 0 <= start < end:
        query.update(s=start, e=end)
    return f"{VIEW_PATH}?{urlencode(query)}#u{passage.id}"


def _file_url(name: str) -> str:
    return f"{VIEW_PATH}?{urlencode({'file': name})}"


def render_view(index, *, unit: int | None = None, file: str | None = None, start: int = -1, end: int = -1, lang: str = "zh") -> str:
    """The document view page as HTML.

    Args:
        index: the `qa.Library` served.
        unit: the cited passage's id; its file is shown, the passage marked.
        file: a file of a folder to show (its name as listed), when no passage is cited.
        start, end: the answer sentence inside the cited passage's text.
        lang: the page's language.

    Raises:
        LookupError: no such passage or file (the route turns it into a 404).
    """
    units = index.document.units
    cited = None
    if unit is not None:
        if not 0 <= unit < len(units) or units[unit].id != unit:
            cited = next((u for u in units if u.id == unit), None)
        else:
            cited = units[unit]
        if cited is None:
            raise LookupError(f"no passage {unit}")
        file = cited.source or None
    names = [d.name for d in index.documents] if index.cites_files else []
    if file is not None and names and file not in names:
        raise LookupError(f"no file {file!r}")
    if names and file is None:
        file = names[0]
    shown = [u for u in units if not names or u.source == file]
    title = index.document.title or (file or "")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)} · docqa</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(file or title)}</h1>",
    ]
    if names:
        links = "".join(
            f"<a href='{esc(_file_url(n))}'" + (" class='current'" if n == file else "") + f">{esc(n)}</a>" for n in names
        )
        parts.append(f"<nav>{links}</nav>")
    section, page = None, None
    for u in shown:
        if u.page and u.page != page:
            page = u.page
            parts.append(f"<div class='page'>{esc(message('page', lang, page=page))}</div>")
        if u.section and u.section != section:
            section = u.section
            parts.append(f"<h2>{esc(section)}</h2>")
        n = paragraph_number(u)
        text = u.text
        if cited is not None and u.id == cited.id and 0 <= start < end <= len(text):
            body = f"{text_block(text[:start])}<mark class='answer'>{text_block(text[start:end])}</mark>{text_block(text[end:])}"
        else:
            body = text_block(text)
        mark = " cited" if cited is not None and u.id == cited.id else ""
        label = esc(message("paragraph", lang, n=n))
        parts.append(
            f"<div class='para{mark}' id='u{u.id}'><a class='n' href='#u{u.id}' title='{label}'>{n}</a><div>{body}</div></div>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def document_router(index):
    """A FastAPI router serving ``GET /view`` for `index` (mounted next to the chat)."""
    from fastapi import APIRouter, Query
    from fastapi.responses import HTMLResponse

    router = APIRouter()

    @router.get(VIEW_PATH, response_class=HTMLResponse, summary="The document view: one file's whole text, the cited paragraph marked")
    def view(
        u: int | None = Query(None, description="the cited passage's id"),
        file: str | None = Query(None, description="a file of the folder, by its listed name"),
        s: int = Query(-1, description="start of the answer sentence in the passage"),
        e: int = Query(-1, description="end of the answer sentence in the passage"),
        lang: str = Query("zh", pattern="^(zh|en)$"),
    ):
        try:
            return HTMLResponse(render_view(index, unit=u, file=file, start=s, end=e, lang=lang))
        except LookupError as exc:
            return HTMLResponse(f"<!doctype html><meta charset='utf-8'><p>{esc(str(exc))}</p>", status_code=404)

    return router
