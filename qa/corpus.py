"""The document model: reading a text into passages, repairing what page layout broke."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

# A line ending in one of these ends a sentence (closing quotes/brackets may follow).
_TERMINAL = "。！？!?；;…"
_CLOSERS = "”’」』）)】》\"'"
# Punctuation that shows a line is running prose, not a title or a byline.
_PROSE_PUNCT = re.compile(r"[，。；！？、,;!?]|[.:](\s|$)")
_CAPTION = re.compile(r"^\s*(▲|△|►|图\s*\d+[:：.\s]|Figure\s+\d+[:.]|Fig\.\s*\d+)")
_PAGE_NUMBER = re.compile(r"^[\s\-–—·.]*\d{1,4}[\s\-–—·.]*$")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"([。！？!?；;…]+[" + re.escape(_CLOSERS) + r"]*|\.[" + re.escape(_CLOSERS) + r"]*(?=\s|$))")

MAX_HEADING_CHARS = 24
MAX_PASSAGE_CHARS = 1200


@dataclass(frozen=True)
class Sentence:
    """A sentence of a passage: its verbatim text and where it starts in the passage."""

    text: str
    start: int


@dataclass(frozen=True)
class Unit:
    """One answerable passage of a document, in reading order."""

    id: int
    text: str
    section: str
    kind: str = "paragraph"  # "paragraph" | "caption" | "line"
    line: int = 0  # first line of the source file it comes from (1-based)
    repaired: bool = False  # True when it was joined across a layout break
    source: str = ""  # the file it comes from (set for collections of files)
    page: int = 0  # its page in a paged format (PDF), 0 where pages do not apply
    paragraph: int = 0  # its number among its own file's passages (1-based; 0 until a library numbers it)

    @property
    def sha(self) -> str:
        return content_hash(self.section + "\n" + self.text)

    @property
    def sentences(self) -> list[Sentence]:
        return split_sentences(self.text)


@dataclass(frozen=True)
class Repair:
    """One thing the reader changed, for `docqa index --report`."""

    kind: str  # "joined" | "caption-moved" | "heading" | "split-long"
    line: int
    detail: str


@dataclass(frozen=True)
class Document:
    """A document read into passages, with its title and what was repaired."""

    path: str
    title: str
    sha256: str
    units: list[Unit]
    repairs: list[Repair] = field(default_factory=list)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def _ends_sentence(line: str) -> bool:
    stripped = line.rstrip().rstrip(_CLOSERS)
    return bool(stripped) and (stripped[-1] in _TERMINAL or stripped.endswith("."))


def _join(left: str, right: str) -> str:
    """Join two pieces of one paragraph: no space between CJK, one between words."""
    left, right = left.rstrip(), right.lstrip()
    if not left or not right:
        return left + right
    if left.endswith("-") and left[-2:-1].isalpha() and right[:1].islower():
        return left[:-1] + right  # a word hyphenated at the end of a line
    if _is_cjk(left[-1]) or _is_cjk(right[0]):
        return left + right
    return left + " " + right


def split_sentences(text: str) -> list[Sentence]:
    """Split a passage into sentences, keeping every character verbatim.

    Returns:
        Sentences in order; concatenated they give back `text` (whitespace between
        sentences is attached to no sentence).
    """
    out: list[Sentence] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append(Sentence(piece.strip(), start + lead))
        start = end
    tail = text[start:]
    if tail.strip():
        lead = len(tail) - len(tail.lstrip())
        out.append(Sentence(tail.strip(), start + lead))
    return out


def _classify(line: str) -> str:
    """'caption', 'heading', 'line' (a standalone non-prose line) or 'prose'."""
    if _CAPTION.match(line):
        return "caption"
    if _MD_HEADING.match(line):
        return "heading"
    text = line.strip()
    if _PROSE_PUNCT.search(text.rstrip(_TERMINAL + _CLOSERS + ".")) or _ends_sentence(text):
        return "prose"
    if len(text) <= MAX_HEADING_CHARS or text.startswith(("——", "--", "—")):
        return "heading"
    return "line"


def _split_long(text: str, limit: int) -> list[str]:
    """Cut an over-long paragraph at sentence ends into pieces of at most ~`limit` chars."""
    pieces: list[str] = []
    current = ""
    for s in split_sentences(text):
        chunk = s.text
        if len(chunk) > limit:  # one sentence longer than the limit: cut it hard
            if current:
                pieces.append(current)
                current = ""
            # By offset, not by re-slicing the rest: linear in a sentence of any length.
            cut = (len(chunk) - 1) // limit * limit  # keep the last, possibly full, piece
            pieces.extend(chunk[i : i + limit] for i in range(0, cut, limit))
            chunk = chunk[cut:]
        if current and len(current) + len(chunk) > limit:
            pieces.append(current)
            current = ""
        current = _join(current, chunk) if current else chunk
    if current:
        pieces.append(current)
    return pieces


def parse_text(text: str, *, path: str = "<text>", max_chars: int = MAX_PASSAGE_CHARS) -> Document:
    """Read plain text or Markdown into passages, repairing layout damage.

    Rules (all from punctuation and line shape, none from content):
      * a prose line that does not end a sentence continues in the next prose
        line, across blank lines and page breaks;
      * a caption line (``▲…``, ``图1 …``) is its own passage, and does not
        interrupt the paragraph it was printed inside;
      * a short line without prose punctuation (or a Markdown ``#`` line) is a
        heading: the section of what follows, not a passage;
      * a paragraph longer than `max_chars` is cut at sentence ends.

    Args:
        text: the document.
        path: a name for messages and citations.
        max_chars: longest passage before it is split.

    Returns:
        The `Document`.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    sha = content_hash(text)
    repairs: list[Repair] = []
    raw: list[tuple[str, str, str, int, bool]] = []  # (kind, text, section, line, repaired)
    headings: list[str] = []
    section = ""
    last_was_heading = False

    open_para: list | None = None  # [text, section, line, repaired, blank_seen, index in raw]
    blank_since_last = False

    def close() -> None:
        nonlocal open_para
        open_para = None

    para_parts: dict[int, list[str]] = {}  # index in raw -> the lines of a joined paragraph
    lines = text.split("\n")
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            blank_since_last = True
            continue
        if open_para is not None and _PAGE_NUMBER.match(line):
            continue  # a page number printed inside an unfinished paragraph
        kind = _classify(line)
        if kind in ("heading", "line") and not _MD_HEADING.match(line) and _wraps_into_next(lines, lineno):
            kind = "prose"  # the first line of a hard-wrapped paragraph, not a title
        stripped = line.strip()
        if kind == "caption":
            raw.append(("caption", stripped, section, lineno, False))
            if open_para is not None:
                repairs.append(Repair("caption-moved", lineno, stripped[:40]))
            blank_since_last = False
            last_was_heading = False
            continue
        if kind == "heading":
            m = _MD_HEADING.match(line)
            head = (m.group(1) if m else stripped).strip()
            close()
            if last_was_heading and headings and not m and head.startswith(("—", "-")):
                headings[-1] = headings[-1] + head  # a title and its "——subtitle" line
            else:
                headings.append(head)
            section = headings[-1]
            repairs.append(Repair("heading", lineno, head[:40]))
            last_was_heading = not m
            blank_since_last = False
            continue
        last_was_heading = False
        if kind == "line":
            close()
            raw.append(("line", stripped, section, lineno, False))
            blank_since_last = False
            continue
        # prose
        if open_para is not None:
            idx = open_para[5]
            k, t, sec, ln, _ = raw[idx]
            # The paragraph's lines are kept as a list and joined once at the end: joining
            # them one by one copies the whole paragraph per line (minutes for a few MB).
            parts = para_parts.setdefault(idx, [t])
            if blank_since_last:
                repairs.append(Repair("joined", lineno, f"…{_tail(parts, 12)} | {stripped[:12]}…"))
            left = _tail(parts, 4)  # all that _join looks at: the last characters
            change = len(_join(left, stripped)) - len(left) - len(stripped)
            if change < 0:  # a word hyphenated at the line end: drop the hyphen
                parts[-1] = parts[-1][:-1]
            elif change > 0:
                parts.append(" ")
            parts.append(stripped)
            raw[idx] = (k, "", sec, ln, True)
        else:
            raw.append(("paragraph", stripped, section, lineno, False))
            open_para = [None, None, None, None, None, len(raw) - 1]
        if _ends_sentence(stripped) and not _continues_without_blank(lines, lineno):
            close()
        blank_since_last = False

    for idx, parts in para_parts.items():
        k, _, sec, ln, rep = raw[idx]
        raw[idx] = (k, "".join(parts), sec, ln, rep)

    title = headings[0] if headings else next((t for k, t, *_ in raw if k != "caption"), "")[:30]

    units: list[Unit] = []
    for kind, body, sec, ln, repaired in raw:
        pieces = _split_long(body, max_chars) if len(body) > max_chars else [body]
        if len(pieces) > 1:
            repairs.append(Repair("split-long", ln, f"{len(body)} chars into {len(pieces)} passages"))
        for piece in pieces:
            units.append(Unit(len(units) + 1, piece, sec, kind, ln, repaired))
    return Document(path=path, title=title, sha256=sha, units=units, repairs=repairs)


def _tail(parts: list[str], n: int) -> str:
    """The last `n` characters of ``"".join(parts)`` without joining them all."""
    out = ""
    for part in reversed(parts):
        out = part + out
        if len(out) >= n:
            break
    return out[-n:]


def _wraps_into_next(lines: list[str], lineno: int) -> bool:
    """A line that runs on, with no blank line, into a prose line starting in lower case."""
    if lineno >= len(lines):
        return False
    nxt = lines[lineno].strip()
    return bool(nxt) and nxt[0].islower() and nxt[0].isascii() and _classify(nxt) == "prose"


def _continues_without_blank(lines: list[str], lineno: int) -> bool:
    """Hard-wrapped prose: the next line follows with no blank line and is not CJK.

    Chinese plain text usually puts one paragraph on one line, so a CJK line that
    ends a sentence ends its paragraph; wrapped Western text keeps going.
    """
    if lineno >= len(lines):
        return False
    here, nxt = lines[lineno - 1].strip(), lines[lineno].strip()
    if not nxt or _classify(nxt) != "prose":
        return False
    return not (_is_cjk(here[-1]) or _is_cjk(nxt[0]))


def decode_bytes(data: bytes, *, name: str) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 with BOM, else detected.

    Raises:
        ValueError: empty, binary, or in no encoding we can read with confidence.
    """
    if not data.strip():
        raise ValueError(f"document is empty: {name}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise ValueError(f"document looks binary, not text: {name}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is not None and best.encoding not in ("cp1252", "latin_1"):
        # Short Western text fits several single-byte code pages equally well ("coût" read
        # as cp1257 gives "coūt"); Windows-1252, a superset of Latin-1, is by far the most common.
        for match in results:
            if match.encoding == "cp1252" and match.coherence >= best.coherence and match.chaos <= best.chaos + 0.1:
                best = match
                break
    if best is None or best.encoding is None:
        # UTF-8 with a few damaged bytes (a file cut mid-character) is still UTF-8.
        text = data.decode("utf-8-sig", errors="replace")
        if text.count("\ufffd") <= max(1, len(text) // 1000):
            return text
        raise ValueError(f"document is not text in an encoding docqa can detect: {name}")
    return str(best)
