"""Where a passage stands, for people: "report.pdf 第 3 页", "notes.docx, paragraph 5", "第 7 段".

No heavy imports: the chat's renderer and the CLI use it on any `Passage`.
"""

from __future__ import annotations


def paragraph_number(passage) -> int:
    """The passage's paragraph number within its own file (its id for a single document)."""
    return int(passage.paragraph or passage.id)


def place(passage, *, lang: str = "zh") -> str:
    """The file (when the passage comes from a collection) and the page (PDF) or paragraph.

    Args:
        passage: a `qa.Passage`.
        lang: ``"zh"`` (``"report.pdf 第 3 页"``) or ``"en"`` (``"report.pdf, page 3"``).

    Returns:
        A short citation; for a single document without a file name, ``"第 7 段"`` / ``"paragraph 7"``.
    """
    source = passage.source or ""
    page = int(passage.page or 0)
    if lang == "en":
        where = f"page {page}" if page else f"paragraph {paragraph_number(passage)}"
        return f"{source}, {where}" if source else where
    where = f"第 {page} 页" if page else f"第 {paragraph_number(passage)} 段"
    return f"{source} {where}" if source else where
