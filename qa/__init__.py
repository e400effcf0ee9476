"""Grounded question answering over a document: every answer is a quote."""

# Names are re-exported lazily (PEP 562): `docqa --help` imports `qa.cli`, which imports
# this package first, and must not pay for numpy, FAISS and the models.
from __future__ import annotations

from embeddings.lazy import lazy_exports

_EXPORTS = {
    "Answer": "qa.answer",
    "Passage": "qa.answer",
    "ask": "qa.api",
    "load_index": "qa.api",
    "warm_up": "qa.api",
    "Library": "qa.library",
    "DocumentInfo": "qa.library",
    "BuildReport": "qa.library",
    "evaluate": "qa.evaluation",
    "EvalReport": "qa.evaluation",
    "load_questions": "qa.evaluation",
    "UnreadableDocument": "qa.readers",
    "read_file": "qa.readers",
    "SUPPORTED_SUFFIXES": "qa.readers",
    "BUNDLED_DOCUMENT": "qa.settings",
    "MAX_QUESTION_CHARS": "qa.settings",
    "RetrievalConfig": "qa.settings",
    "Settings": "qa.settings",
    "load_retrieval_settings": "qa.settings",
    "Document": "qa.corpus",
    "Unit": "qa.corpus",
    "parse_text": "qa.corpus",
    "place": "qa.citation",
    "paragraph_number": "qa.citation",
    "strip_controls": "qa.normalize",
    "fold_script": "qa.normalize",
    "answer_in_context": "qa.conversation",
    "is_follow_up": "qa.conversation",
    "answer_follow_up": "qa.conversation",
    "Turn": "qa.conversation",
    "message": "qa.messages",
    "language": "qa.messages",
    "no_question": "qa.notfound",
    "check_question": "qa.retrieval",
    "Reader": "qa.reader",
    "ReaderUnavailable": "qa.reader",
    "shared_reader": "qa.reader",
    "reader_error": "qa.reader",
    "file_sha256": "qa.store",
    "parse_store": "qa.milvus_store",
    "StoreError": "qa.milvus_store",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
