"""The Milvus store (`qa.milvus_store`), against real Milvus Lite (the `milvus` extra `make test` installs).

Nothing here is mocked but one thing: Milvus Lite has no users, so the wrong-credentials
message is checked by making the client refuse them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qa import Settings, load_index
from qa import milvus_store as ms
from qa.cli import main
from tests.fakes import SMALL_ZH_DOC, HashEncoder

ROOT = Path(__file__).resolve().parent.parent

FILES = {
    "a.txt": SMALL_ZH_DOC,
    "b.txt": "城市交通\n\n地铁三号线于2020年开通，全长38公里，设站26座。\n\n公交线路新增12条。\n",
    "c.txt": "图书馆\n\n市图书馆藏书120万册，2019年接待读者85万人次。\n",
}


@pytest.fixture
def lite(tmp_path):
    """A Milvus Lite store of this test's own, closed (and its folder released) afterwards."""
    uri = f"milvus:{tmp_path / 'index.db'}"
    yield uri
    ms.disconnect(ms.parse_store(uri))


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for name, text in FILES.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def _store(tmp_path, uri: str, **kw) -> Settings:
    return Settings(home=tmp_path / "home", store=uri, **kw)


def _same(a, b) -> None:
    """Two answers a user could not tell apart: the same quote, passages, scores and decision."""
    assert (a.found, a.text, a.passage_id, a.start, a.off_topic) == (b.found, b.text, b.passage_id, b.start, b.off_topic)
    assert [(p.id, p.source, p.paragraph, p.section) for p in a.passages] == [
        (p.id, p.source, p.paragraph, p.section) for p in b.passages
    ]
    assert [p.score for p in a.passages] == pytest.approx([p.score for p in b.passages], abs=1e-5)
    assert a.confidence == pytest.approx(b.confidence, abs=1e-5)


QUESTIONS = ["疫情期间共核查了多少人员？", "摧毁了多少个黑恶犯罪团伙？", "地铁三号线全长多少公里？",
             "图书馆藏书多少册？", "公交新增了几条线路？", "月球上有多少座火山？"]


def test_parse_store_forms():
    assert ms.parse_store(None).kind == "faiss" and ms.parse_store("FAISS").kind == "faiss"
    lite = ms.parse_store("milvus:~/x.db")
    assert lite.kind == "lite" and lite.target.endswith("/x.db") and "~" not in lite.target
    assert lite.collection == "docqa"
    srv = ms.parse_store("milvus://example.org:19531?collection=reports")
    assert (srv.kind, srv.target, srv.collection) == ("server", "http://example.org:19531", "reports")
    assert ms.parse_store("milvus+https://db.example.org").target == "https://db.example.org:19530"


@pytest.mark.parametrize(
    "uri, words",
    [
        ("milvus:/tmp/x.sqlite", ".db"),
        ("milvus://user:secret@host:19530", "DOCQA_MILVUS_TOKEN"),
        ("milvus://host:port", "port"),
        ("milvus:/tmp/x.db?collection=1bad", "collection"),
        ("milvus:/tmp/x.db?colection=a", "unknown option"),
        ("redis://host", "use 'faiss'"),
    ],
)
def test_bad_store_is_one_line_error(uri, words, capsys, fake, doc):
    assert main(["ask", "--doc", str(doc), "--store", uri, "多少人？"]) == 1
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "secret" not in err  # a password typed into the URI is not echoed back
    assert fake.calls == 0  # refused before any model work


def test_answers_like_faiss(tmp_path, folder, lite):
    enc = HashEncoder()
    faiss_lib = load_index(folder, encoder=enc, settings=Settings(home=tmp_path / "faiss-home"))
    milvus_lib = load_index(folder, encoder=enc, settings=_store(tmp_path, lite))
    assert milvus_lib.build_report.rebuilt and milvus_lib.collection
    assert [d.__dict__ for d in milvus_lib.documents] == [d.__dict__ for d in faiss_lib.documents]
    for q in QUESTIONS:
        _same(milvus_lib.ask(q), faiss_lib.ask(q))
    # One file of the collection, as the API's document filter asks.
    _same(milvus_lib.ask("多少？", source="b.txt"), faiss_lib.ask("多少？", source="b.txt"))
    with pytest.raises(ValueError, match="no document named"):
        milvus_lib.ask("多少？", source="nope.txt")


def test_a_library_read_from_the_store_encodes_nothing(tmp_path, folder, lite):
    built = load_index(folder, encoder=HashEncoder(), settings=_store(tmp_path, lite))
    enc = HashEncoder()
    stored = load_index(encoder=enc, settings=_store(tmp_path / "empty", lite))  # no documents given
    assert enc.encoded == [] and not stored.build_report.rebuilt
    assert [d.name for d in stored.documents] == sorted(FILES) and stored.cites_files
    for q in QUESTIONS:
        _same(stored.ask(q), built.ask(q))
    assert len(enc.encoded) == len(QUESTIONS)  # only the questions
    assert not (tmp_path / "empty" / "home").exists()  # no local cache either


