"""Real .docx / .pdf / .html files for tests, written with python-docx and fpdf2 into tmp_path."""

from __future__ import annotations

from pathlib import Path

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def make_pdf(
    path: Path,
    pages: list[list[str]],
    *,
    header: str | None = "Riverton City Council - Annual Report",
    page_numbers: bool = True,
    cjk: bool = False,
) -> Path:
    """A text PDF: each page's paragraphs, with a running header and a "Page N" footer."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    if cjk:
        pdf.add_font("cjk", fname=str(CJK_FONT), collection_font_number=2)  # Noto Sans CJK SC
    body = ("cjk", 12) if cjk else ("helvetica", 12)
    small = ("cjk", 9) if cjk else ("helvetica", 9)
    for n, paragraphs in enumerate(pages, start=1):
        pdf.add_page()
        if header:
            pdf.set_font(small[0], size=small[1])
            pdf.set_xy(10, 8)
            pdf.cell(0, 5, header)
        pdf.set_font(body[0], size=body[1])
        pdf.set_xy(10, 22)
        for para in paragraphs:
            pdf.multi_cell(0, 6, para, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(5)
        if page_numbers:
            pdf.set_font(small[0], size=small[1])
            pdf.set_xy(10, 285)
            pdf.cell(0, 5, f"Page {n}", align="C")
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path, tmp_dir: Path) -> Path:
    """A PDF whose only page is a picture of text: no text layer, as a scanner makes it."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(img).text((20, 80), "The budget was 5 million.", fill="black")
    png = tmp_dir / "scan.png"
    img.save(png)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(png), x=10, y=10, w=180)
    pdf.output(str(path))
    return path


def make_docx(path: Path, blocks: list[tuple[str, str]]) -> Path:
    """A .docx from (kind, text) blocks: kind is "title", "h1", "h2", "p" or "table" ("a|b;c|d")."""
    import docx

    document = docx.Document()
    for kind, text in blocks:
        if kind == "title":
            document.add_heading(text, level=0)
        elif kind in ("h1", "h2"):
            document.add_heading(text, level=int(kind[1]))
        elif kind == "table":
            rows = [r.split("|") for r in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for i, row in enumerate(rows):
                for j, cell in enumerate(row):
                    table.cell(i, j).text = cell
        else:
            document.add_paragraph(text)
    document.save(str(path))
    return path
