"""Reliability: hostile questions everywhere a user reaches, hostile documents, damaged state,
concurrent builds and a build killed with SIGKILL. Real files and real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

import qa
import qa.api
from qa import Settings, load_index, store
from qa.cli import main
from qa.library import library_root
from qa.readers import read_file as read_document
from tests.fakes import SMALL_ZH_DOC, HashEncoder

ROOT = Path(__file__).resolve().parent.parent

DOC = SMALL_ZH_DOC

# Questions a user can type that are not errors: each gets an answer or a not-found.
HOSTILE_QUESTIONS = [
    "疫情\x00期间共\x1b核查了多少人员？\x7f",  # NUL and other control characters
    "\ud800疫情期间\udfff核查了多少人员？",  # lone (invalid) surrogates
    "🙂🤖 疫情期间共核查了多少人员？ 🚓",  # emoji
    "\u202eكم عدد الأشخاص الذين تم فحصهم؟",  # right-to-left override + Arabic
    "שלום, כמה אנשים נבדקו?",  # Hebrew
    "ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ ᠦᠰᠦᠭ",  # Mongolian script: nothing in the model is made for it
    "𓀀𓀁𓀂 𓃰𓃱?",  # Egyptian hieroglyphs: an unsupported script
    "<script>alert(1)</script><img src=x onerror=alert(2)>疫情",  # HTML/JS
    "[click](javascript:alert(1)) **核查** `rm -rf /` # 标题",  # Markdown
    "？！。，、",  # only punctuation
    "疫" * 2000,  # exactly the limit
]
# (question, k) that must raise ValueError naming the problem.
BAD_CALLS = [
    ("", 5, "question is empty"),
    ("  \n\t ", 5, "question is empty"),
    ("问" * 100_000, 5, "too long"),
    (None, 5, "question must be a string"),
    (b"bytes", 5, "question must be a string"),
    ("问题", 0, "k must be between 1 and 50, got 0"),
    ("问题", -1, "k must be between 1 and 50, got -1"),
    ("问题", 10**9, "k must be between 1 and 50"),
    ("问题", 2.5, "k must be an integer, got float"),
    ("问题", "3", "k must be an integer, got str"),
    ("问题", True, "k must be an integer, got bool"),
]


def assert_well_formed(answer, k: int, index) -> None:
    assert isinstance(answer, qa.Answer)
    assert isinstance(answer.found, bool)
    assert 0.0 <= answer.confidence <= 1.0
    if answer.off_topic:  # no question at all (punctuation, markup) or off the document's topic: declined
        assert not answer.found and len(answer.passages) <= k
    else:
        assert 1 <= len(answer.passages) <= k
    assert all(np.isfinite(p.score) for p in answer.passages)
    if answer.found:
        # Verbatim from the document: a quote from a passage, or a heading when asked for one.
        assert answer.text
        assert answer.text in answer.passage.text or answer.text in {u.section for u in index.units}
    else:
        assert answer.text == ""


# -- questions: the library ------------------------------------------------------------------


@pytest.mark.parametrize("question", HOSTILE_QUESTIONS, ids=range(len(HOSTILE_QUESTIONS)))
def test_hostile_questions_get_an_answer_or_not_found(doc, settings, question):
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    assert_well_formed(index.ask(question, k=3), 3, index)


@pytest.mark.parametrize("question, k, message", BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_bad_calls_raise_value_error_naming_the_problem(doc, settings, question, k, message):
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        index.ask(question, k)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        qa.ask(question, k)  # checked before the bundled index is loaded: costs nothing


@pytest.mark.model
@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(max_size=300) | st.text(alphabet=st.characters(codec="utf-8"), max_size=40), k=st.integers(-3, 60))
def test_property_real_model_any_text_is_an_answer_or_value_error(real_index, question, k):
    try:
        answer = real_index.ask(question, k)
    except ValueError:
        return
    assert_well_formed(answer, k, real_index)


@pytest.mark.model
@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(max_size=200))
def test_property_qa_ask_itself(real_index, monkeypatch, question):
    monkeypatch.setattr(qa.api, "_default", real_index)  # the bundled document, already indexed
    try:
        answer = qa.ask(question, 3)
    except ValueError:
        return
    assert_well_formed(answer, 3, real_index)


@pytest.mark.model
@pytest.mark.parametrize("question", HOSTILE_QUESTIONS, ids=range(len(HOSTILE_QUESTIONS)))
def test_real_model_hostile_questions(real_index, question):
    assert_well_formed(real_index.ask(question, k=5), 5, real_index)


@pytest.mark.model
def test_real_model_long_question_is_fast(real_index):
    # The encoder reads at most 512 characters of a question (embeddings/encoders.py).
    real_index.ask("疫情期间共核查了多少人员？", 5)
    t0 = time.perf_counter()
    assert_well_formed(real_index.ask("疫情期间共核查了多少人员？" * 150, 5), 5, real_index)
    assert time.perf_counter() - t0 < 5.0


# -- questions: the chat ---------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize(
    "message",
    ["", "   ", "问" * 100_000, "\x00\x01", None, 42, ["list"], {"text": 1}, "？！。", *HOSTILE_QUESTIONS],
    ids=range(20),
)
def test_chat_respond_with_the_real_index_never_raises(real_index, message):
    from ui.chat import respond

    reply = respond(message, [{"role": "user", "content": "疫情期间共核查了多少人员？"}], index=real_index)
    assert isinstance(reply, str) and reply.startswith("<")
    # A not-found reply may carry a second class ("docqa-notfound docqa-offtopic").
    assert any(c in reply for c in ('class="docqa-source"', 'class="docqa-notfound', 'class="docqa-notice"'))
    assert "<script" not in reply and "<img" not in reply and "Traceback" not in reply
    # ...and it keeps serving.
    assert "45561" in respond("疫情期间共核查了多少人员？", [], index=real_index)


# -- questions: the command line, as real processes -----------------------------------------


@pytest.fixture
def cli_home(real_index):
    """The environment of a cold `docqa` process whose cache holds the bundled document's index."""
    env = dict(os.environ, DOCQA_HOME=str(real_index.settings.home), HF_HUB_OFFLINE="1")
    env.pop("DOCQA_ENCODER", None)
    return env