def test_update_replaces_changed_and_removed_files_only(tmp_path, folder, lite):
    enc = HashEncoder()
    lib = load_index(folder, encoder=enc, settings=_store(tmp_path, lite))
    first = lib.collection
    (folder / "b.txt").write_text("城市交通\n\n地铁三号线于2020年开通，全长41公里，设站26座。\n", encoding="utf-8")
    (folder / "c.txt").unlink()
    (folder / "d.txt").write_text("体育\n\n新建体育场可容纳6万名观众。\n", encoding="utf-8")
    enc.encoded.clear()
    report = load_index(folder, encoder=enc, settings=_store(tmp_path, lite)).build_report
    assert report.rebuilt and report.reason == "the documents changed"
    # Only the new sentences were encoded: a.txt, untouched, came back from the store.
    assert sorted(enc.encoded) == sorted(["地铁三号线于2020年开通，全长41公里，设站26座。", "新建体育场可容纳6万名观众。"])
    fresh = load_index(encoder=HashEncoder(), settings=_store(tmp_path / "other", lite))
    assert fresh.collection != first
    assert [d.name for d in fresh.documents] == ["a.txt", "b.txt", "d.txt"]
    assert "41公里" in fresh.ask("地铁三号线全长多少公里？").passages[0].text
    assert all("图书馆" not in p.text for p in fresh.ask("图书馆藏书多少册？").passages)
    # Unchanged files again: nothing written, nothing encoded.
    enc.encoded.clear()
    again = load_index(folder, encoder=enc, settings=_store(tmp_path, lite))
    assert not again.build_report.rebuilt and enc.encoded == [] and again.collection == fresh.collection


def test_old_versions_are_dropped(tmp_path, folder, lite):
    enc = HashEncoder()
    for i in range(4):
        (folder / "b.txt").write_text(f"交通\n\n新增公交线路{i + 10}条。\n", encoding="utf-8")
        lib = load_index(folder, encoder=enc, settings=_store(tmp_path, lite))
    conn = ms.connect(ms.parse_store(lite))
    versions = {c.split("__")[1] for c in conn.call("list_collections") if c.startswith("docqa__")}
    assert len(versions) == 1 + ms.KEEP_PREVIOUS and lib.collection.split("__")[1] in versions


def test_an_interrupted_build_leaves_the_previous_version_answering(tmp_path, folder, lite, monkeypatch):
    enc = HashEncoder()
    before = load_index(folder, encoder=enc, settings=_store(tmp_path, lite)).ask("地铁三号线全长多少公里？")
    (folder / "b.txt").write_text("城市交通\n\n地铁三号线全长55公里。\n", encoding="utf-8")
    conn = ms.connect(ms.parse_store(lite))
    real_call = ms.Connection.call

    def failing(self, method, *args, **kwargs):
        if method == "insert" and str(args[0]).endswith("__s"):
            raise RuntimeError("disk full")  # dies halfway through writing the new version
        return real_call(self, method, *args, **kwargs)

    monkeypatch.setattr(ms.Connection, "call", failing)
    with pytest.raises(ms.StoreError, match="could not write library 'docqa'.*disk full"):
        load_index(folder, encoder=enc, settings=_store(tmp_path, lite))
    monkeypatch.setattr(ms.Connection, "call", real_call)

    after = load_index(encoder=HashEncoder(), settings=_store(tmp_path / "reader", lite))
    _same(after.ask("地铁三号线全长多少公里？"), before)
    assert conn is ms.connect(ms.parse_store(lite))


