"""Shared fixtures: an isolated cache per test, a fake encoder, and the real model once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import embeddings.encoders  # noqa: E402
from tests.fakes import HashEncoder  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch, request):
    monkeypatch.setenv("DOCQA_HOME", str(tmp_path / "docqa-home"))
    if request.node.get_closest_marker("model") is None and request.node.get_closest_marker("browser") is None:
        # Fast tests measure retrieval with a fake encoder; the reader (a real model) is for the model tests.
        monkeypatch.setenv("DOCQA_READER", "off")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-tmp"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DOCQA_SETTINGS", raising=False)  # a developer's own settings file must not leak in


@pytest.fixture
def doc(tmp_path):
    """The small Chinese test document, as a file."""
    from tests.fakes import SMALL_ZH_DOC

    path = tmp_path / "doc.txt"
    path.write_text(SMALL_ZH_DOC, encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path):
    """Settings with the index cache in this test's own folder."""
    from qa import Settings

    return Settings(home=tmp_path / "home")


@pytest.fixture
def fake_encoder():
    return HashEncoder()


@pytest.fixture
def fake(monkeypatch):
    """`DOCQA_ENCODER=fake` resolves to a HashEncoder through the API's encoder cache."""
    enc = HashEncoder()
    monkeypatch.setitem(embeddings.encoders._shared, "fake", enc)
    monkeypatch.setenv("DOCQA_ENCODER", "fake")
    return enc


@pytest.fixture(scope="session")
def real_encoder():
    from embeddings import load_encoder

    return load_encoder()  # the default: what the product ships


@pytest.fixture(scope="session")
def real_index(real_encoder, tmp_path_factory):
    """The bundled document indexed with the real default model, once per session."""
    from qa import Settings, load_index

    settings = Settings(home=tmp_path_factory.mktemp("real-home"))
    return load_index(encoder=real_encoder, settings=settings)


@pytest.fixture(scope="session")
def declined_question(real_index) -> str:
    """A question on the bundled document's topic that it does not answer and the engine
    declines (not off-topic): the first such of its unanswerable dev questions."""
    import json

    from pathlib import Path

    seeds = Path(__file__).resolve().parent.parent / "seeds" / "questions.jsonl"
    rows = [json.loads(line) for line in seeds.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row.get("split") == "dev" and not row.get("answers"):
            answer = real_index.ask(row["question"])
            if not answer.found and not answer.off_topic:
                return row["question"]
    raise AssertionError("precondition: the engine must decline one of the unanswerable dev questions")