def run_cli(env, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout, errors="replace")


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize(
    "args, code, message",
    [
        (["ask", ""], 1, "question is empty"),
        (["ask", " \t "], 1, "question is empty"),
        (["ask", "x" * 100_000], 1, "too long"),  # Linux caps one argument at 128 KiB
        (["ask", "问题", "-k", "0"], 2, "k must be between 1 and 50, got 0"),
        (["ask", "问题", "-k", "-1"], 2, "k must be"),
        (["ask", "问题", "-k", str(10**9)], 2, "k must be between 1 and 50"),
        (["ask", "问题", "-k", "2.5"], 2, "k must be an integer"),
        (["ask", "问题", "-k", "three"], 2, "k must be an integer"),
        (["ask", "问题", "--doc", "/nonexistent/x.txt"], 1, "document not found: /nonexistent/x.txt"),
        (["ask", "问题", "--doc", "EMPTY_DIR"], 1, "EMPTY_DIR"),  # a folder with nothing readable
    ],
    ids=range(10),
)
def test_cli_bad_input_is_one_line_and_an_exit_code(cli_home, tmp_path, args, code, message):
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    args = [str(empty) if a == "EMPTY_DIR" else a for a in args]
    message = str(empty) if message == "EMPTY_DIR" else message
    out = run_cli(cli_home, *args)
    assert out.returncode == code, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    if code == 1:
        assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("question", [HOSTILE_QUESTIONS[i] for i in (0, 2, 3, 6, 7, 9)], ids=range(6))
