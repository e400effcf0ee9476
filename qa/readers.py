"""File formats: .txt/.md, .docx, .pdf and .html read into a `Document` of passages with pages.

Every format is first turned into lines of text (Markdown ``#`` lines for headings, a blank
line between paragraphs) and then read by `qa.corpus.parse_text`, so the same repairs apply
everywhere: hard-wrapped lines, a paragraph that runs across a page break, captions. PDF
pages are cleaned first of what the layout repeats on every page (running headers and
footers, page numbers), and each passage records the page it starts on.
"""

from __future__ import annotations

import bisect
import io
import logging
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

from qa.corpus import MAX_PASSAGE_CHARS, Document, decode_bytes, parse_text
from qa.normalize import strip_controls

log = logging.getLogger(__name__)

# Suffix (lower case) -> format. Anything else is not read.
FORMATS = {
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".markdown": "text",
    ".docx": "docx",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
}
SUPPORTED_SUFFIXES = tuple(FORMATS)

# A line that is only a page number: "12", "- 12 -", "Page 3", "Page 3 of 10", "第 3 页", "3 / 10".
_PAGE_LINE = re.compile(
    r"^\s*(?:[-–—·.\s]*\d{1,4}[-–—·.\s]*"
    r"|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?"
    r"|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"
    r"|\d{1,4}\s*/\s*\d{1,4})\s*$",
    re.IGNORECASE,
)
_EDGE_LINES = 2  # running headers/footers are looked for in this many lines at each end of a page


class UnreadableDocument(ValueError):
    """A file docqa cannot read (damaged, encrypted, scanned without text); the message names it."""


def file_format(path: str | Path) -> str | None:
    """'text', 'docx', 'pdf', 'html', or None for a type docqa does not read."""
    return FORMATS.get(Path(path).suffix.lower())


def read_file(path: str | Path, *, name: str | None = None, max_chars: int = MAX_PASSAGE_CHARS) -> Document:
    """Read one file of any supported format.

    Args:
        path: the file.
        name: how passages cite it (their ``source``); the file name when omitted.
        max_chars: longest passage before it is split.

    Returns:
        A `Document` whose units carry ``source`` and, for PDF, ``page``.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: an unsupported type; `UnreadableDocument` when the file cannot be read.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"document not found: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"document is a directory, not a file: {p}")
    return parse_bytes(p.read_bytes(), suffix=p.suffix, name=name or p.name, path=str(p), max_chars=max_chars)


def parse_bytes(
    data: bytes, *, suffix: str, name: str, path: str = "", max_chars: int = MAX_PASSAGE_CHARS
) -> Document:
    """Read a file's bytes by its suffix (see `read_file`)."""
    fmt = FORMATS.get(suffix.lower())
    if fmt is None:
        raise ValueError(f"{name}: unsupported file type {suffix or '(none)'!r}; docqa reads {', '.join(SUPPORTED_SUFFIXES)}")
    if not data.strip():
        raise UnreadableDocument(f"{name}: the file is empty")
    if fmt == "pdf":
        pages = _pdf_pages(data, name)
        return _from_pages(pages, name=name, path=path or name, max_chars=max_chars)
    if fmt == "docx":
        text = _docx_text(data, name)
    elif fmt == "html":
        text = _html_text(data, name)
    else:
        try:
            text = decode_bytes(data, name=name)
        except ValueError as exc:
            raise UnreadableDocument(str(exc)) from None
    doc = parse_text(_clean(text), path=path or name, max_chars=max_chars)
    if not doc.units:
        raise UnreadableDocument(f"{name}: no text to answer from")
    return replace(doc, units=[replace(u, source=name) for u in doc.units])


def _clean(text: str) -> str:
    # NULs and other control characters come out of some PDF fonts' text maps.
    return strip_controls(text, keep="\t\n\r", replacement="", categories=("Cc",))


# -- PDF -------------------------------------------------------------------------


