"""The answer step: what kind of value a question asks for, and what that does to the answer."""

from __future__ import annotations

import numpy as np
import pytest

import qa
from qa import RetrievalConfig, Settings
from qa.answer import SentenceCandidates, choose_sentence
from qa.intents import expected_answer
from qa.corpus import Sentence
from tests.fakes import SMALL_ZH_DOC, HashEncoder


@pytest.mark.parametrize(
    "question, kind, yes, no",
    [
        ("驾驶人考试中心花了多少钱？", "money", "投入2亿元建成", "建成驾驶人考试中心"),
        ("核查完成率是多少？", "percent", "完成率100%", "完成了核查"),
        ("刑事技术大楼是哪一年建成的？", "year", "2019年建成", "今年建成"),
        ("什么时候设立的卡点？", "date", "1月24日设立", "设立了卡点"),
        ("抓获了多少名犯罪嫌疑人？", "count:名", "抓获犯罪嫌疑人959人", "摧毁团伙75个"),
        ("驾驶人考试中心建在哪个区？", "category:区", "位于荷塘区", "位于株洲"),
        ("哪个区的中学获了奖？", "category:区", "岳麓区第一中学获奖", "第一中学获奖"),
        ("市民中心在哪条路上？", "category:路", "位于新华路", "位于市中心"),
        ("跟哪家企业签了协议？", "category:企业", "与华为技术有限公司签约", "与华为签约"),
        ("“长安杯”是哪个部门颁发的？", "category:部门", "由中央政法委颁发", "捧得长安杯"),
        ("Which district is the driving test centre in?", "category:区", "位于荷塘区", "位于株洲"),
        ("How many students were admitted last year?", "count:人", "去年录取新生2300人", "新建教学楼3栋"),
        ("How many criminal cases did the police handle?", "count:起", "侦办刑事案件79起", "办理案件的3个部门"),
        ("How many square metres does the centre cover?", "count:平方米", "占地3万平方米", "总容量达2800人"),
        ("南宁会议在哪一年举行？", "year", "公元前216年", "南宁会议规模很大"),
        ("解放军于何年大败国军？", "year", "民国38年", "解放军大败国军"),
        ("峡谷什么时候可能会短期关闭？", "date", "春季化雪的时候关闭", "峡谷可能关闭"),
        ("最多可以骑到每小时多少公里的人为经过训练的？", "count", "每小时45公里", "经过训练的人"),
        ("一共帮扶了多少贫困户？", "count:户", "帮扶贫困户1200户", "全力投入精准脱贫"),
        ("疫情期间有多少确诊病例？", "count:例", "累计确诊80例", "无论在一条抗疫战线"),
        ("六项重点工作是哪六项？", "list:6", "压发案、破小案、强基础、重科技、抓管理、保稳定", "压发案、破小案"),
        ("是哪两年获评的？", "list:2", "分别获评2018、2019年十大案件", "获评2019年十大案件"),
        ("Which two gang cases were named model cases?", "list:2", "“2·8游鑫涉黑案”“10·29谭江华涉黑组织案”", "“2·8游鑫涉黑案”获评"),
        ("What are the six key tasks?", "list:6", "压发案、破小案、强基础、重科技、抓管理、保稳定", "压发案"),
        ("哪两方签约？", "list:2", "市公安局与华为技术有限公司签约", "市公安局签约"),
        ("深入开展了哪两个“年”活动？", "list:2", "开展“产业项目建设年”“企业帮扶年”活动", "开展“企业帮扶年”活动"),
    ],
)
def test_the_kind_of_value_asked_for_and_what_answers_it(question, kind, yes, no):
    """Each kind, with a sentence that holds it and one that does not (the last four from DRCD train questions)."""
    expect = expected_answer(question)
    assert expect is not None and expect.kind == kind
    assert expect.satisfied_by(yes)
    assert not expect.satisfied_by(no)


@pytest.mark.parametrize("question", ["费尔德海斯是哪个国家的游泳运动员？", "高句丽西线战线来讲哪一城市的丧失是毁灭性的打击？"])
def test_a_country_or_city_is_not_expected_to_end_in_its_suffix(question):
    """瑞士, 荷兰, 新城: names of countries and cities seldom end in 国 or 市 (DRCD)."""
    assert expected_answer(question) is None


@pytest.mark.parametrize(
    "question",
    [
        "为什么要开展扫黑除恶？",
        "株洲公安的总目标是什么？",
        "怎样防控疫情？",
        "这几年有没有出过特大车祸？",  # 这几年 is "these years", not a count of years
        "What honour did the criminal investigation brigade receive?",  # investigation is no investment
        "文中用哪八个字形容？",  # eight characters: one phrase, not a list of eight items
    ],
)
def test_questions_without_a_kind_of_value(question):
    assert expected_answer(question) is None


