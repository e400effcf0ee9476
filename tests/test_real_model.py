"""The real default model on the bundled document, once per session."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.model


@pytest.mark.parametrize(
    "question, figure",
    [
        ("疫情期间共核查了多少人员？", "45561"),  # factoid, the README's example
        ("发布了多少条辟谣信息？", "34条"),  # answer across a repaired page break
        ("扫黑除恶摧毁了多少个黑恶犯罪团伙？", "75个"),
        ("建驾驶人考试中心花了多少钱？", "2亿元"),  # paraphrase: 投入 -> 花了
        ("How many people were checked during the epidemic?", "45561"),  # English
    ],
)
def test_finds_the_right_passage_in_top3(real_index, question, figure):
    a = real_index.ask(question, k=3)
    assert any(figure in p.text for p in a.passages[:3]), [p.text[:30] for p in a.passages]
    assert a.found
    assert figure in a.text
    assert a.text in a.passage.text  # a verbatim quote of the cited passage


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",  # a place the document never names
        "长沙市公安局局长是谁？",  # another city
        "2022年株洲公安获得了哪些荣誉？",  # a year the document does not cover
        "警务技能训练基地投资了多少钱？",  # an amount the document never gives
        "How do I bake bread?",
        "今天天气怎么样？",  # off-topic: no word of it is in the document
        "量子计算机的原理是什么？",
    ],
)
def test_unrelated_question_is_not_found(real_index, question):
    a = real_index.ask(question, k=3)
    assert a.found is False
    assert a.text == ""
    assert len(a.passages) == 3


def test_caption_is_its_own_answerable_passage(real_index):
    caption = next(u for u in real_index.units if u.kind == "caption" and "华为" in u.text)
    a = real_index.ask("市公安局什么时候与华为签署战略合作协议？", k=5)
    assert caption.id in [p.id for p in a.passages]
