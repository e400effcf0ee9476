"""Reading real .pdf, .docx, .html and non-UTF-8 text files into passages with pages."""

from __future__ import annotations

import pytest

from qa.readers import UnreadableDocument, read_file, strip_page_furniture
from tests.docfiles import CJK_FONT, make_docx, make_pdf, make_scanned_pdf

PAGE1 = [
    "Road works. The council spent 5 million dollars on road repairs in 2023, twice the amount of 2022.",
    "After a long debate, the committee decided that the new river bridge",  # continues on page 2
]
PAGE2 = [
    "would be finished in 2027 at a cost of 12 million dollars.",
    "Libraries. The central library opened a reading room for children in June.",
]


def test_pdf_pages_headers_footers_and_a_sentence_across_a_page_break(tmp_path):
    pdf = make_pdf(tmp_path / "report.pdf", [PAGE1, PAGE2, ["Parks. Two new parks opened in the east of the city."]])
    doc = read_file(pdf)
    texts = [u.text for u in doc.units]
    assert not any("Riverton City Council" in t for t in texts)  # the running header is gone
    assert not any("Page " in t for t in texts)  # so are the page numbers
    bridge = next(u for u in doc.units if "river bridge" in u.text)
    # One passage across the page break, cited on the page where it starts.
    assert bridge.text == (
        "After a long debate, the committee decided that the new river bridge would be finished in 2027 "
        "at a cost of 12 million dollars."
    )
    assert bridge.page == 1 and bridge.repaired
    assert next(u for u in doc.units if "reading room" in u.text).page == 2
    assert next(u for u in doc.units if "Two new parks" in u.text).page == 3
    assert {u.source for u in doc.units} == {"report.pdf"}
    # Paragraphs on one page stay apart (pypdf's layout mode keeps the gap between them).
    assert next(u for u in doc.units if "road repairs" in u.text).text.endswith("amount of 2022.")


def test_furniture_only_at_page_edges_and_only_when_repeated():
    bodies = [[f"{w} starts.", "A line repeated in the body.", "Middle.", f"{w} ends."] for w in ("Alpha", "Beta", "Gamma")]
    numbers = ["3", "- 4 -", "第 5 页"]
    pages = [["ACME report", *b, n] for b, n in zip(bodies, numbers)]
    # The body line recurs on every page too, but not at an edge of the page: it stays.
    assert strip_page_furniture(pages) == bodies
    # A single page keeps everything but its page number.
    assert strip_page_furniture([["Title", "Body.", "7"]]) == [["Title", "Body."]]


@pytest.mark.skipif(not CJK_FONT.exists(), reason="needs fonts-noto-cjk")
def test_chinese_pdf_with_an_embedded_cjk_font(tmp_path):
    pdf = make_pdf(
        tmp_path / "年报.pdf",
        [["疫情期间，市公安局共核查人员45561人，完成率100%。"], ["全市现行刑事案件破案率提升至百分之九十二。"]],
        header="株洲市公安局工作报告",
        cjk=True,
    )
    doc = read_file(pdf)
    assert [(u.page, u.text) for u in doc.units] == [
        (1, "疫情期间，市公安局共核查人员45561人，完成率100%。"),  # no NULs from the font's text map
        (2, "全市现行刑事案件破案率提升至百分之九十二。"),
    ]


def test_scanned_pdf_is_a_clear_error_naming_the_file(tmp_path):
    pdf = make_scanned_pdf(tmp_path / "scan.pdf", tmp_path)
    with pytest.raises(UnreadableDocument, match=r"scan\.pdf: no text layer.*scanned PDF.*OCR"):
        read_file(pdf)


def test_damaged_and_mislabelled_files(tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\n garbage without objects")
    with pytest.raises(UnreadableDocument, match="broken.pdf"):
        read_file(bad)
    old = tmp_path / "old.docx"
    old.write_bytes(b"\xd0\xcf\x11\xe0 an OLE2 .doc file")
    with pytest.raises(UnreadableDocument, match=r"old.docx: not a .docx"):
        read_file(old)
    sheet = tmp_path / "x.xlsx"
    sheet.write_bytes(b"PK spreadsheet")
    with pytest.raises(ValueError, match="unsupported file type '.xlsx'"):
        read_file(sheet)


def test_docx_headings_paragraphs_and_tables(tmp_path):
    path = make_docx(
        tmp_path / "plan.docx",
        [
            ("title", "City Plan 2024"),
            ("h1", "Transport"),
            ("p", "The city will buy 40 electric buses in 2024."),
            ("p", "Tram line 3 opens in May."),
            ("h1", "Budget"),
            ("p", "The total budget is 80 million dollars, of which 30 million goes to transport."),
            ("table", "Item|Cost;Buses|20 million dollars for the new fleet, delivered in spring"),
        ],
    )
    doc = read_file(path)
    by_text = {u.text: u for u in doc.units}
    assert doc.title == "City Plan 2024"
    assert by_text["The city will buy 40 electric buses in 2024."].section == "Transport"
    assert by_text["The total budget is 80 million dollars, of which 30 million goes to transport."].section == "Budget"
    assert [u.id for u in doc.units] == list(range(1, len(doc.units) + 1))
    assert any("20 million dollars for the new fleet" in u.text for u in doc.units)
    assert all(u.page == 0 and u.source == "plan.docx" for u in doc.units)


def test_html_text_without_markup_scripts_or_styles(tmp_path):
    page = tmp_path / "news.html"
    page.write_text(
        "<html><head><title>News</title><style>p{color:red}</style></head><body>"
        "<nav><a href='/'>Home</a></nav><h2>Harbour</h2>"
        "<p>The harbour   handled\n 3 million &amp; more containers in 2023.</p>"
        "<script>alert('x')</script><p>Ferries run <b>every 20 minutes</b>.<br>Night ferries run hourly.</p>"
        "</body></html>",
        encoding="utf-8",
    )
    doc = read_file(page)
    texts = [u.text for u in doc.units]
    assert "The harbour handled 3 million & more containers in 2023." in texts
    assert any("Ferries run every 20 minutes." in t for t in texts)
    assert not any("alert" in t or "color" in t for t in texts)
    assert doc.units[0].section == "Harbour"


def test_html_in_gbk_declared_by_meta_charset(tmp_path):
    page = tmp_path / "gbk.html"
    html = '<html><head><meta charset="gbk"></head><body><p>全市共核查人员45561人，完成率100%。</p></body></html>'
    page.write_bytes(html.encode("gbk"))
    assert read_file(page).units[0].text == "全市共核查人员45561人，完成率100%。"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "big5", "utf-16"])
def test_text_in_chinese_encodings(tmp_path, encoding):
    paragraphs = ["疫情期间，市公安局共核查人员四万五千余人，完成率百分之百。", "全市刑事案件破案率提升至百分之九十二，群众安全感持续上升。"]
    if encoding == "big5":  # Big5 is traditional Chinese
        paragraphs = ["疫情期間，市公安局共核查人員四萬五千餘人，完成率百分之百。", "全市刑事案件破案率提升至百分之九十二，民眾安全感持續上升。"]
    path = tmp_path / f"report-{encoding}.txt"
    path.write_bytes(("工作報告\n" + "\n".join(paragraphs) + "\n").encode(encoding))
    doc = read_file(path)
    assert [u.text for u in doc.units] == paragraphs
    assert doc.units[0].section == "工作報告"