def test_colloquial_question_words_are_not_keywords():
    from qa.lexical import tokenize

    assert tokenize("文里那些照片是哪家给的？") == ["文里", "照片", "给"]
    assert "啥" not in tokenize("在天上巡逻那一招叫啥？")


def _candidate(texts, sims):
    sentences, start = [], 0
    for t in texts:
        sentences.append(Sentence(t, start))
        start += len(t)
    return SentenceCandidates(0, 1.0, sentences, np.array(sims, dtype=np.float32), "".join(texts))


def test_the_sentence_holding_the_asked_kind_wins_over_a_slightly_closer_one():
    cand = _candidate(["驾驶人考试中心各类硬件居全省一流。", "驾驶人考试中心投入2亿元建成。"], [0.90, 0.85])
    choice = choose_sentence([cand], ["驾驶人", "考试", "中心"], expect=expected_answer("驾驶人考试中心花了多少钱？"))
    assert "2亿元" in choice.sentence.text and choice.type_ok and choice.type_gap == pytest.approx(0.05, abs=1e-6)


def test_no_sentence_of_the_asked_kind_shows_as_the_largest_gap():
    cand = _candidate(["驾驶人考试中心各类硬件居全省一流。", "每年接待考生量很大。"], [0.90, 0.85])
    choice = choose_sentence([cand], ["驾驶人"], expect=expected_answer("驾驶人考试中心建在哪个区？"))
    assert not choice.type_ok and choice.type_gap == 0.5
    plain = choose_sentence([cand], ["驾驶人"], expect=None)
    assert plain.type_gap == 0.0


