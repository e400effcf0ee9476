"""Mined reader windows: the windows the product reads, labelled for training, from train articles only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa import Settings, load_index
from qa.reader import Span
from qa.reader_data import NO_ANSWER, ReaderExample, write_examples
from qa.reader_mine import capture_windows, window_examples
from qa.reader_train import _mined
from qa.squad import article_split

ROW = {"id": "q7", "question": "苹果园今年收获苹果多少吨？", "answers": ["三百吨"]}
WINDOWS = [
    (0, 0, "今年苹果园收获苹果三百吨。苹果销往全国各地。"),  # the answer once
    (1, 0, "香蕉仓库在码头。仓库存放香蕉五十箱。"),  # none of the answers
    (2, 4, "三百吨是去年的三百吨。"),  # the answer twice: which one is meant is unknown, left out
]


def test_a_window_is_labelled_by_what_it_holds():
    rows = window_examples(ROW, WINDOWS, dataset="cmrc2018", title="水果")
    assert [e.kind for e in rows] == ["read-answer", "read-wrong"]
    answer, wrong = rows
    assert answer.context[answer.start : answer.end] == "三百吨" and answer.answerable
    assert (wrong.start, wrong.end) == (NO_ANSWER, NO_ANSWER) and not wrong.answerable
    assert len({e.id for e in rows}) == 2 and all(e.title == "水果" and e.question == ROW["question"] for e in rows)


def test_every_window_of_a_question_whose_answer_was_removed_declines():
    cut = dict(ROW, answers=[])
    rows = window_examples(cut, WINDOWS, dataset="cmrc2018", title="水果")
    assert [e.kind for e in rows] == ["read-cut"] * 3 and not any(e.answerable for e in rows)


def _title(split: str) -> str:
    return next(t for t in (f"文章{n}" for n in range(1000)) if article_split("cmrc2018", t) == split)


def test_training_refuses_windows_mined_from_a_dev_article(tmp_path):
    base = dict(question="问？", context="一句话。", start=NO_ANSWER, end=NO_ANSWER, kind="read-wrong", dataset="cmrc2018")
    path = tmp_path / "mined.jsonl"
    write_examples([ReaderExample(id="a", title=_title("train"), **base)], path)
    assert len(_mined(path, "train")) == 1
    write_examples([ReaderExample(id="a", title=_title("train"), **base), ReaderExample(id="b", title=_title("dev"), **base)], path)
    with pytest.raises(SystemExit, match="1 windows are not from train"):
        _mined(path, "train")


class _Recording:
    """A stand-in reader: remembers the windows it was given, finds nothing in them."""

    def __init__(self):
        self.windows = []

    def read(self, question, windows, focus=None):
        self.windows.append(list(windows))
        return [Span(k, 0, 1, w[:1], 0.0, 1.0) for k, w in enumerate(windows)]


def test_the_mined_windows_are_the_ones_the_reader_reads(tmp_path, monkeypatch, fake_encoder, doc):
    reader = _Recording()
    monkeypatch.setattr("qa.retrieval.shared_reader", lambda: reader)
    base = Settings(home=tmp_path / "home")
    config = replace(base.retrieval, not_found_threshold=-100.0, reader=True)
    library = load_index(doc, encoder=fake_encoder, settings=replace(base, retrieval=config))
    question = "共摧毁黑恶犯罪团伙多少个？"
    library.ask(question, config=config)
    sink: list = []
    with capture_windows(sink):
        answer = library.ask(question, config=config)
    assert answer.found and "reader" not in answer.signals  # captured, not read
    assert len(reader.windows) == 1 and len(sink) == 1
    assert [w[2] for w in sink[0]] == reader.windows[0] and len(sink[0]) >= 2
    library.ask(question, config=config)  # patched only inside
    assert len(reader.windows) == 2
