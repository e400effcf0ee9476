"""Ranking, fusion, not-found and argument checking, with the deterministic fake encoder."""

from __future__ import annotations

import pytest

import embeddings.encoders
import qa
from qa import RetrievalConfig, Settings
from tests.fakes import SMALL_ZH_DOC, HashEncoder

ZH_DOC = SMALL_ZH_DOC + """
基础建设

投入2亿元建成驾驶人考试中心。
"""

# Passage 1 shares the question's word stems (dense favourite, no exact keyword);
# passage 2 holds the exact keyword "bridges" (BM25 favourite).
EN_DOC = """# Works

Bridge rebuilding went well: crews rebuild bridge decks every summer.

Bridges appear in the annual budget of the city office.

We hired twelve new people to work in the office.
"""

ALWAYS = RetrievalConfig(not_found_threshold=-100.0, reader=False)  # accept any best match (fast tests: no reader)
NEVER = RetrievalConfig(not_found_threshold=100.0, reader=False)  # reject every match


def build(tmp_path, text, name="doc.txt", encoder=None):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return qa.load_index(path, encoder=encoder or HashEncoder(), settings=Settings(home=tmp_path / "home"))


@pytest.fixture
def zh(tmp_path):
    return build(tmp_path, ZH_DOC)


@pytest.mark.parametrize(
    "question, passage_id, section, answer",
    [
        ("疫情期间共核查了多少人员？", 1, "疫情防控", "疫情期间共核查人员45561人，完成率100%。"),
        ("整治了多少事故多发路段？", 2, "交通安全", "全市整治事故多发路段110处，没有发生重大交通事故。"),
        ("抓获了多少犯罪嫌疑人？", 3, "扫黑除恶", "共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人。"),
        ("驾驶人考试中心投入了多少钱？", 4, "基础建设", "投入2亿元建成驾驶人考试中心。"),
    ],
)
def test_exact_top_passage_and_verbatim_answer(zh, question, passage_id, section, answer):
    a = zh.ask(question, k=4, config=ALWAYS)
    assert [p.id for p in a.passages][0] == passage_id
    assert a.passages[0].section == section
    assert a.found
    assert a.text == answer
    assert a.passage.id == passage_id
    assert a.passage.text[a.start : a.end] == a.text


def test_passages_best_first_at_most_k_and_verbatim(zh):
    a = zh.ask("抓获了多少犯罪嫌疑人？", k=3)
    assert len(a.passages) == 3
    scores = [p.score for p in a.passages]
    assert scores == sorted(scores, reverse=True)
    units = {u.id: u for u in zh.units}
    assert all(p.text == units[p.id].text and p.section == units[p.id].section for p in a.passages)
    assert len(zh.ask("抓获了多少犯罪嫌疑人？", k=50).passages) == len(zh.units)  # k above the size


def test_same_question_same_answer(zh):
    a, b = zh.ask("疫情期间共核查了多少人员？"), zh.ask("疫情期间共核查了多少人员？")
    assert a == b


def test_traditional_and_full_width_question_finds_the_same_passage(zh):
    simplified = zh.ask("疫情期间共核查了多少人员？", config=ALWAYS)
    traditional = zh.ask("疫情期間共核查了多少人員？", config=ALWAYS)
    assert traditional.passages[0].id == simplified.passages[0].id == 1
    wide = zh.ask("抓获了９５９人吗？", config=ALWAYS)
    assert wide.passages[0].id == 3


# -- fusion ------------------------------------------------------------------------------


@pytest.fixture
def en(tmp_path):
    return build(tmp_path, EN_DOC, name="works.md")


def test_keywords_count_when_question_and_document_share_a_language(en):
    q = "How many bridges were rebuilt?"
    keyword_top = en.ask(q, config=RetrievalConfig(mode="bm25")).passages[0].id
    dense_top = en.ask(q, config=RetrievalConfig(mode="dense")).passages[0].id
    assert (keyword_top, dense_top) == (2, 1)  # the two sides disagree on this document
    for fusion in ("linear", "rrf"):
        heavy = en.ask(q, config=RetrievalConfig(fusion=fusion, lexical_weight=3.0))
        assert heavy.passages[0].id == 2, fusion  # English keywords on an English document count fully
        light = en.ask(q, config=RetrievalConfig(fusion=fusion, lexical_weight=0.001))
        assert light.passages[0].id == 1, fusion


def test_english_question_on_chinese_document_is_not_drowned_by_accidental_keywords(zh):
    # "2" is the only token an English question can share with the Chinese text directly.
    q = "what about 2 things"
    dense_top = zh.ask(q, config=RetrievalConfig(mode="dense")).passages[0].id
    a = zh.ask(q, config=RetrievalConfig(lexical_weight=50.0, bridge_weight=0.0))
    assert a.passages[0].id == dense_top


