"""A document's index: building, caching, loading and asking it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from embeddings import Encoder, IndexFileError, VectorIndex
from qa import store
from qa.answer import Answer
from qa.config import BUNDLED_DOCUMENT, RetrievalConfig, Settings
from qa.corpus import Document, Sentence, Unit, content_hash, read_document
from qa.lexical import TOKENIZER_VERSION, LexicalIndex
from qa.retrieval import Retriever

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for `docqa index` and the benchmark."""

    path: str
    rebuilt: bool
    reason: str
    passages: int
    sentences: int
    encoded: int  # texts actually sent to the encoder (the rest came from the cache)
    seconds: dict[str, float]


def embed_text(unit: Unit, *, section_context: bool) -> str:
    """The text a passage is embedded and keyword-indexed as."""
    if section_context and unit.section and unit.kind != "caption":
        return f"{unit.section}\n{unit.text}"
    return unit.text


class DocumentIndex:
    """A document read into passages with its dense and keyword indexes."""

    def __init__(
        self,
        document: Document,
        encoder: Encoder,
        dense: VectorIndex,
        sentence_vectors: np.ndarray,
        lexical: LexicalIndex,
        *,
        settings: Settings,
        version_dir: Path | None = None,
        build_report: BuildReport | None = None,
    ) -> None:
        self.document = document
        self.encoder = encoder
        self.settings = settings
        self.version_dir = version_dir
        self.build_report = build_report
        self._sentences: list[list[Sentence]] = [u.sentences for u in document.units]
        offsets = np.cumsum([0] + [len(s) for s in self._sentences])
        self._retriever = Retriever(
            units=document.units,
            sentences=self._sentences,
            sentence_offsets=offsets,
            encoder=encoder,
            dense=dense,
            sentence_vectors=sentence_vectors,
            lexical=lexical,
        )

    # -- asking ---------------------------------------------------------------

    def ask(self, question: str, k: int = 5, *, config: RetrievalConfig | None = None) -> Answer:
        """Answer `question` from this document.

        Args:
            question: the question, in any language.
            k: how many passages to return (1..50).
            config: retrieval settings; defaults to this index's.

        Returns:
            An `Answer`; ``found`` is False when the document does not answer.

        Raises:
            ValueError: `question` is empty or too long, or `k` is out of range.
        """
        return self._retriever.ask(question, k, config or self.settings.retrieval)

    def search(self, question: str, k: int = 5, *, config: RetrievalConfig | None = None):
        """Only the ranked passages, with per-stage timings (for evaluation and benchmarks)."""
        return self._retriever.search(question, k, config or self.settings.retrieval)

    @property
    def units(self) -> list[Unit]:
        return self.document.units

    def __len__(self) -> int:
        return len(self.document.units)

    # -- building and loading -------------------------------------------------

    @classmethod
    def build(
        cls,
        document: Document,
        encoder: Encoder,
        *,
        settings: Settings | None = None,
        reuse: dict[str, np.ndarray] | None = None,
        progress: Progress | None = None,
    ) -> DocumentIndex:
        """Index a document in memory. `reuse` maps content hashes to known vectors."""
        settings = settings or Settings()
        reuse = reuse or {}
        timings: dict[str, float] = {}
        texts, sents, keys = _texts_and_keys(document.units, section_context=settings.retrieval.section_context)
        all_texts = texts + sents
        missing = [i for i, key in enumerate(keys) if key not in reuse]
        t0 = time.perf_counter()
        vectors = np.zeros((len(all_texts), encoder.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            if key in reuse:
                vectors[i] = reuse[key]
        batch = 16
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            # Passages and sentences are both documents to the model ("passage: " side).
            vectors[chunk] = encoder.encode_passages([all_texts[i] for i in chunk])
            if progress:
                progress("encoding", min(start + batch, len(missing)), len(missing))
        timings["encode"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lexical = LexicalIndex.build(texts)
        timings["bm25"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        dense = VectorIndex.build(vectors[: len(texts)])
        timings["faiss"] = time.perf_counter() - t0
        report = BuildReport(document.path, True, "", len(texts), len(sents), len(missing), timings)
        index = cls(document, encoder, dense, vectors[len(texts) :], lexical, settings=settings, build_report=report)
        index._keys = keys
        return index

    def save(self, version: Path) -> None:
        """Write this index's files into an (empty) version directory."""
        doc = self.document
        ctx = self.settings.retrieval.section_context
        keys = getattr(self, "_keys", None) or self._compute_keys()
        n = len(doc.units)
        rows = []
        for u, key in zip(doc.units, keys[:n]):
            rows.append(
                {
                    "id": u.id,
                    "kind": u.kind,
                    "section": u.section,
                    "line": u.line,
                    "repaired": u.repaired,
                    "text": u.text,
                    "key": key,
                }
            )
        store.write_jsonl(version / store.PASSAGES, rows)
        self._retriever.dense.save(version / store.DENSE)
        np.save(version / store.SENTENCES, self._retriever.sentence_vectors, allow_pickle=False)
        (version / store.BM25_DIR).mkdir()
        self._retriever.lexical.save(version / store.BM25_DIR)
        store.write_json(
            version / store.MANIFEST,
            {
                "format_version": store.FORMAT_VERSION,
                "encoder": {"name": self.encoder.name, "dim": self.encoder.dim},
                "document": {"path": doc.path, "sha256": doc.sha256, "title": doc.title},
                "build": {
                    "max_passage_chars": self.settings.max_passage_chars,
                    "section_context": ctx,
                    "tokenizer": TOKENIZER_VERSION,
                },
                "counts": {"passages": n, "sentences": int(self._retriever.sentence_vectors.shape[0])},
                "sentence_keys": keys[n:],
                "repairs": [r.__dict__ for r in doc.repairs],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                # Written last, over the files above: load_version refuses any file that differs.
                "files": store.file_digests(version),
            },
        )

    def _compute_keys(self) -> list[str]:
        return _texts_and_keys(self.document.units, section_context=self.settings.retrieval.section_context)[2]

    def cached_vectors(self) -> dict[str, np.ndarray]:
        """Content hash -> vector for everything this index embedded."""
        keys = getattr(self, "_keys", None) or self._compute_keys()
        vecs = np.vstack([self._retriever.dense.reconstruct_all(), self._retriever.sentence_vectors])
        return dict(zip(keys, vecs))

    @classmethod
    def load_version(
        cls, version: Path, document: Document, encoder: Encoder, *, settings: Settings
    ) -> DocumentIndex:
        """Load a stored version, checking it matches `document` and `encoder`.

        Raises:
            store.IndexCorrupt: anything damaged, stale or mismatched (the message says what).
        """
        manifest = store.read_manifest(version)
        enc = manifest.get("encoder") or {}
        if enc.get("name") != encoder.name or enc.get("dim") != encoder.dim:
            raise store.IndexCorrupt(f"index was built with encoder {enc.get('name')!r}, not {encoder.name!r}")
        if (manifest.get("document") or {}).get("sha256") != document.sha256:
            raise store.IndexCorrupt("the document changed since the index was built")
        build = manifest.get("build") or {}
        want = {
            "max_passage_chars": settings.max_passage_chars,
            "section_context": settings.retrieval.section_context,
            "tokenizer": TOKENIZER_VERSION,
        }
        if build != want:
            raise store.IndexCorrupt(f"index was built with {build}, settings now are {want}")
        store.verify_digests(version, manifest)
        rows = store.read_jsonl(version / store.PASSAGES)
        if len(rows) != len(document.units) or any(
            r.get("text") != u.text or r.get("id") != u.id for r, u in zip(rows, document.units)
        ):
            raise store.IndexCorrupt(f"{store.PASSAGES} does not match the document's passages")
        n_sent = sum(len(u.sentences) for u in document.units)
        try:
            dense = VectorIndex.load(version / store.DENSE, expect_dim=encoder.dim, expect_count=len(rows))
        except IndexFileError as exc:
            raise store.IndexCorrupt(str(exc)) from None
        sentence_vectors = store.read_npy(version / store.SENTENCES, rows=n_sent, dim=encoder.dim)
        try:
            lexical = LexicalIndex.load(version / store.BM25_DIR)
        except Exception as exc:  # bm25s raises assorted errors on damaged files
            raise store.IndexCorrupt(f"{store.BM25_DIR}/ is unreadable ({exc.__class__.__name__})") from None
        if lexical.size != len(rows):
            raise store.IndexCorrupt(f"{store.BM25_DIR}/ holds {lexical.size} passages, expected {len(rows)}")
        keys = [r.get("key", "") for r in rows] + list(manifest.get("sentence_keys") or [])
        index = cls(document, encoder, dense, sentence_vectors, lexical, settings=settings, version_dir=version)
        if len(keys) == len(rows) + n_sent:
            index._keys = keys
        return index


def _texts_and_keys(units, *, section_context: bool) -> tuple[list[str], list[str], list[str]]:
    """The passage texts and sentence texts to embed, and their content hashes (passages first)."""
    texts = [embed_text(u, section_context=section_context) for u in units]
    sents = [s.text for u in units for s in u.sentences]
    keys = [content_hash(f"p\n{t}") for t in texts] + [content_hash(f"s\n{t}") for t in sents]
    return texts, sents, keys


def open_index(
    path: str | Path | None = None,
    *,
    encoder: Encoder | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> DocumentIndex:
    """Load a document's cached index, building (or rebuilding) it when needed.

    The cache is rebuilt when the document, the encoder or the build settings
    change, and when a stored file is damaged; only passages whose text changed
    are re-encoded. Two processes opening the same document build it once.

    Args:
        path: a UTF-8 text or Markdown file; the bundled document by default.
        encoder: the encoder; built from ``settings.encoder`` when omitted.
        settings: cache folder and retrieval settings.
        progress: called as ``progress(stage, done, total)`` while building.
        rebuild: build even if a valid cache exists.

    Returns:
        The ready `DocumentIndex`; its ``build_report`` says whether it was rebuilt and why.

    Raises:
        FileNotFoundError, IsADirectoryError, ValueError: the document cannot be read.
    """
    from filelock import FileLock

    from embeddings import load_encoder

    settings = settings or Settings()
    path = Path(path) if path is not None else BUNDLED_DOCUMENT
    t0 = time.perf_counter()
    document = read_document(path, max_chars=settings.max_passage_chars)
    t_read = time.perf_counter() - t0
    encoder = encoder or load_encoder(settings.encoder)
    root = store.index_root(settings.home, path, encoder.name)

    def try_load() -> tuple[DocumentIndex | None, str]:
        version = store.current_version(root)
        if version is None:
            return None, "no index yet"
        try:
            return DocumentIndex.load_version(version, document, encoder, settings=settings), ""
        except store.IndexCorrupt as exc:
            return None, str(exc)

    if not rebuild:
        index, reason = try_load()
        if index is not None:
            index.build_report = BuildReport(str(path), False, "cached", len(index), 0, 0, {"read": t_read})
            return index
    else:
        reason = "rebuild requested"

    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(root / ".lock"), timeout=600)
        lock.acquire()
    except OSError as exc:
        # Cannot write the cache (read-only folder, full disk): answer from memory.
        log.warning("index cache %s is not writable (%s); building in memory only", root, exc)
        index = DocumentIndex.build(document, encoder, settings=settings, progress=progress)
        index.build_report = replace(index.build_report, reason=f"{reason}; cache not writable")
        return index
    try:
        if not rebuild:
            again, _ = try_load()  # another process may have built it while we waited
            if again is not None:
                again.build_report = BuildReport(str(path), False, "built by another process", len(again), 0, 0, {})
                return again
        if reason not in ("no index yet", "rebuild requested"):
            log.warning("rebuilding index for %s: %s", path, reason)
        reuse = _previous_vectors(root, encoder)
        index = DocumentIndex.build(document, encoder, settings=settings, reuse=reuse, progress=progress)
        tmp = store.new_version_dir(root)
        t0 = time.perf_counter()
        try:
            index.save(tmp)
            index.version_dir = store.publish(root, tmp)
        except OSError as exc:
            log.warning("could not save index to %s: %s", root, exc)
        seconds = dict(index.build_report.seconds, read=t_read, save=time.perf_counter() - t0)
        index.build_report = replace(index.build_report, reason=reason, seconds=seconds)
        return index
    finally:
        lock.release()


def _previous_vectors(root: Path, encoder: Encoder) -> dict[str, np.ndarray]:
    """Vectors of the last good version, by content hash, so unchanged text is not re-encoded."""
    version = store.current_version(root)
    if version is None:
        return {}
    try:
        manifest = store.read_manifest(version)
        if (manifest.get("encoder") or {}).get("name") != encoder.name:
            return {}
        store.verify_digests(version, manifest)  # damaged vectors must not be reused
        rows = store.read_jsonl(version / store.PASSAGES)
        dense = VectorIndex.load(version / store.DENSE, expect_dim=encoder.dim, expect_count=len(rows))
        skeys = list(manifest.get("sentence_keys") or [])
        sents = store.read_npy(version / store.SENTENCES, rows=len(skeys), dim=encoder.dim)
    except (store.IndexCorrupt, IndexFileError, OSError):
        return {}
    keys = [r.get("key", "") for r in rows] + skeys
    vecs = np.vstack([dense.reconstruct_all(), sents])
    return {k: v for k, v in zip(keys, vecs) if k}