def _pdf_pages(data: bytes, name: str) -> list[str]:
    """The text of each page (layout mode keeps the blank line between paragraphs)."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:  # pragma: no cover - a declared dependency
        raise ImportError("reading PDF needs pypdf: pip install pypdf") from None
    if not data.lstrip().startswith(b"%PDF"):
        raise UnreadableDocument(f"{name}: not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument(f"{name}: the PDF is password-protected; docqa cannot read it")
        pages = list(reader.pages)
    except UnreadableDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableDocument(f"{name}: damaged PDF ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    out = []
    for n, page in enumerate(pages, start=1):
        try:
            text = page.extract_text(extraction_mode="layout")
        except Exception:  # noqa: BLE001 - pypdf's layout mode fails on some odd pages
            try:
                text = page.extract_text()
            except Exception as exc:  # noqa: BLE001 - one bad page must not lose the others
                log.warning("%s: page %d unreadable (%s)", name, n, exc.__class__.__name__)
                text = ""
        out.append(_clean(text or ""))
    if not any(t.strip() for t in out):
        raise UnreadableDocument(
            f"{name}: no text layer on any of its {len(out)} page(s): it looks like a scanned PDF. "
            "docqa reads text PDFs; run OCR first (for example `ocrmypdf in.pdf out.pdf`)"
        )
    return out


def _page_lines(text: str) -> list[str]:
    # Layout mode pads with spaces to place text; a run of spaces is one space of prose.
    return [re.sub(r"[ \t\u00a0]{2,}", " ", line).strip() for line in text.split("\n")]


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", line.strip().lower()))


def strip_page_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Remove running headers/footers and page numbers from each page's lines.

    A header or footer is a line near the top or bottom of a page that recurs (digits
    aside, so "Page 3" matches "Page 4") on most pages; a page number is a line that is
    only a number in one of the usual shapes. Only the first and last few lines of a page
    are looked at, so a sentence repeated in the body is never removed.
    """
    def edges(lines: list[str]) -> list[int]:
        idx = [i for i, line in enumerate(lines) if line]
        return sorted(set(idx[:_EDGE_LINES] + idx[-_EDGE_LINES:]))

    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_furniture_key(lines[i]) for i in edges(lines)})
    need = max(2, -(-len(pages) * 6 // 10))  # on at least 60% of the pages, and two
    repeated = {k for k, c in counts.items() if c >= need and len(pages) >= 2}
    out = []
    for lines in pages:
        drop = {i for i in edges(lines) if _furniture_key(lines[i]) in repeated or _PAGE_LINE.match(lines[i])}
        out.append([line for i, line in enumerate(lines) if i not in drop])
    return out


def _from_pages(pages: list[str], *, name: str, path: str, max_chars: int) -> Document:
    cleaned = strip_page_furniture([_page_lines(t) for t in pages])
    starts: list[int] = []  # first line number of each page in the joined text (1-based)
    lines: list[str] = []
    for page_lines in cleaned:
        if lines:
            lines.append("")  # a page break is a blank line: an unfinished sentence still continues
        starts.append(len(lines) + 1)
        lines.extend(page_lines)
    doc = parse_text("\n".join(lines), path=path, max_chars=max_chars)
    if not doc.units:
        raise UnreadableDocument(f"{name}: no text to answer from (only page headers, footers or numbers)")
    units = [replace(u, source=name, page=bisect.bisect_right(starts, u.line)) for u in doc.units]
    return replace(doc, units=units)


# -- DOCX ------------------------------------------------------------------------


def _docx_text(data: bytes, name: str) -> str:
    try:
        import docx
    except ImportError:  # pragma: no cover - a declared dependency
        raise ImportError("reading .docx needs python-docx: pip install python-docx") from None
    from docx.table import Table

    if not data.startswith(b"PK"):
        raise UnreadableDocument(f"{name}: not a .docx file (an old binary .doc? save it as .docx)")
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises zipfile/KeyError/lxml errors
        raise UnreadableDocument(f"{name}: damaged .docx ({exc.__class__.__name__})") from None
    out: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                if cells:
                    out += [" | ".join(cells), ""]
            continue
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        level = _heading_level(style)
        out += [("#" * level + " " + text.replace("\n", " ")) if level else text, ""]
    text = "\n".join(out)
    if not text.strip():
        raise UnreadableDocument(f"{name}: the .docx has no text (only images or empty paragraphs)")
    return text


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.match(r"Heading\s*(\d)", style)
    return min(6, int(m.group(1))) if m else 0


# -- HTML ------------------------------------------------------------------------

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas", "button", "form"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "div", "section", "article", "main", "aside", "header", "footer", "nav", "li", "ul", "ol", "dl", "dt",
    "dd", "blockquote", "pre", "table", "tr", "td", "th", "thead", "tbody", "figure", "figcaption", "body",
    "address", "hr", "caption",
}


def _html_text(data: bytes, name: str) -> str:
    try:
        from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag
    except ImportError:  # pragma: no cover - a declared dependency
        raise ImportError("reading HTML needs beautifulsoup4: pip install beautifulsoup4") from None
    # Bytes in: BeautifulSoup reads <meta charset> and detects the encoding itself.
    soup = BeautifulSoup(data, "html.parser")
    lines: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        text = "".join(buf)
        buf.clear()
        for piece in text.split("\n"):
            piece = re.sub(r"\s+", " ", piece).strip()
            if piece:
                lines.append(piece)
        if lines and lines[-1] != "":
            lines.append("")

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, (Comment, Declaration, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                buf.append(str(child).replace("\n", " "))
            elif isinstance(child, Tag):
                tag = child.name.lower()
                if tag in _SKIP:
                    continue
                if tag == "br":
                    buf.append("\n")
                elif tag in _HEADINGS:
                    flush()
                    text = re.sub(r"\s+", " ", child.get_text(" ")).strip()
                    if text:
                        lines.extend(["#" * _HEADINGS[tag] + " " + text, ""])
                elif tag in ("td", "th"):
                    buf.append(" ")
                    walk(child)
                    buf.append(" | ")
                elif tag in _BLOCKS:
                    flush()
                    walk(child)
                    flush()
                else:
                    walk(child)

    walk(soup)
    flush()
    text = "\n".join(line.rstrip(" |") if "|" in line else line for line in lines)
    if not text.strip():
        raise UnreadableDocument(f"{name}: the HTML page has no text")
    return text
