"""The off-topic judgement: a question is about nothing the document mentions."""

from __future__ import annotations

from types import SimpleNamespace

from qa import notfound
from qa.settings import RetrievalConfig

# The keyword index holds the words its segmenter cut; "四防" is only inside "四巡四防".
UNITS = [SimpleNamespace(section="社会治安", text="市公安局统筹推进“四巡四防”工程，全市刑事发案率下降30%。")]
INDEXED = {"市公安局", "统筹", "推进", "四巡四防", "工程", "全市", "刑事", "发案率", "下降"}


def _signals(terms: list[str]) -> dict[str, float]:
    doc = notfound.DocumentTerms(UNITS, INDEXED.__contains__)
    return notfound.match_signals(
        doc, query="".join(terms), terms=terms, groups=None, top_text=UNITS[0].text, dense_best=0.5, dense_z=1.0, lang=1.0
    )


def test_a_word_inside_a_longer_document_word_is_mentioned():
    signals = _signals(["四防", "哪几种"])
    assert signals["oov"] == 1.0  # the index has neither word ...
    assert not notfound.off_topic(signals, RetrievalConfig())  # ... but the document says "四防": not off the topic


def test_a_question_sharing_only_single_characters_stays_off_the_topic():
    # "会" and "市" occur in the text; single characters say nothing about the topic.
    for terms in (["明天", "会", "下雨"], ["今天", "天气", "怎么样"], ["城市", "天气"]):
        assert notfound.off_topic(_signals(terms), RetrievalConfig()), terms


def test_only_the_off_topic_clamp_reads_the_flag():
    assert "unmentioned" not in notfound.signals()  # the fitted model does not weigh it
    config = RetrievalConfig(reader=False)
    on = _signals(["四防", "哪几种"])
    z = notfound.evidence(on, config) + config.not_found_threshold
    assert notfound.evidence(dict(on, unmentioned=1.0), config) == min(z, -1.0) - config.not_found_threshold
    # Signals recorded before the flag existed: the share of words the index lacks decides, as it did.
    assert notfound.off_topic({"oov": 1.0, "dense_z": 0.0}, config)
    assert not notfound.off_topic({"oov": 0.5, "dense_z": 0.0}, config)
