"""Reading a document into passages: layout repairs, sections, ids, decoding and errors."""

from __future__ import annotations

import time

import pytest

from qa import BUNDLED_DOCUMENT, parse_text
from qa.readers import read_file as read_document
from qa.corpus import decode_bytes


def texts(doc):
    return [u.text for u in doc.units]


def unit_with(doc, fragment):
    found = [u for u in doc.units if fragment in u.text]
    assert len(found) == 1, f"{fragment!r} is in {len(found)} passages"
    return found[0]


# -- the bundled document -------------------------------------------------------


@pytest.fixture(scope="module")
def seed():
    return read_document(BUNDLED_DOCUMENT)


def test_seed_page_break_joins_number_to_its_noun(seed):
    u = unit_with(seed, "发布辟谣信息34条")
    assert u.repaired
    assert u.text.endswith("确保了全市社会大局和谐稳定。")
    assert not any(t.startswith("34条") for t in texts(seed))


def test_seed_page_break_inside_quotation_is_joined(seed):
    u = unit_with(seed, "开展“大起底、大梳理、大排队”")
    assert u.text.startswith("郡县制,天下安。")


def test_seed_caption_inside_paragraph_is_taken_out_and_kept(seed):
    u = unit_with(seed, "2019年11月,中央政法委秘书长")
    assert "▲" not in u.text
    assert u.text.startswith("坚持黑恶必除。")
    caption = unit_with(seed, "▲2017年9月25日")
    assert caption.kind == "caption"
    assert caption.text.startswith("▲") and caption.text.endswith("王德胜同志合影。")
    assert caption.id == u.id + 1  # right after the paragraph it was printed in
    assert any(r.kind == "caption-moved" for r in seed.repairs)


def test_seed_second_caption_break_is_joined_too(seed):
    u = unit_with(seed, "市公安局被评为全国公安机关210工程建设先进集体")
    assert "▲" not in u.text
    assert "安装一类摄像机6000个" in u.text  # and the next page break after it


def test_seed_headings_are_sections_not_passages(seed):
    headings = ["抗大疫 不破楼兰终不还", "稳大局 任尔东西南北风", "破大案 黄沙百战穿金甲", "赢大赞 万紫千红总是春"]
    for h in headings:
        assert h not in texts(seed)
    assert unit_with(seed, "共核查人员45561人").section == "抗大疫 不破楼兰终不还"
    assert unit_with(seed, "发布辟谣信息34条").section == "抗大疫 不破楼兰终不还"
    assert unit_with(seed, "中央政法委秘书长").section == "破大案 黄沙百战穿金甲"
    assert seed.title == "逢旗必夺铸品牌——株洲市公安局近年工作概览"


def test_seed_ids_are_reading_order_and_text_is_verbatim(seed):
    assert [u.id for u in seed.units] == list(range(1, len(seed.units) + 1))
    lines = [u.line for u in seed.units]
    assert lines == sorted(lines)
    source = BUNDLED_DOCUMENT.read_text(encoding="utf-8")
    # Joined across page breaks, with the captions printed inside taken out:
    flat = "".join(line for line in source.splitlines() if not line.startswith("▲"))
    captions = [line for line in source.splitlines() if line.startswith("▲")]
    for u in seed.units:
        assert u.text in flat or u.text in captions, f"passage {u.id} is not verbatim"
    # Every prose character of the source is in some passage (nothing dropped).
    assert sum(len(u.text) for u in seed.units) == sum(
        len(line.strip()) for line in source.splitlines() if line.strip() and len(line.strip()) > 15
    )


# -- synthetic layouts -------------------------------------------------------------


def test_page_break_join_across_blank_lines_cjk_without_space():
    doc = parse_text("全市共侦办案件29起，发布辟谣信息\n\n\n34条，化解矛盾纠纷200余起。\n\n下一段落从这里开始。\n")
    assert texts(doc) == ["全市共侦办案件29起，发布辟谣信息34条，化解矛盾纠纷200余起。", "下一段落从这里开始。"]
    assert doc.units[0].repaired and not doc.units[1].repaired
    assert [r.kind for r in doc.repairs] == ["joined"]


def test_page_number_inside_broken_paragraph_is_dropped():
    doc = parse_text("第一段没有写完，还在\n\n- 12 -\n\n继续写。\n\n下一段。\n")
    assert texts(doc) == ["第一段没有写完，还在继续写。", "下一段。"]


def test_caption_between_halves_of_a_sentence():
    doc = parse_text("标题行\n\n案件共侦破了一百二十起，其中\n\n▲2020年1月1日，民警在现场。\n\n大案十起。\n")
    assert texts(doc) == ["案件共侦破了一百二十起，其中大案十起。", "▲2020年1月1日，民警在现场。"]
    assert [u.kind for u in doc.units] == ["paragraph", "caption"]
    assert all(u.section == "标题行" for u in doc.units)


