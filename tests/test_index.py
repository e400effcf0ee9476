"""The cached index: round trips, rebuilds on change, damaged files detected and rebuilt."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa import Settings, load_index
from qa import store
from tests.fakes import SMALL_ZH_DOC, HashEncoder

DOC = SMALL_ZH_DOC

QUESTIONS = ["疫情期间共核查了多少人员？", "抓获了多少犯罪嫌疑人？", "How many roads were fixed?"]


def answers(index):
    return [index.ask(q, k=3) for q in QUESTIONS]


def assert_same_answers(a, b):
    for x, y in zip(a, b):
        assert (x.found, x.text) == (y.found, y.text)
        assert [p.id for p in x.passages] == [p.id for p in y.passages]
        assert [p.score for p in x.passages] == pytest.approx([p.score for p in y.passages], abs=1e-6)


def version_dir(index):
    assert index.version_dir is not None and index.version_dir.is_dir()
    return index.version_dir


def test_round_trip_gives_identical_answers_without_encoding(doc, settings):
    enc = HashEncoder()
    built = load_index(doc, encoder=enc, settings=settings)
    assert built.build_report.rebuilt
    before = answers(built)
    enc2 = HashEncoder()
    loaded = load_index(doc, encoder=enc2, settings=settings)
    assert not loaded.build_report.rebuilt
    assert enc2.encoded == []  # nothing was re-embedded to load
    assert_same_answers(before, answers(loaded))


def test_index_directory_is_plain_files(doc, settings):
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    vdir = version_dir(index)
    names = {p.name for p in vdir.iterdir()}
    assert {"manifest.json", "passages.jsonl", "dense.faiss", "sentences.npy", "bm25"} <= names
    every = [p for p in vdir.rglob("*") if p.is_file()]
    assert not [p for p in every if p.suffix in (".pkl", ".pickle", ".joblib")]
    for p in every:
        assert not p.read_bytes().startswith(b"\x80"), f"{p.name} looks pickled"
    manifest = json.loads((vdir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == store.FORMAT_VERSION
    assert manifest["encoder"] == {"name": "fake/hash-64", "dim": 64}
    assert len(manifest["document"]["sha256"]) == 64
    rows = [json.loads(line) for line in (vdir / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert rows[0]["text"] == "疫情期间共核查人员45561人，完成率100%。"


def test_changed_document_rebuilds_and_reencodes_only_changed_passages(doc, settings):
    load_index(doc, encoder=HashEncoder(), settings=settings)
    doc.write_text(DOC.replace("抓获犯罪嫌疑人959人", "抓获犯罪嫌疑人960人"), encoding="utf-8")
    enc = HashEncoder()
    index = load_index(doc, encoder=enc, settings=settings)
    report = index.build_report
    assert report.rebuilt and "document changed" in report.reason
    # The changed sentence, nothing else (its passage's vector is the mean of its sentences').
    assert enc.encoded and all("960" in t for t in enc.encoded)
    assert report.encoded == len(enc.encoded) == 1
    a = index.ask("抓获了多少犯罪嫌疑人？", k=1)
    assert "960" in a.passages[0].text
    # ...and the rebuilt index is itself cached.
    assert not load_index(doc, encoder=HashEncoder(), settings=settings).build_report.rebuilt


def test_changed_encoder_rebuilds(doc, settings):
    first = load_index(doc, encoder=HashEncoder(), settings=settings)
    other = HashEncoder(name="fake/hash-64-other")
    index = load_index(doc, encoder=other, settings=settings)
    assert index.build_report.rebuilt
    assert len(other.encoded) == index.build_report.encoded > 0  # vectors of another model are not reused
    assert index.version_dir != first.version_dir


def test_changed_dimension_under_the_same_name_rebuilds(doc, settings, tmp_path):
    load_index(doc, encoder=HashEncoder(dim=64), settings=settings)
    index = load_index(doc, encoder=HashEncoder(dim=32, name="fake/hash-64"), settings=settings)
    assert index.build_report.rebuilt and "encoder" in index.build_report.reason
    assert index.ask("抓获了多少犯罪嫌疑人？", k=1).passages[0].id == 3


def test_changed_build_settings_rebuild(doc, settings):
    load_index(doc, encoder=HashEncoder(), settings=settings)
    index = load_index(doc, encoder=HashEncoder(), settings=Settings(home=settings.home, max_passage_chars=20))
    assert index.build_report.rebuilt
    assert all(len(u.text) <= 20 for u in index.units)


def test_index_cut_into_words_by_another_tokenizer_is_rebuilt(doc, settings, monkeypatch):
    first = load_index(doc, encoder=HashEncoder(), settings=settings)
    monkeypatch.setattr("qa.search_index.TOKENIZER_VERSION", "older-stopwords")
    encoder = HashEncoder()
    index = load_index(doc, encoder=encoder, settings=settings)
    assert index.build_report.rebuilt and "tokenizer" in index.build_report.reason
    assert index.version_dir != first.version_dir
    assert encoder.encoded == []  # only the keywords changed: every vector comes from the cache


def test_rebuild_flag(doc, settings):
    load_index(doc, encoder=HashEncoder(), settings=settings)
    index = load_index(doc, encoder=HashEncoder(), settings=settings, rebuild=True)
    assert index.build_report.rebuilt and index.build_report.reason == "rebuild requested"


# -- damage -------------------------------------------------------------------------------


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bump_format(path):
    m = json.loads(path.read_text(encoding="utf-8"))
    m["format_version"] = store.FORMAT_VERSION + 1
    path.write_text(json.dumps(m), encoding="utf-8")


def _edit_passage(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[1])
    row["text"] = "被改动的段落。"
    lines[1] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


DAMAGE = {
    "truncated dense.faiss": ("dense.faiss", _truncate, "dense.faiss"),
    "empty dense.faiss": ("dense.faiss", lambda p: p.write_bytes(b""), "dense.faiss"),
    "missing dense.faiss": ("dense.faiss", lambda p: p.unlink(), "dense.faiss"),
    "non-JSON manifest": ("manifest.json", lambda p: p.write_text("{not json", encoding="utf-8"), "manifest.json"),
    "manifest a list": ("manifest.json", lambda p: p.write_text("[]", encoding="utf-8"), "manifest.json"),
    "other format version": ("manifest.json", _bump_format, "format version"),
    "missing manifest": ("manifest.json", lambda p: p.unlink(), "manifest.json"),
    "edited passages": ("passages.jsonl", _edit_passage, "passages.jsonl"),
    "truncated passages": ("passages.jsonl", _truncate, "passages.jsonl"),
    "missing passages": ("passages.jsonl", lambda p: p.unlink(), "passages.jsonl"),
    "truncated sentences": ("sentences.npy", _truncate, "sentences.npy"),
    "missing sentences": ("sentences.npy", lambda p: p.unlink(), "sentences.npy"),
    "missing bm25": ("bm25", lambda p: [f.unlink() for f in p.iterdir()], "bm25"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_index_is_detected_and_rebuilt(doc, settings, case):
    name, damage, expected_reason = DAMAGE[case]
    good = load_index(doc, encoder=HashEncoder(), settings=settings)
    before = answers(good)
    damage(version_dir(good) / name)
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    report = index.build_report
    assert report.rebuilt, case
    assert expected_reason in report.reason, report.reason
    assert_same_answers(before, answers(index))
    # The repaired index is good for the next process too.
    again = load_index(doc, encoder=HashEncoder(), settings=settings)
    assert not again.build_report.rebuilt
    assert_same_answers(before, answers(again))


def test_dangling_current_link_is_rebuilt(doc, settings):
    good = load_index(doc, encoder=HashEncoder(), settings=settings)
    import shutil

    shutil.rmtree(version_dir(good))
    index = load_index(doc, encoder=HashEncoder(), settings=settings)
    assert index.build_report.rebuilt


def test_unwritable_cache_still_answers(doc, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    index = load_index(doc, encoder=HashEncoder(), settings=Settings(home=blocker))
    assert index.build_report.rebuilt and "not writable" in index.build_report.reason
    assert index.ask("抓获了多少犯罪嫌疑人？", k=1).passages[0].id == 3


def test_sentence_vectors_match_a_fresh_encoding(doc, settings):
    load_index(doc, encoder=HashEncoder(), settings=settings)
    loaded = load_index(doc, encoder=HashEncoder(), settings=settings)
    sents = [s.text for u in loaded.units for s in u.sentences]
    fresh = HashEncoder().encode_passages(sents)
    stored = np.load(loaded.version_dir / "sentences.npy", allow_pickle=False)
    np.testing.assert_allclose(stored, fresh, atol=1e-6)