def test_english_question_reaches_chinese_keywords_through_the_dictionary_bridge(zh):
    # The fake encoder cannot relate English to Chinese at all: only the bridge can.
    q = "How many traffic accident black spots were fixed?"
    a = zh.ask(q, k=4, config=RetrievalConfig(bridge_weight=1.0, not_found_threshold=-100.0))
    assert a.passages[0].id == 2 and a.passages[0].lexical > 0
    off = zh.ask(q, k=4, config=RetrievalConfig(bridge_weight=0.0, not_found_threshold=-100.0))
    assert all(p.lexical == 0 for p in off.passages)


@pytest.mark.parametrize("fusion", ["linear", "rrf"])
def test_both_fusions_rank_chinese_questions(zh, fusion):
    cfg = RetrievalConfig(fusion=fusion, not_found_threshold=-100.0)
    for question, pid in [("疫情期间共核查了多少人员？", 1), ("抓获了多少犯罪嫌疑人？", 3), ("驾驶人考试中心投入了多少钱？", 4)]:
        a = zh.ask(question, k=4, config=cfg)
        assert a.passages[0].id == pid
        assert a.passages[0].lexical > 0
        assert 0.0 <= a.passages[-1].score <= a.passages[0].score <= 1.0


# -- not found ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, missing",
    [
        ("What did the Hetang branch do from March 1?", 0.0),  # 荷塘区 written 荷塘; a month is no name
        ("荷塘区的民警在3月1日做了什么？", 0.0),
        ("What did the Beijing police do in January?", 1.0),  # 北京 is nowhere in the document
        ("北京市的民警做了什么？", 1.0),
    ],
)
def test_a_place_the_document_never_names_counts_against_an_answer(tmp_path, question, missing):
    idx = build(tmp_path, ZH_DOC + "\n荷塘分局3月1日起开展巡逻。\n")
    assert idx.ask(question).signals["missing"] == missing


def test_not_found_is_a_value_with_nearest_passages(zh):
    a = zh.ask("抓获了多少犯罪嫌疑人？", k=2, config=NEVER)
    assert a.found is False
    assert a.text == ""
    assert a.passage_id is None and a.passage is None
    assert [p.id for p in a.passages][0] == 3  # still listed, as possibly related
    assert len(a.passages) == 2


def test_threshold_decides_found(zh):
    q = "抓获了多少犯罪嫌疑人？"
    assert zh.ask(q, config=ALWAYS).found
    assert not zh.ask(q, config=NEVER).found
    assert zh.ask(q, config=ALWAYS).confidence > zh.ask(q, config=NEVER).confidence


# -- bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t ", None, 42, b"bytes", ["a list"]])
def test_bad_question_is_a_value_error_naming_it(zh, question):
    with pytest.raises(ValueError, match="question"):
        zh.ask(question)


@pytest.mark.parametrize("k", [0, -1, 51, 10**9, 2.5, "3", True, None])
def test_bad_k_is_a_value_error_naming_it(zh, k):
    with pytest.raises(ValueError, match=r"\bk\b"):
        zh.ask("抓获了多少犯罪嫌疑人？", k)


def test_too_long_question_is_a_value_error(zh):
    with pytest.raises(ValueError, match="question"):
        zh.ask("问" * 100_000)


@pytest.mark.parametrize("question", ["\x00抓获\x00了多少犯罪嫌疑人？", "抓获\ud800了多少犯罪嫌疑人？", "\x07\x1b[31m抓获了多少犯罪嫌疑人？"])
def test_control_characters_and_lone_surrogates_do_not_crash(zh, question):
    a = zh.ask(question, config=ALWAYS)
    assert a.passages[0].id == 3


@pytest.mark.parametrize("question, k", [("", 5), ("抓获了多少人？", 0), ("抓获了多少人？", "5")])
def test_module_level_ask_checks_arguments_before_loading_anything(monkeypatch, question, k):
    import qa.api

    def boom(*args, **kwargs):
        raise AssertionError("the index was loaded for an invalid call")

    monkeypatch.setattr(qa.api, "load_index", boom)
    monkeypatch.setattr(qa.api, "_default", None)
    with pytest.raises(ValueError, match="question" if question == "" else r"\bk\b"):
        qa.ask(question, k)


def test_module_level_ask_uses_bundled_document(monkeypatch):
    import qa.api

    monkeypatch.setattr(qa.api, "_default", None)
    monkeypatch.setitem(embeddings.encoders._shared, "fake", HashEncoder())
    monkeypatch.setenv("DOCQA_ENCODER", "fake")
    a = qa.ask("疫情期间共核查了多少人员？", k=3)
    assert len(a.passages) == 3
    assert any("45561" in p.text for p in a.passages)
    monkeypatch.setattr(qa.api, "_default", None)


def test_english_words_drop_possessives_and_read_british_spelling():
    from qa.bridge import english_words

    assert english_words("the Hetang branch's honours") == ["hetang", "branch", "honor"]
    assert english_words("four hours at the city centre") == ["four", "hour", "city", "center"]


def test_a_place_name_missing_from_the_dictionary_is_reached_by_its_pinyin():
    from qa.bridge import Bridge

    bridge = Bridge(["荷塘", "分局", "荣誉"])
    assert "荷塘" in bridge.translate("What honour did the Hetang branch receive?")
    assert "荣誉" in bridge.translate("What honour did the Hetang branch receive?")
