"""The reader in int8: about twice as fast, the same spans on most windows, and float32 whenever the calibration is unusable."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest

import qa.reader
from qa.evaluation import char_f1
from qa.reader import READER_DIR, Reader, _sha256

pytestmark = pytest.mark.model


def _cpu_reads_int8() -> bool:
    """Whether this machine reads in int8 when nobody says (ARM, or x86 with VNNI)."""
    said = os.environ.pop("DOCQA_READER_INT8", None)
    try:
        return qa.reader.int8_by_default()
    finally:
        if said is not None:
            os.environ["DOCQA_READER_INT8"] = said


@pytest.fixture(scope="module")
def both():
    if not _cpu_reads_int8():  # older x86: int8 is off by default there, and its products may saturate
        pytest.skip("this CPU reads in float32 unless told (no VNNI)")
    return Reader.load(int8=False), Reader.load(int8=True)


@pytest.fixture(scope="module")
def windows():
    """Test-article windows (never trained, calibrated or tuned on): answer windows and cut-out twins."""
    from qa.reader_data import reader_examples
    from qa.squad import load_squad, select_articles

    articles = select_articles(load_squad(READER_DIR.parents[2] / "seeds/public/drcd/DRCD_dev.json"), dataset="drcd",
                               split="test", articles_n=15)
    return [e for e in reader_examples(articles, dataset="drcd") if e.kind in ("answer", "cut")][:80]


def test_the_shipped_reader_reads_in_int8_unless_told_not_to(monkeypatch):
    monkeypatch.setenv("DOCQA_READER_INT8", "on")
    assert Reader.load().model.int8
    monkeypatch.setenv("DOCQA_READER_INT8", "off")
    assert not Reader.load().model.int8


def test_int8_is_the_default_only_where_its_products_are_exact(monkeypatch, tmp_path):
    import platform

    monkeypatch.delenv("DOCQA_READER_INT8", raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(qa.reader, "_CPUINFO", cpuinfo)
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    cpuinfo.write_text("flags\t\t: fpu sse2 avx avx2 fma\n")  # no VNNI: uint8 x int8 may saturate
    assert not qa.reader.int8_by_default()
    cpuinfo.write_text("flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni\n")
    assert qa.reader.int8_by_default()
    cpuinfo.unlink()  # not Linux: nothing says, so float32
    assert not qa.reader.int8_by_default()
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    assert qa.reader.int8_by_default()
    monkeypatch.setenv("DOCQA_READER_INT8", "off")
    assert not qa.reader.int8_by_default()


def test_int8_gives_the_float32_spans_and_margins_on_most_windows(both, windows):
    fp32, int8 = both
    a = [fp32.read(e.question, [e.context])[0] for e in windows]
    b = [int8.read(e.question, [e.context])[0] for e in windows]
    assert all(e.context[s.start : s.end] == s.text for e, s in zip(windows, b))  # verbatim
    assert np.mean([x.text == y.text for x, y in zip(a, b)]) >= 0.8
    diff = [abs(x.margin - y.margin) for x, y in zip(a, b)]
    assert np.median(diff) < 0.6 and max(diff) < 5
    gold = [(e.context[e.start : e.end], i) for i, e in enumerate(windows) if e.answerable]
    f1 = lambda spans: np.mean([char_f1(spans[i].text, g) for g, i in gold])  # noqa: E731
    assert len(gold) >= 20 and f1(b) >= f1(a) - 0.05


def test_the_manifest_records_the_calibration_and_how_int8_compares():
    entry = json.loads((READER_DIR / "manifest.json").read_text(encoding="utf-8"))["int8"]
    assert _sha256(READER_DIR / entry["file"]) == entry["sha256"]
    assert entry["command"].startswith("python -m qa.reader_int8")
    check = entry["check"]
    assert check["windows"] >= 1000 and 0 < check["f1"]["int8"] <= 1 and check["same_span"] > 0.8


@pytest.mark.parametrize("damage", ["missing", "flipped", "wrong ranges"])
def test_an_unusable_calibration_reads_in_float32_and_says_so_once(tmp_path, caplog, damage):
    folder = tmp_path / "reader"
    shutil.copytree(READER_DIR, folder)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    path = folder / manifest["int8"]["file"]
    if damage == "missing":
        path.unlink()
    elif damage == "flipped":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:  # a whole, readable file that does not fit this model
        np.savez(path, alpha=np.float32(0.75), **{"l0.qkv": np.ones(7, np.float32)})
        manifest["int8"]["sha256"] = _sha256(path)
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="qa.reader"):
        reader = Reader.load(folder, int8=True)
    assert not reader.model.int8
    said = [r.getMessage() for r in caplog.records if "float32" in r.getMessage()]
    assert len(said) == 1 and "\n" not in said[0]
    span = reader.read("疫情期間共核查了多少人員？", ["主動對接市防疫指揮部，共核查人員45561人，完成率100%。"])[0]
    assert "45561" in span.text
