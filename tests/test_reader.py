"""The reader's weights: a missing or damaged file is one clear line, and asking falls back to the sentence."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace

import pytest

import qa.reader
from qa import Settings, load_index
from qa.reader import READER_DIR, Reader, ReaderUnavailable


@pytest.fixture
def reader_on(monkeypatch):
    """The reader switched on, and the process's shared reader forgotten (each test loads its own)."""
    monkeypatch.setenv("DOCQA_READER", "on")
    monkeypatch.setattr(qa.reader, "_shared", None)
    monkeypatch.setattr(qa.reader, "_shared_error", None)


def _accepting(tmp_path):
    """Settings that accept every match: these tests are about the reader, not the not-found model."""
    base = Settings(home=tmp_path / "home")
    return replace(base, retrieval=replace(base.retrieval, not_found_threshold=-100.0))


def _copy_shipped(tmp_path):
    folder = tmp_path / "reader"
    shutil.copytree(READER_DIR, folder)
    return folder


def test_a_missing_folder_is_one_line_naming_what_to_do(tmp_path):
    with pytest.raises(ReaderUnavailable) as exc:
        Reader.load(tmp_path / "nowhere")
    msg = str(exc.value)
    assert "\n" not in msg and "manifest.json" in msg and "qa.reader_train" in msg