def test_short_heading_becomes_section_of_following_passages():
    doc = parse_text("总体情况\n\n今年共接警三千次。\n\n工作亮点\n\n群众满意度达到95%。\n另一段在此。\n")
    assert texts(doc) == ["今年共接警三千次。", "群众满意度达到95%。", "另一段在此。"]
    assert [u.section for u in doc.units] == ["总体情况", "工作亮点", "工作亮点"]


def test_markdown_headings_each_set_the_section():
    doc = parse_text("# Annual Report\n\n## Budget\n\nThe budget was ten million.\n\n## Staff\n\nWe hired 12 people.\n")
    assert doc.title == "Annual Report"
    assert [(u.section, u.text) for u in doc.units] == [
        ("Budget", "The budget was ten million."),
        ("Staff", "We hired 12 people."),
    ]


def test_hard_wrapped_english_paragraph_is_one_passage():
    text = (
        "Introduction\n\n"
        "The budget for the year was\n"
        "twelve million dollars, most of it\n"
        "spent on roads. Schools got the rest.\n\n"
        "A second paragraph follows here.\n"
    )
    doc = parse_text(text)
    assert texts(doc) == [
        "The budget for the year was twelve million dollars, most of it spent on roads. Schools got the rest.",
        "A second paragraph follows here.",
    ]
    assert all(u.section == "Introduction" for u in doc.units)


def test_hyphenated_line_end_is_rejoined():
    doc = parse_text("The commit-\nment was kept by everyone.\n")
    assert texts(doc) == ["The commitment was kept by everyone."]


def test_one_chinese_paragraph_per_line():
    doc = parse_text("第一章 总则\n本办法适用于全体员工。\n本公司成立于2001年。\n")
    assert texts(doc) == ["本办法适用于全体员工。", "本公司成立于2001年。"]
    assert [u.section for u in doc.units] == ["第一章 总则", "第一章 总则"]


def test_over_long_paragraph_is_split_at_sentence_ends_verbatim():
    sentence = "这是一个用来测试的句子，长度大约二十个字。"
    para = sentence * 30
    doc = parse_text(para + "\n", max_chars=100)
    assert len(doc.units) > 1
    assert all(len(u.text) <= 100 for u in doc.units)
    assert "".join(texts(doc)) == para
    assert all(u.text.endswith("。") for u in doc.units)
    assert [u.id for u in doc.units] == list(range(1, len(doc.units) + 1))
    assert any(r.kind == "split-long" for r in doc.repairs)


def test_crlf_and_bom_are_read_like_plain_newlines():
    a = parse_text("标题\r\n\r\n第一句话。\r\n第二段，没写完\r\n\r\n写完了。\r\n")
    b = parse_text("\ufeff标题\n\n第一句话。\n第二段，没写完\n\n写完了。\n")
    assert texts(a) == texts(b) == ["第一句话。", "第二段，没写完写完了。"]


def test_reading_a_large_document_is_linear():
    text = "\n".join(f"第{i}行的内容，到此结束。" for i in range(60_000))
    t0 = time.perf_counter()
    doc = parse_text(text)
    assert len(doc.units) == 60_000
    assert time.perf_counter() - t0 < 5.0


# -- decoding and errors -------------------------------------------------------------

ZH = "株洲市公安局共核查人员45561人，完成率百分之百。\n\n发布辟谣信息三十四条，化解矛盾纠纷二百余起。\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_decodes_common_chinese_encodings(tmp_path, encoding):
    path = tmp_path / f"doc-{encoding}.txt"
    path.write_bytes(ZH.encode(encoding))
    doc = read_document(path)
    assert texts(doc) == ["株洲市公安局共核查人员45561人，完成率百分之百。", "发布辟谣信息三十四条，化解矛盾纠纷二百余起。"]


def test_utf8_cut_mid_character_is_still_read(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_bytes(ZH.encode("utf-8")[:-3])
    doc = read_document(path)
    assert doc.units[0].text == "株洲市公安局共核查人员45561人，完成率百分之百。"


@pytest.mark.parametrize("content", [b"", b"   \n\n\t\n"])
def test_empty_document_is_a_value_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="empty"):
        read_document(path)


def test_binary_file_is_a_value_error(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    path = tmp_path / "image.png"
    path.write_bytes(png)
    with pytest.raises(ValueError, match="unsupported file type"):
        read_document(path)
    path = tmp_path / "image.txt"  # binary bytes under a text file's name
    path.write_bytes(png)
    with pytest.raises(ValueError, match="binary"):
        read_document(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_document(tmp_path / "nope.txt")
    with pytest.raises(IsADirectoryError):
        read_document(tmp_path)


def test_decode_bytes_names_the_file():
    with pytest.raises(ValueError, match="my.txt"):
        decode_bytes(b"", name="my.txt")


def test_document_title_line_is_not_glued_to_the_first_section():
    doc = parse_text("年度报告\n\n疫情防控\n\n共核查人员100人。\n\n交通安全\n\n整治路段10处。\n")
    assert doc.title == "年度报告"
    assert [u.section for u in doc.units] == ["疫情防控", "交通安全"]