@pytest.fixture
def leaders(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(SMALL_ZH_DOC + "\n领导\n\n副市长、市公安局局长李晚葵督导疫情防控工作。全国扫黑办主任陈一新来株视察。\n", encoding="utf-8")
    return qa.load_index(path, encoder=HashEncoder(), settings=Settings(home=tmp_path / "home"))


@pytest.mark.parametrize(
    "question, missing",
    [
        ("市公安局局长是谁？", 0.0),  # the document names him
        ("谁是副市长？", 0.0),
        ("市公安局副局长是谁？", 1.0),  # no deputy director anywhere in the document
        ("株洲市长叫什么名字？", 1.0),  # 市长 only inside 副市长: a deputy is not the mayor
        ("全国扫黑办主任是谁？", 0.0),
        ("市公安局政治部主任是谁？", 1.0),  # its only 主任 heads another office
    ],
)
def test_a_title_the_document_never_uses_counts_against_an_answer(leaders, question, missing):
    assert leaders.ask(question).signals["missing"] == missing


@pytest.mark.parametrize(
    "question, missing",
    [
        ("2019年发案总量下降了多少？", 0.0),
        ("How much did crime fall by 2019?", 0.0),
        ("2021年发案总量下降了多少？", 1.0),  # the document gives 2019 against 2015, nothing for 2021
        ("How much did crime fall in 2021?", 1.0),
    ],
)
def test_a_year_the_answer_sentence_does_not_give_counts_against_it(tmp_path, question, missing):
    path = tmp_path / "doc.txt"
    path.write_text("治安\n\n2019年全市刑事发案总量较2015年下降了31.16%。全市治安形势持续好转。\n", encoding="utf-8")
    idx = qa.load_index(path, encoder=HashEncoder(), settings=Settings(home=tmp_path / "home"))
    assert idx.ask(question).signals["missing"] == missing


def test_the_sentence_that_gives_the_asked_year_wins_over_a_slightly_closer_one():
    """"1960年的时候，杜林有何里程碑？": the sentence naming 1960, not a closer one about another time."""
    cand = _candidate(["杜林的人口在战后迅速增长。", "1960年，杜林市区人口达到100万。"], [0.90, 0.86])
    terms = ["杜林", "里程碑"]
    assert choose_sentence([cand], terms).sentence.text.startswith("杜林的人口")
    assert choose_sentence([cand], terms, years=["1960"]).sentence.text.startswith("1960年")
    assert choose_sentence([cand], terms, years=["1960"], year_penalty=0.0).sentence.text.startswith("杜林的人口")


def test_a_short_opening_line_gives_way_to_the_sentence_that_says_what_happened():
    lead = "近5年来，株洲公安力推改革，佳绩频传。"
    cand = _candidate([lead, "市局连续3年斩获全省优秀重点改革项目。", "全局营造改革氛围。"], [0.88, 0.83, 0.80])
    assert choose_sentence([cand], ["改革"]).sentence.text != lead
    assert choose_sentence([cand], ["改革"], lead_penalty=0.0).sentence.text == lead
    two = _candidate([lead, "市局连续3年斩获全省优秀重点改革项目。"], [0.88, 0.83])  # too short a passage to have a lead
    assert choose_sentence([two], ["改革"]).sentence.text == lead


@pytest.mark.parametrize(
    "question, heading",
    [
        ("这篇报道的标题是什么？", "title"),
        ("What is the title of the article?", "title"),
        ("What is the subtitle of this article", "title"),
        ("这一部分的小标题是什么？", "section"),
        ("Which national title did Zhuzhou manage to keep?", None),  # an honour, not a heading
        ("支队获得了什么称号？", None),
    ],
)
def test_questions_for_a_heading(question, heading):
    from qa.intents import asks_for_heading

    assert asks_for_heading(question) == heading


def test_a_paraphrase_finds_its_sentence_through_shared_characters():
    # "毒品大案" is not a word of either sentence, but 毒 and 案 are characters of the right one.
    cand = _candidate(["株洲侦办了一批要案。", "先后破获部督“3·8”贩毒案。", "全年开展多次行动。"], [0.85, 0.85, 0.80])
    terms = ["公安部", "督办", "毒品", "大案"]
    assert "贩毒" in choose_sentence([cand], terms, lead_penalty=0.0).sentence.text
    assert "贩毒" not in choose_sentence([cand], terms, lead_penalty=0.0, char_weight=0.0).sentence.text


PHOTOS = SMALL_ZH_DOC + """
▲2018年1月5日，市公安局与华为公司签署合作协议。

基础建设

投入2亿元建成驾驶人考试中心。

▲2020年9月8日，支队荣获全国先进集体称号。

▲2017年9月25日，领导与全国百佳刑警合影。
"""


@pytest.mark.parametrize(
    "question, caption",
    [
        ("第一张配图是哪天拍的？", "▲2018年1月5日，市公安局与华为公司签署合作协议。"),
        ("第二张照片里是什么事？", "▲2020年9月8日，支队荣获全国先进集体称号。"),
        ("最後一張配圖講的是什麼？", "▲2017年9月25日，领导与全国百佳刑警合影。"),
        ("What does the last photo show?", "▲2017年9月25日，领导与全国百佳刑警合影。"),
    ],
)
def test_a_photo_named_by_its_position_is_answered_by_its_caption(tmp_path, question, caption):
    path = tmp_path / "doc.txt"
    path.write_text(PHOTOS, encoding="utf-8")
    idx = qa.load_index(path, encoder=HashEncoder(), settings=Settings(home=tmp_path / "home"))
    a = idx.ask(question)
    assert a.found and a.text == caption and a.passage.kind == "caption" and a.passages[0].id == a.passage_id


def test_a_photo_position_past_the_last_caption_is_an_ordinary_question(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(PHOTOS, encoding="utf-8")
    idx = qa.load_index(path, encoder=HashEncoder(), settings=Settings(home=tmp_path / "home"))
    assert "photo" not in idx.ask("第九张照片是什么？").signals


# -- a question asking for a list gets the whole list --------------------------------


@pytest.mark.parametrize(
    ("question", "asks"),
    [("这家公司有哪些子公司？", True), ("有哪几类？", True), ("哪三个省份", True), ("分别是什么", True), ("有哪幾類", False),
     ("还有哪位领导？", False), ("哪一年成立？", False), ("哪个部门负责？", False), ("Which ones are listed?", True),
     ("共有多少人？", False)],
)
def test_which_questions_ask_for_a_list(question, asks):
    # The product asks with the normalised question (traditional folded to simplified): "有哪幾類" arrives as "有哪几类".
    from qa.intents import asks_for_list

    assert asks_for_list(question) == asks


@pytest.mark.parametrize(
    ("text", "span", "whole"),
    [
        ("主要作物：水稻、玉米、大豆等。", "玉米", "水稻、玉米、大豆"),  # both ways, up to 等
        ("成员：张三、李四和王五。", "李四", "张三、李四和王五"),  # the last item after 和
        ("该镇主要种植水稻、玉米、大豆等作物。", "玉米", "玉米、大豆"),  # a first item that carries the clause's lead-in: left out
        ("他精通英语、法语和意大利语。", "法语和意大利语", "他精通英语、法语和意大利语"),
        ("全力推进防范化解重大金融风险、精准脱贫、污染防治三大攻坚战。", "精准脱贫", "精准脱贫"),  # a long first item, a predicate last: kept out
        ("分别是约鲁巴、伊博三个部族。", "约鲁巴", "约鲁巴"),
        ("水稻是重要的粮食作物，玉米也很常见。", "玉米", "玉米"),  # no list: the span stands
        ("该镇主要种植水稻、玉米、大豆等作物。", "玉", "玉"),  # part of an item, not an item: the span stands
    ],
)
def test_a_span_that_is_an_item_widens_to_its_list(text, span, whole):
    from qa.intents import widen_to_list

    at = text.index(span)
    start, end = widen_to_list(text, at, at + len(span))
    assert text[start:end] == whole