def _subprocess_ask(uri: str, home: Path, question: str, *extra: str) -> subprocess.CompletedProcess:
    """`docqa ask --json` in a new process, with the fake encoder and an empty DOCQA_HOME."""
    code = textwrap.dedent(
        f"""
        import sys, embeddings.encoders
        from tests.fakes import HashEncoder
        embeddings.encoders._shared["fake"] = HashEncoder()
        from qa.cli import main
        sys.exit(main({["ask", "--json", "--store", uri, *extra, question]!r}))
        """
    )
    env = {**os.environ, "DOCQA_HOME": str(home), "DOCQA_ENCODER": "fake", "DOCQA_READER": "off", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_a_second_process_answers_from_the_same_file(tmp_path, folder, lite):
    lib = load_index(folder, encoder=HashEncoder(), settings=_store(tmp_path, lite))
    want = lib.ask("地铁三号线全长多少公里？")
    # While this process holds the file open, the other one goes through this one's server.
    out = _subprocess_ask(lite, tmp_path / "home-2", "地铁三号线全长多少公里？")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["answer"] == want.text and [p["id"] for p in rec["passages"]] == [p.id for p in want.passages]
    assert not (tmp_path / "home-2").exists()
    # And once this process has let go of it, the other opens the file itself.
    ms.disconnect(ms.parse_store(lite))
    out = _subprocess_ask(lite, tmp_path / "home-3", "地铁三号线全长多少公里？")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["answer"] == want.text


def test_a_server_follows_a_newer_version(tmp_path, folder, lite, monkeypatch):
    monkeypatch.setattr(ms, "ALIAS_CHECK_S", 0.0)
    load_index(folder, encoder=HashEncoder(), settings=_store(tmp_path, lite))
    reader = load_index(encoder=HashEncoder(), settings=_store(tmp_path / "r", lite))
    assert "38公里" in reader.ask("地铁三号线全长多少公里？").passages[0].text
    (folder / "b.txt").write_text("城市交通\n\n地铁三号线全长47公里。\n", encoding="utf-8")
    load_index(folder, encoder=HashEncoder(), settings=_store(tmp_path, lite))
    assert "47公里" in reader.ask("地铁三号线全长多少公里？").passages[0].text


def test_empty_store_is_one_line_error(tmp_path, lite, capsys, fake):
    assert main(["ask", "--store", lite, "多少人？"]) == 1
    err = capsys.readouterr().err.strip()
    assert lite in err and "holds no library 'docqa'" in err and "docqa index --store" in err
    assert len(err.splitlines()) == 1


def test_another_encoder_is_one_line_error(tmp_path, folder, lite, capsys, fake):
    load_index(folder, encoder=HashEncoder(dim=32, name="fake/other-32"), settings=_store(tmp_path, lite))
    assert main(["ask", "--store", lite, "多少人？"]) == 1
    err = capsys.readouterr().err.strip()
    assert "'fake/other-32' (dimension 32), not 'fake/hash-64' (dimension 64)" in err and lite in err
    assert len(err.splitlines()) == 1
    # Building from the files refuses too, unless asked to rebuild.
    assert main(["index", "--store", lite, str(folder)]) == 1
    assert "encoder" in capsys.readouterr().err
    assert main(["index", "--store", lite, "--rebuild", str(folder)]) == 0


def test_unreachable_server_is_one_line_error(tmp_path, capsys, fake, doc):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"milvus://127.0.0.1:{port}"
    assert main(["ask", "--store", uri, "--doc", str(doc), "多少人？"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"docqa: error: {uri}: cannot reach Milvus") and len(err.splitlines()) == 1


def test_wrong_credentials_are_one_line_error(tmp_path, monkeypatch, capsys, fake, doc):
    import pymilvus

    class Refusing:
        def __init__(self, uri, token="", timeout=None, **options):
            assert token == "alice:wrong"  # from the environment, not the command line

        def list_collections(self):
            raise pymilvus.MilvusException(code=1800, message="auth check failure, please check username and password")

    monkeypatch.setattr(pymilvus, "MilvusClient", Refusing)
    monkeypatch.setenv("DOCQA_MILVUS_USER", "alice")
    monkeypatch.setenv("DOCQA_MILVUS_PASSWORD", "wrong")
    assert main(["ask", "--store", "milvus://db.example:19530", "--doc", str(doc), "多少人？"]) == 1
    err = capsys.readouterr().err.strip()
    assert "milvus://db.example:19530: Milvus refused the credentials" in err and "wrong" not in err.split("(")[0]
    assert len(err.splitlines()) == 1


def test_missing_extra_is_one_line_error(tmp_path, monkeypatch, capsys, fake, doc):
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # as if `pip install -e '.[milvus]'` was never run
    uri = f"milvus:{tmp_path / 'x.db'}"
    assert main(["ask", "--store", uri, "--doc", str(doc), "多少人？"]) == 1
    err = capsys.readouterr().err.strip()
    assert uri in err and ".[milvus]" in err and len(err.splitlines()) == 1


def test_a_file_that_is_not_a_database_is_one_line_error(tmp_path, capsys, fake, doc):
    bad = tmp_path / "notes.db"
    bad.write_text("not milvus", encoding="utf-8")
    assert main(["ask", "--store", f"milvus:{bad}", "--doc", str(doc), "多少人？"]) == 1
    err = capsys.readouterr().err.strip()
    assert "is a file, not a Milvus Lite database" in err and len(err.splitlines()) == 1


def test_a_file_held_by_another_program_is_one_line_error(tmp_path, monkeypatch, capsys, fake, doc):
    db = tmp_path / "held.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from pymilvus import MilvusClient; c = MilvusClient({str(db)!r}); print('open', flush=True); "
         "import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        monkeypatch.setattr(ms, "LITE_WAIT_S", 1.0)
        assert main(["ask", "--store", f"milvus:{db}", "--doc", str(doc), "多少人？"]) == 1
        err = capsys.readouterr().err.strip()
        assert "open in another process that does not share it" in err and len(err.splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.model
@pytest.mark.parametrize(
    "questions, options",
    [
        (ROOT / "seeds" / "questions.jsonl", {"split": "dev"}),  # the bundled document
        (ROOT / "seeds" / "public" / "drcd" / "DRCD_dev.json", {"split": "dev", "articles": 12}),  # real articles, traditional
    ],
    ids=["bundled", "drcd-sample"],
)
def test_real_model_answers_the_same_from_both_stores(questions, options, tmp_path, real_encoder):
    """The product path (hybrid + reader, the real encoder): every question ranked and answered alike."""
    from qa import evaluate

    lite = f"milvus:{tmp_path / 'eval.db'}"
    home = tmp_path / "home"  # one home: both stores read the same laid-out articles
    runs = {}
    try:
        for store in ("faiss", lite):
            runs[store] = evaluate(questions, retrievers=["reader"], encoder=real_encoder,
                                   settings=Settings(home=home, store=store), **options)
    finally:
        ms.disconnect(ms.parse_store(lite))
    a, b = runs["faiss"], runs[lite]
    assert a.questions == b.questions and a.questions >= 40
    assert abs(a.summary["reader"]["hit@1"] - b.summary["reader"]["hit@1"]) <= 0.01
    # What a user sees: the decision, the quote, the short answer and the five passages shown.
    # (Further down a near tie may fall the other way: Milvus sums a sentence's inner product
    # in another order than numpy, a difference in the seventh digit.)
    same = [(ra.ranked[:5], ra.found, ra.text, ra.short) == (rb.ranked[:5], rb.found, rb.text, rb.short)
            for ra, rb in zip(a.records["reader"], b.records["reader"])]
    assert all(same), f"{same.count(False)} of {len(same)} questions answered differently"


def test_a_process_takes_the_file_over_when_the_one_serving_it_exits(tmp_path, folder, lite):
    code = textwrap.dedent(
        f"""
        import time
        from qa import Settings, load_index
        from tests.fakes import HashEncoder
        load_index({str(folder)!r}, encoder=HashEncoder(), settings=Settings(home={str(tmp_path / 'h1')!r}, store={lite!r}))
        print("serving", flush=True)
        time.sleep(120)
        """
    )
    env = {**os.environ, "DOCQA_READER": "off", "HF_HUB_OFFLINE": "1"}
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "serving"
        lib = load_index(encoder=HashEncoder(), settings=_store(tmp_path / "h2", lite))  # through the holder's server
        want = lib.ask("地铁三号线全长多少公里？")
        assert "38公里" in want.passages[0].text
    finally:
        holder.kill()
        holder.wait()
    _same(lib.ask("地铁三号线全长多少公里？"), want)  # the holder is gone: this process opened the file itself


def test_milvus_refusing_a_search_is_one_line_error(tmp_path, folder, lite, capfd):
    lib = load_index(folder, encoder=HashEncoder(), settings=_store(tmp_path, lite))
    ms.connect(ms.parse_store(lite)).call("release_collection", lib.collection)  # behind docqa's back
    with pytest.raises(ms.StoreError) as err:
        lib.ask("地铁三号线全长多少公里？")
    msg = str(err.value)
    assert msg.startswith(f"{lite}: search failed") and "released" in msg and "\n" not in msg
    assert "Traceback" not in capfd.readouterr().err  # pymilvus's own error log is silenced


def test_the_api_answers_a_store_failure_with_503_one_line(tmp_path, folder, lite):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.api import api_router

    lib = load_index(folder, encoder=HashEncoder(), settings=_store(tmp_path, lite))
    with TestClient(FastAPI(routes=api_router(lib).routes)) as client:
        ok = client.post("/api/ask", content=json.dumps({"question": "地铁三号线全长多少公里？"}))
        assert ok.status_code == 200 and ok.json()["passages"]
        ms.connect(ms.parse_store(lite)).call("release_collection", lib.collection)  # the store fails from here on
        r = client.post("/api/ask", content=json.dumps({"question": "地铁三号线全长多少公里？"}))
    assert r.status_code == 503
    assert set(r.json()) == {"error"}
    assert r.json()["error"].startswith(f"{lite}: search failed") and "\n" not in r.json()["error"]