def test_cli_hostile_questions_answer(cli_home, question):
    # argv cannot carry NUL or lone surrogates; the library tests above cover those.
    question = question.replace("\x00", "")
    out = run_cli(cli_home, "ask", question, "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert isinstance(record["found"], bool) and len(record["passages"]) <= 5
    # Only input with no question in it (punctuation, markup) is declined without passages.
    assert record["passages"] or (record["off_topic"] and not record["found"])


# -- documents ---------------------------------------------------------------------------------


def test_latin1_document_is_detected_or_refused_naming_the_file(tmp_path):
    path = tmp_path / "résumé-latin1.txt"
    text = "Le café du marché a été rénové en 2019; le coût était de 12 000 €.\n\nÇa a pris trois mois, déjà.\n"
    path.write_bytes(text.replace("€", "EUR").encode("latin-1"))
    try:
        document = read_document(path)
    except ValueError as exc:
        assert str(path) in str(exc)
        return
    assert document.units[0].text == text.replace("€", "EUR").split("\n")[0]  # decoded right, not mojibake


def test_utf16_with_bom_document_answers(tmp_path, settings):
    path = tmp_path / "utf16.txt"
    path.write_bytes(DOC.encode("utf-16"))  # writes a BOM
    index = load_index(path, encoder=HashEncoder(), settings=settings)
    assert "959" in index.ask("抓获了多少犯罪嫌疑人？", k=1).passages[0].text


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b" \n\n \t", "empty"),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8, "unsupported file type"),
        ("random.bin", np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes(), "unsupported file type"),
        ("random.txt", np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes(), "binary|encoding"),
    ],
)
def test_unreadable_documents_are_refused_naming_the_file(tmp_path, capsys, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as exc:
        read_document(path)
    assert path.name in str(exc.value)
    assert main(["index", str(path)]) == 1  # and the CLI says so in one line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]


@pytest.mark.slow
def test_fifty_megabyte_document_reads_in_bounded_time_and_memory(tmp_path):
    path = tmp_path / "big.txt"
    para = "株洲市公安局共核查人员45561人，完成率百分之百，发布辟谣信息三十四条，化解矛盾纠纷二百余起。\n\n"
    with path.open("w", encoding="utf-8") as f:
        f.write("大文件\n\n")
        for _ in range(50 * 2**20 // len(para.encode()) + 1):
            f.write(para)
    size = path.stat().st_size
    assert size >= 50 * 2**20
    # In a fresh process, so its peak resident memory is the reading's own.
    code = (
        "import resource, sys, time, json\n"
        "from qa.readers import read_file as read_document\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t0 = time.perf_counter(); d = read_document(sys.argv[1]); t = time.perf_counter() - t0\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'s': t, 'units': len(d.units), 'grew': (peak - base) * 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)
    assert m["units"] == (size - 11) // len(para.encode())  # every paragraph, none lost
    assert m["s"] < 60, m  # measured ~3-4 s on 2 busy cores
    assert m["grew"] < 10 * size, m  # measured ~6x the file: bytes, str, lines, passages


def test_one_giant_paragraph_without_blank_lines_is_linear(tmp_path):
    # Hard-wrapped prose that never ends a sentence: every line joins the one before.
    # Joining line by line was quadratic (4 MB took ~28 s); now ~0.5 s.
    line = "the budget for the road safety programme was increased by ten percent and the city repaired\n"
    path = tmp_path / "wrapped.txt"
    path.write_text("Report\n\n" + line * (4 * 2**20 // len(line)), encoding="utf-8")
    t0 = time.perf_counter()
    document = read_document(path)
    assert time.perf_counter() - t0 < 10
    assert all(len(u.text) <= 1200 for u in document.units)
    assert "".join(u.text for u in document.units).count("the budget") == 4 * 2**20 // len(line)
    one_line = tmp_path / "one-line.txt"
    one_line.write_text("没有标点的超长一句" * 1_000_000, encoding="utf-8")  # 9M chars, no sentence end
    t0 = time.perf_counter()
    document = read_document(one_line)
    assert time.perf_counter() - t0 < 10 and len(document.units) == 7500


def test_giant_paragraph_indexes_and_answers(tmp_path, settings):
    path = tmp_path / "giant.txt"
    body = "".join(f"第{i}项工作共投入资金{i * 7}万元，" for i in range(3000)) + "全年共抓获犯罪嫌疑人959人。"
    path.write_text(body, encoding="utf-8")
    index = load_index(path, encoder=HashEncoder(), settings=settings)
    assert len(index) > 1 and all(len(u.text) <= 1200 for u in index.units)
    assert_well_formed(index.ask("抓获了多少犯罪嫌疑人？", k=3), 3, index)


# -- damaged state (the 13 kinds in test_index.py, plus what a size check cannot see) ----------


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(b ^ 0xFF for b in data[mid : mid + 64])
    path.write_bytes(bytes(data))


def answers(index):
    return [(a.found, a.text, [p.id for p in a.passages]) for a in
            (index.ask(q, k=3) for q in ("疫情期间共核查了多少人员？", "抓获了多少犯罪嫌疑人？", "整治了多少路段？"))]


@pytest.mark.parametrize("name", ["dense.faiss", "sentences.npy", "bm25/vocab.index.json", "passages.jsonl"])
def test_flipped_bytes_of_the_right_size_are_detected_and_rebuilt(doc, settings, name):
    good = load_index(doc, encoder=HashEncoder(), settings=settings)
    before = answers(good)
    target = good.version_dir / name
    if not target.exists():  # bm25s file names vary by version: take any file in bm25/
        target = sorted((good.version_dir / "bm25").iterdir())[0]
    size = target.stat().st_size
    _flip_bytes(target)
    assert target.stat().st_size == size
    enc = HashEncoder()
    index = load_index(doc, encoder=enc, settings=settings)
    report = index.build_report
    assert report.rebuilt and "does not match its sha256" in report.reason, report.reason
    assert "\n" not in report.reason
    assert answers(index) == before
    # The damaged file's vectors were not reused as a cache: every sentence was re-encoded
    # (passage vectors are their sentences' mean).
    assert report.encoded == sum(len(u.sentences) for u in index.units)


def test_dense_file_from_another_index_with_the_same_count_is_rebuilt(doc, settings, tmp_path):
    good = load_index(doc, encoder=HashEncoder(), settings=settings)
    other_doc = tmp_path / "other.txt"
    other_doc.write_text(DOC.replace("疫情", "天气").replace("交通", "教育").replace("扫黑", "环保"), encoding="utf-8")
    other = load_index(other_doc, encoder=HashEncoder(), settings=settings)
    assert len(other) == len(good)
    (good.version_dir / "dense.faiss").write_bytes((other.version_dir / "dense.faiss").read_bytes())
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    assert index.build_report.rebuilt and "dense.faiss" in index.build_report.reason


def test_passages_that_do_not_match_the_vectors_are_rebuilt(doc, settings):
    good = load_index(doc, encoder=HashEncoder(), settings=settings)
    before = answers(good)
    path = good.version_dir / "passages.jsonl"
    rows = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([rows[1], rows[0], *rows[2:]]) + "\n", encoding="utf-8")  # same bytes, other order
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    assert index.build_report.rebuilt and "passages.jsonl" in index.build_report.reason
    assert answers(index) == before


def test_manifest_without_checksums_from_an_older_build_is_rebuilt(doc, settings):
    good = load_index(doc, encoder=HashEncoder(), settings=settings)
    path = good.version_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["files"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    assert index.build_report.rebuilt and "no file checksums" in index.build_report.reason


def test_an_extra_file_in_the_index_is_rebuilt(doc, settings):
    good = load_index(doc, encoder=HashEncoder(), settings=settings)
    (good.version_dir / "bm25" / "planted.npy").write_bytes(b"\x93NUMPY")
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    assert index.build_report.rebuilt and "planted.npy is not listed" in index.build_report.reason


@pytest.fixture
def read_only(tmp_path):
    """Bind-mount a folder read-only: as root, permission bits alone do not stop a write."""
    mounted = []

    def make(path: Path) -> None:
        r = subprocess.run(["mount", "--bind", "-o", "ro", str(path), str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot bind-mount read-only here: {r.stderr.strip()}")
        mounted.append(path)
        with pytest.raises(OSError):
            (path / "probe").write_text("x")

    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], check=False)


def test_read_only_cache_with_a_good_index_loads_it(doc, settings, read_only):
    good = load_index(doc, encoder=HashEncoder(), settings=settings)
    before = answers(good)
    read_only(settings.home)
    enc = HashEncoder()
    index = load_index(doc, encoder=enc, settings=settings)
    assert not index.build_report.rebuilt and enc.encoded == []
    assert answers(index) == before


def test_read_only_cache_with_a_stale_index_answers_from_memory(doc, settings, read_only):
    load_index(doc, encoder=HashEncoder(), settings=settings)
    doc.write_text(DOC.replace("959", "960"), encoding="utf-8")
    read_only(settings.home)
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    report = index.build_report
    assert report.rebuilt and "document changed" in report.reason and "not writable" in report.reason
    assert index.version_dir is None
    assert "960" in index.ask("抓获了多少犯罪嫌疑人？", k=1).passages[0].text


def test_read_only_empty_cache_answers_from_memory(doc, settings, read_only):
    settings.home.mkdir(parents=True)
    read_only(settings.home)
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    assert index.build_report.rebuilt and "not writable" in index.build_report.reason
    assert "959" in index.ask("抓获了多少犯罪嫌疑人？", k=1).passages[0].text


# -- real processes: concurrent builds, SIGKILL mid-build -------------------------------------

BUILDER = textwrap.dedent(
    """
    import sys, time
    from qa import Settings, load_index
    from tests.fakes import SMALL_ZH_DOC, HashEncoder

    class Slow(HashEncoder):
        def encode_passages(self, texts):
            print("encoding", flush=True)
            time.sleep(float(sys.argv[3]))
            return super().encode_passages(texts)

    index = load_index(sys.argv[1], encoder=Slow(), settings=Settings(home=sys.argv[2]))
    r = index.build_report
    print("DONE", r.rebuilt, r.reason, index.version_dir, flush=True)
    """
)


def start_builder(doc, home, delay: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.Popen([sys.executable, "-c", BUILDER, str(doc), str(home), str(delay)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_processes_building_at_once_end_with_one_valid_index(tmp_path):
    big = "\n\n".join(f"第{i}段：全市第{i}项工作共投入资金{i * 13}万元，抓获犯罪嫌疑人{i}人。" for i in range(200))
    path = tmp_path / "shared.txt"
    path.write_text("标题\n\n" + big + "\n", encoding="utf-8")
    home = tmp_path / "home"
    procs = [start_builder(path, home, 0.05) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    done = [next(line for line in o[0].splitlines() if line.startswith("DONE")) for o in outs]
    # Exactly one built it; the other waited on the lock and loaded that build.
    assert sum("DONE True" in d for d in done) == 1, done
    assert any("built by another process" in d for d in done), done
    assert sum(o[0].count("encoding") > 0 for o in outs) == 1
    root = library_root(home, [path], "fake/hash-64")
    versions = [p for p in root.iterdir() if p.name.startswith("v-")]
    assert len(versions) == 1 and not list(root.glob(".tmp-*"))
    assert store.current_version(root) == versions[0]
    enc = HashEncoder()
    index = load_index(path, encoder=enc, settings=Settings(home=home))
    assert not index.build_report.rebuilt and enc.encoded == []
    assert "抓获犯罪嫌疑人57人" in index.ask("第57段抓获了多少犯罪嫌疑人？", k=1).passages[0].text


@pytest.mark.slow
def test_build_killed_with_sigkill_leaves_the_previous_index_usable(tmp_path):
    path = tmp_path / "doc.txt"
    home = tmp_path / "home"
    old_text = "标题\n\n" + "\n\n".join(f"第{i}段：全市第{i}项工作投入资金{i * 13}万元。" for i in range(120)) + "\n"
    new_text = old_text.replace("万元", "亿元")  # every passage changes: a long re-encode
    path.write_text(old_text, encoding="utf-8")
    old = load_index(path, encoder=HashEncoder(), settings=Settings(home=home))
    before = [a.passages[0].text for a in (old.ask(f"第{i}段投入了多少资金？", k=1) for i in (3, 77))]
    root = library_root(home, [path], "fake/hash-64")
    old_version = store.current_version(root)

    path.write_text(new_text, encoding="utf-8")
    proc = start_builder(path, home, 0.3)
    seen = 0
    while seen < 3:  # a few batches into the encode, long before it could finish
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        seen += line.startswith("encoding")
    assert list(root.glob(".tmp-*")) == []  # nothing is written before the encode ends
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stdout.close()
    proc.stderr.close()
    assert store.current_version(root) == old_version

    path.write_text(old_text, encoding="utf-8")
    enc = HashEncoder()
    index = load_index(path, encoder=enc, settings=Settings(home=home))  # the lock died with the process
    assert not index.build_report.rebuilt and enc.encoded == []
    assert [a.passages[0].text for a in (index.ask(f"第{i}段投入了多少资金？", k=1) for i in (3, 77))] == before

    path.write_text(new_text, encoding="utf-8")
    index = load_index(path, encoder=HashEncoder(), settings=Settings(home=home))
    assert index.build_report.rebuilt and "document changed" in index.build_report.reason
    assert "亿元" in index.ask("第77段投入了多少资金？", k=1).passages[0].text
    assert not load_index(path, encoder=HashEncoder(), settings=Settings(home=home)).build_report.rebuilt


@pytest.mark.slow
def test_build_killed_while_saving_leaves_the_previous_index_usable(tmp_path):
    """SIGKILL after the temp version is written but before it is published."""
    path = tmp_path / "doc.txt"
    home = tmp_path / "home"
    path.write_text(DOC, encoding="utf-8")
    load_index(path, encoder=HashEncoder(), settings=Settings(home=home))
    root = library_root(home, [path], "fake/hash-64")
    old_version = store.current_version(root)
    path.write_text(DOC.replace("959", "960"), encoding="utf-8")
    script = textwrap.dedent(
        """
        import os, signal, sys
        from qa import Settings, load_index, store
        from tests.fakes import SMALL_ZH_DOC, HashEncoder
        def die(root, tmp):
            assert (tmp / "manifest.json").exists()
            os.kill(os.getpid(), signal.SIGKILL)
        store.publish = die
        load_index(sys.argv[1], encoder=HashEncoder(), settings=Settings(home=sys.argv[2]))
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script, str(path), str(home)], cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert len(list(root.glob(".tmp-*"))) == 1  # the dead build's full but unpublished copy
    assert store.current_version(root) == old_version
    path.write_text(DOC, encoding="utf-8")
    assert not load_index(path, encoder=HashEncoder(), settings=Settings(home=home)).build_report.rebuilt
    path.write_text(DOC.replace("959", "960"), encoding="utf-8")
    index = load_index(path, encoder=HashEncoder(), settings=Settings(home=home))
    assert index.build_report.rebuilt
    assert not list(root.glob(".tmp-*"))  # the dead build's leftovers are cleaned up