def test_a_damaged_weights_file_is_caught_before_it_is_read(tmp_path):
    folder = _copy_shipped(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    weights = folder / manifest["weights"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle
    weights.write_bytes(bytes(data))
    with pytest.raises(ReaderUnavailable, match="damaged"):
        Reader.load(folder)
    weights.write_bytes(bytes(data[: len(data) // 3]))  # a truncated download
    with pytest.raises(ReaderUnavailable, match="damaged"):
        Reader.load(folder)


@pytest.mark.parametrize("text", ["", "{not json", json.dumps({"format": "something else"}), json.dumps([1, 2])])
def test_a_bad_manifest_is_one_line(tmp_path, text):
    folder = _copy_shipped(tmp_path)
    (folder / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(ReaderUnavailable) as exc:
        Reader.load(folder)
    assert "\n" not in str(exc.value)


def test_the_shipped_manifest_says_how_the_weights_were_made():
    manifest = json.loads((READER_DIR / "manifest.json").read_text(encoding="utf-8"))
    weights = READER_DIR / manifest["weights"]
    assert weights.stat().st_size == manifest["size_bytes"] <= 40 * 1024 * 1024
    assert qa.reader._sha256(weights) == manifest["sha256"]
    assert manifest["command"].startswith("python -m qa.reader_train")
    held = manifest["held_out_figures"]["all"]
    assert 0 < held["f1"] <= 1 and held["answerable"] > 500


def test_asking_without_a_usable_reader_still_answers_with_the_sentence(reader_on, tmp_path, monkeypatch, fake_encoder, doc, caplog):
    monkeypatch.setenv("DOCQA_READER_DIR", str(tmp_path / "nowhere"))
    library = load_index(doc, encoder=fake_encoder, settings=_accepting(tmp_path))
    answer = library.ask("共摧毁黑恶犯罪团伙多少个？")
    assert answer.found and "75个" in answer.text
    assert answer.short == "" and answer.short_start == -1 and "reader" not in answer.signals
    assert qa.reader.reader_error() and "manifest.json" in qa.reader.reader_error()
    # Said once, in the log; asking again does not try (and fail) again.
    assert sum("answering without the reader" in r.getMessage() for r in caplog.records) == 1
    library.ask("全市整治事故多发路段多少处？")
    assert sum("answering without the reader" in r.getMessage() for r in caplog.records) == 1


def test_cli_says_in_one_line_that_it_answers_without_the_reader(reader_on, tmp_path, monkeypatch, fake, doc, capsys):
    from qa.cli import main

    monkeypatch.setenv("DOCQA_READER_DIR", str(tmp_path / "nowhere"))
    accept = tmp_path / "accept.json"
    accept.write_text(json.dumps({"not_found_threshold": -100.0}), encoding="utf-8")
    assert main(["ask", "共摧毁黑恶犯罪团伙多少个？", "--doc", str(doc), "--json", "--settings", str(accept)]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["found"] and "75个" in record["answer"] and record["short"] is None
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "without the reader" in lines[0]


def test_reader_off_is_the_retrieval_only_path(tmp_path, monkeypatch, fake_encoder, doc):
    monkeypatch.setattr("qa.retrieval.shared_reader", lambda: pytest.fail("the reader must not be loaded"))
    settings = _accepting(tmp_path)
    settings = replace(settings, retrieval=replace(settings.retrieval, reader=False))
    answer = load_index(doc, encoder=fake_encoder, settings=settings).ask("共摧毁黑恶犯罪团伙多少个？")
    assert answer.found and answer.short == "" and "reader" not in answer.timings


def test_the_chat_shows_the_exact_answer_first_and_marks_it_inside_the_sentence():
    from qa.answer import Answer, Passage
    from ui.render import render_answer

    text = "开头一句。共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人。最后一句<b>。"
    sentence = "共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人。"
    p = Passage(id=3, text=text, score=0.9, section="扫黑除恶")
    start, short = text.index(sentence), text.index("75个")
    answer = Answer(
        question="摧毁了多少个团伙？", found=True, text=sentence, passages=[p], confidence=0.8, passage_id=3,
        start=start, end=start + len(sentence), short="75个", short_start=short, short_end=short + 3,
    )
    html = render_answer(answer)
    assert html.index('<p class="docqa-short"><b>75个</b></p>') < html.index("docqa-quote")
    quote = html[html.index("docqa-quote"):html.index("docqa-source")]
    assert '“共摧毁黑恶犯罪团伙<mark class="short"><b>75个</b></mark>，抓获' in quote  # marked in the sentence
    paragraph = html[html.index("docqa-paragraph"):]
    assert '<mark class="answer">共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人。</mark>' in paragraph
    assert "&lt;b&gt;" in paragraph  # the document's own text stays text
    # Without a short answer (the reader off) the sentence leads, as before.
    plain = render_answer(Answer(question="q", found=True, text=sentence, passages=[p], confidence=0.8, passage_id=3,
                                 start=start, end=start + len(sentence)))
    assert "docqa-short" not in plain and 'class="short"' not in plain


def test_docqa_ask_prints_the_exact_answer_first_then_the_sentence():
    from qa.answer import Answer, Passage
    from qa.cli import format_answer

    text = "共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人。"
    p = Passage(id=3, text=text, score=0.9, section="扫黑除恶", paragraph=3)
    answer = Answer(question="抓获了多少人？", found=True, text=text, passages=[p], confidence=0.8, passage_id=3,
                    start=0, end=len(text), short="959人", short_start=text.index("959人"), short_end=text.index("959人") + 4)
    lines = format_answer(answer).splitlines()
    assert lines[0] == "答：959人" and lines[1].strip() == f"原文：{text}"
    assert "把握" in lines[2] and "第 3 段" in lines[2]
    # An English question: every line of chrome in English, the quote as the document has it.
    lines = format_answer(replace(answer, question="How many were arrested?")).splitlines()
    assert lines[0] == "Answer: 959人" and lines[1].strip() == f"Quote: {text}"
    assert "Confidence" in lines[2] and "paragraph 3" in lines[2] and "把握" not in lines[2]


def test_a_missing_runtime_graph_is_one_line(tmp_path, monkeypatch):
    import embeddings.e5_onnx

    monkeypatch.setattr(embeddings.e5_onnx, "GRAPH_FILE_INT8", tmp_path / "gone-int8.onnx")
    assert not Reader.load(int8=True).model.int8  # without the int8 graph: float32
    monkeypatch.setattr(embeddings.e5_onnx, "GRAPH_FILE", tmp_path / "gone.onnx")
    with pytest.raises(ReaderUnavailable) as exc:
        Reader.load()
    assert "\n" not in str(exc.value) and "gone.onnx" in str(exc.value)


def test_without_onnxruntime_the_answer_is_the_sentence_and_the_reason_names_the_package(reader_on, tmp_path, monkeypatch, fake_encoder, doc):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # "import onnxruntime" now raises ImportError
    library = load_index(doc, encoder=fake_encoder, settings=_accepting(tmp_path))
    answer = library.ask("共摧毁黑恶犯罪团伙多少个？")
    assert answer.found and "75个" in answer.text and answer.short == ""
    reason = qa.reader.reader_error()
    assert "\n" not in reason and "pip install onnxruntime" in reason


class _PointingReader:
    """A stand-in reader: the window holding `target` answers with it at `margin`; every other
    window's best span is the number in its ranked sentence (else its first two characters),
    at `elsewhere`."""

    def __init__(self, target: str, margin: float, elsewhere: float) -> None:
        self.target, self.margin, self.elsewhere = target, margin, elsewhere

    def read(self, question, windows, *, focus=()):
        import re

        from qa.reader import Span

        out = []
        for i, w in enumerate(windows):
            lo, hi = focus[i]
            m = re.search(r"\d+\D", w[lo:hi])
            a, b = (lo + m.start(), lo + m.end()) if m else (lo, lo + 2)
            own = Span(i, a, b, w[a:b], self.elsewhere, 0.0)
            at = w.find(self.target)
            if at < 0:
                out.append(replace(own, focus=own))
            else:
                best = Span(i, at, at + len(self.target), self.target, self.margin, 0.0)
                out.append(replace(best, focus=best if lo <= at < hi else own))
        return out


@pytest.mark.parametrize(("margin", "moves"), [(10.0, True), (-9.0, False)])
def test_a_span_elsewhere_replaces_the_ranked_sentence_only_when_the_reader_sees_an_answer(
    reader_on, tmp_path, monkeypatch, fake_encoder, doc, margin, moves
):
    # The ranked sentence is about the gangs; the reader points at the road sections instead,
    # by far more than the switching bar. Sure of it (margin 10), that is the answer; when no
    # window looks answered (-9 and -20, below reader_doubt), its pick is a guess and the
    # ranked sentence stays, with the reader's best span inside it.
    monkeypatch.setattr("qa.retrieval.shared_reader", lambda: _PointingReader("110处", margin, -20.0))
    settings = _accepting(tmp_path)
    library = load_index(doc, encoder=fake_encoder, settings=settings)
    assert (margin > settings.retrieval.reader_doubt) == moves  # each case on the side of the bar it means
    answer = library.ask("共摧毁黑恶犯罪团伙多少个？")
    assert answer.found
    if moves:
        assert answer.short == "110处" and "110处" in answer.text
    else:
        assert "75个" in answer.text and answer.short == "75个"
    passage = next(p for p in answer.passages if p.id == answer.passage_id)
    assert passage.text[answer.short_start:answer.short_end] == answer.short


@pytest.mark.parametrize("margin", [10.0, -9.0])
def test_the_tuning_replay_quotes_what_asking_quotes(reader_on, tmp_path, monkeypatch, fake_encoder, doc, margin):
    # tests/perf/reader_pick.py tunes the span choice by replaying what the reader read:
    # replayed under the settings it was asked with, it must give the very answer asked.
    from tests.perf.reader_pick import collect, quoted

    monkeypatch.setattr("qa.retrieval.shared_reader", lambda: _PointingReader("110处", margin, -20.0))
    library = load_index(doc, encoder=fake_encoder, settings=_accepting(tmp_path))
    rows = [{"id": "a", "question": "共摧毁黑恶犯罪团伙多少个？", "answers": ["75个"]},
            {"id": "b", "question": "疫情期间共核查了多少人员？", "answers": ["45561人"]}]
    pairs = collect({"doc": (library, rows)})["doc"]
    assert len(pairs) == 2 and all(read is not None for _, read in pairs)
    for rec, read in pairs:
        assert rec.found and quoted(read, library.settings.retrieval) == (rec.text, rec.short)
    texts = {rec.id: rec.text for rec, _ in pairs}
    assert ("110处" in texts["a"]) == (margin > library.settings.retrieval.reader_doubt)


_CROPS = """测试文档

农业

全镇耕地两万亩。主要作物：水稻、玉米、大豆等，年产粮食九千吨。

交通

全镇公路总长80公里。
"""


@pytest.mark.parametrize(("question", "short"), [("全镇主要作物有哪些？", "水稻、玉米、大豆"), ("全镇主要作物是什么？", "玉米")])
def test_a_question_asking_for_a_list_gets_the_whole_list(reader_on, tmp_path, monkeypatch, fake_encoder, question, short):
    # The reader likes one item best; a "哪些" question is answered with every item of its list,
    # verbatim at its offsets, and the tuning replay quotes the same.
    from tests.perf.reader_pick import collect, quoted

    monkeypatch.setattr("qa.retrieval.shared_reader", lambda: _PointingReader("玉米", 10.0, -20.0))
    path = tmp_path / "crops.txt"
    path.write_text(_CROPS, encoding="utf-8")
    library = load_index(path, encoder=fake_encoder, settings=_accepting(tmp_path))
    answer = library.ask(question)
    assert answer.found and answer.short == short
    passage = next(p for p in answer.passages if p.id == answer.passage_id)
    assert passage.text[answer.short_start:answer.short_end] == short and short in answer.text
    (rec, read), = collect({"doc": (library, [{"id": "a", "question": question, "answers": [short]}])})["doc"]
    assert quoted(read, library.settings.retrieval) == (rec.text, rec.short) == (answer.text, short)


_ROADS = """测试文档

交通安全

全市整治事故多发路段工作持续推进，整治事故多发路段是全市交通安全工作的重点。

路段整治

今年共整治110处，没有发生重大交通事故。

扫黑除恶

共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人。
"""


@pytest.mark.parametrize("rerank", [True, False])
def test_the_passage_the_answer_stands_in_goes_first_when_sentence_rules_and_reader_agree(
    reader_on, tmp_path, monkeypatch, fake_encoder, rerank
):
    doc = tmp_path / "roads.txt"
    doc.write_text(_ROADS, encoding="utf-8")
    monkeypatch.setattr("qa.retrieval.shared_reader", lambda: _PointingReader("110处", 10.0, -20.0))
    settings = _accepting(tmp_path)
    config = replace(settings.retrieval, quote_first=rerank)
    library = load_index(doc, encoder=fake_encoder, settings=settings)
    # Retrieval ranks the passage that repeats the question's words first; the sentence
    # rules pick the count in the next one, and the reader reads the same answer there.
    agreed = library.ask("今年共整治事故多发路段多少处？", config=config)
    assert agreed.short == "110处"
    assert (agreed.passages[0].id == agreed.passage_id) == rerank
    # Without the reader the sentence rules alone decide it.
    fast = library.ask("今年共整治事故多发路段多少处？", config=replace(config, reader=False))
    assert fast.short == "" and "110处" in fast.text
    assert (fast.passages[0].id == fast.passage_id) == rerank
    assert sorted(p.id for p in fast.passages) == sorted(p.id for p in agreed.passages)
    # Here the sentence rules pick the first passage and the reader switches away from it:
    # the order stays retrieval's.
    switched = library.ask("全市整治事故多发路段多少处？", config=config)
    assert switched.short == "110处" and switched.passages[0].id != switched.passage_id
