"""Grounded question answering over a document: every answer is a quote."""

from qa.answer import Answer, Passage
from qa.api import ask, load_index
from qa.config import BUNDLED_DOCUMENT, RetrievalConfig, Settings
from qa.corpus import Document, Unit, parse_text, read_document
from qa.index import BuildReport, DocumentIndex, open_index

__all__ = [
    "Answer",
    "BUNDLED_DOCUMENT",
    "BuildReport",
    "Document",
    "DocumentIndex",
    "Passage",
    "RetrievalConfig",
    "Settings",
    "Unit",
    "ask",
    "load_index",
    "open_index",
    "parse_text",
    "read_document",
]
