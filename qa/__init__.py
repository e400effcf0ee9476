"""Grounded question answering over a document: every answer is a quote."""

# Names are re-exported lazily (PEP 562): `docqa --help` imports `qa.cli`, which imports
# this package first, and must not pay for numpy, FAISS and the models.
from __future__ import annotations

import importlib

_EXPORTS = {
    "Answer": "qa.answer",
    "Passage": "qa.answer",
    "ask": "qa.api",
    "load_index": "qa.api",
    "Collection": "qa.collection",
    "DocumentInfo": "qa.collection",
    "FilePassage": "qa.collection",
    "load_collection": "qa.collection",
    "evaluate": "qa.evaluation",
    "EvalReport": "qa.evaluation",
    "load_questions": "qa.evaluation",
    "UnreadableDocument": "qa.readers",
    "read_file": "qa.readers",
    "BUNDLED_DOCUMENT": "qa.config",
    "RetrievalConfig": "qa.config",
    "Settings": "qa.config",
    "load_retrieval_settings": "qa.config",
    "Document": "qa.corpus",
    "Unit": "qa.corpus",
    "parse_text": "qa.corpus",
    "read_document": "qa.corpus",
    "BuildReport": "qa.index",
    "DocumentIndex": "qa.index",
    "open_index": "qa.index",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
