"""A pure search index over passages: built from units and an encoder, saved to and loaded from a folder.

It holds the passage vectors (FAISS), the sentence vectors, the BM25 keyword index and
each embedded text's content hash. Vectors are reused by content hash here and only here:
`build` takes what an earlier index embedded (`reusable_vectors`) and encodes the rest.

A saved index is a directory of plain files (see `qa.store`): ``passages.jsonl``,
``dense.faiss``, ``sentences.npy``, ``bm25/`` and ``manifest.json``, written last, with
the sha256 of every other file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from embeddings import Encoder, Hits, IndexFileError, VectorIndex
from qa import store
from qa.corpus import Unit, content_hash
from qa.lexical import TOKENIZER_VERSION, LexicalIndex
from qa.normalize import fold_script

Progress = Callable[[str, int, int], None]  # (stage, done, total)
ENCODE_BATCH = 16


def embed_text(unit: Unit, *, section_context: bool) -> str:
    """The text a passage is embedded and keyword-indexed as."""
    if section_context and unit.section and unit.kind != "caption":
        return f"{unit.section}\n{unit.text}"
    return unit.text


# How passage vectors are made, recorded in each index's build settings (an index made the
# other way is rebuilt, its sentence vectors reused): each passage's vector is the mean of
# its sentences' vectors, normalised, so every character is encoded once, in its sentence,
# not a second time in its passage. Measured on the dev sets against encoding the passage
# text (section + text): dense hit@1 bundled 0.718 -> 0.739, DRCD 0.953 -> 0.953, CMRC 2018
# dev part 0.990 -> 0.990, trial 0.995 -> 0.995; hybrid 0.848 -> 0.845, 0.980 -> 0.978,
# 0.994, 1.000 unchanged (adding the section heading's vector did not help).
PASSAGE_VECTORS = "sentence-mean"


def texts_and_keys(units: Sequence[Unit], *, section_context: bool) -> tuple[list[str], list[str], list[str]]:
    """The passage texts and sentence texts to embed, and their content hashes (passages first).

    A passage's key names its vector as a mean of its sentences' (prefix ``m``), so it is
    never taken for a vector of the passage text encoded (prefix ``p``).
    """
    # Folded to simplified characters, as questions are (`fold_script`): a Taiwanese
    # document and a simplified question meet in one script (DRCD dev, dense top-1
    # paragraph: 0.797 with only the question folded, 0.820 with both). Text already in
    # simplified characters is unchanged, and so are its hashes and cached vectors.
    texts = [fold_script(embed_text(u, section_context=section_context)) for u in units]
    sents = [fold_script(s.text) for u in units for s in u.sentences]
    keys = [content_hash(f"m\n{t}") for t in texts] + [content_hash(f"s\n{t}") for t in sents]
    return texts, sents, keys


class KeywordHits:
    """One question's BM25 scores: the best passages, and any passage's score."""

    def __init__(self, scores: np.ndarray) -> None:
        self._scores = scores

    def top(self, n: int) -> list[int]:
        """The `n` best-scoring passages with a score above 0, best first (ties in reading order)."""
        s = self._scores
        idx = np.argpartition(-s, n)[:n] if len(s) > n else np.arange(len(s))
        idx = idx[np.argsort(-s[idx], kind="stable")]
        return [int(i) for i in idx if s[i] > 0]

    def of(self, ids: Sequence[int]) -> np.ndarray:
        """The scores of these passages, in the order given."""
        return np.array([self._scores[i] for i in ids], dtype=np.float32)


class SearchIndex:
    """Passages with their dense, sentence and keyword indexes; knows nothing of files or caches."""

    def __init__(
        self,
        units: Sequence[Unit],
        dense: VectorIndex,
        sentence_vectors: np.ndarray,
        lexical: LexicalIndex,
        keys: Sequence[str],
        *,
        section_context: bool,
    ) -> None:
        self.units = list(units)
        self.dense = dense
        self.sentence_vectors = sentence_vectors
        self.lexical = lexical
        self.keys = list(keys)
        self.section_context = section_context
        self.sentences = [u.sentences for u in self.units]
        # Sentence vectors of unit i are rows offsets[i]:offsets[i + 1].
        self.offsets = np.cumsum([0] + [len(s) for s in self.sentences])

    def __len__(self) -> int:
        return len(self.units)

    @classmethod
    def build(
        cls,
        units: Sequence[Unit],
        encoder: Encoder,
        *,
        section_context: bool,
        reuse: dict[str, np.ndarray] | None = None,
        progress: Progress | None = None,
    ) -> tuple[SearchIndex, int, dict[str, float]]:
        """Index `units`, encoding only the texts whose content hash `reuse` lacks.

        Returns:
            ``(index, texts encoded, seconds per stage)``.
        """
        reuse = reuse or {}
        timings: dict[str, float] = {}
        texts, sents, keys = texts_and_keys(units, section_context=section_context)
        all_texts = texts + sents
        n = len(texts)
        counts = [len(u.sentences) for u in units]
        offsets = np.cumsum([0] + counts)
        # Sentences are encoded; a passage is encoded only when it has no sentence to pool.
        missing = [i for i, key in enumerate(keys) if key not in reuse and (i >= n or counts[i] == 0)]
        t0 = time.perf_counter()
        vectors = np.zeros((len(all_texts), encoder.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            if key in reuse:
                vectors[i] = reuse[key]
        for start in range(0, len(missing), ENCODE_BATCH):
            chunk = missing[start : start + ENCODE_BATCH]
            # Passages and sentences are both documents to the model ("passage: " side).
            vectors[chunk] = encoder.encode_passages([all_texts[i] for i in chunk])
            if progress:
                progress("encoding", min(start + ENCODE_BATCH, len(missing)), len(missing))
        for i in range(n):
            if counts[i]:
                mean = vectors[n + offsets[i] : n + offsets[i + 1]].mean(axis=0)
                norm = float(np.linalg.norm(mean))
                vectors[i] = mean / norm if norm > 0 else mean
        timings["encode"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lexical = LexicalIndex.build(texts)
        timings["bm25"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        dense = VectorIndex.build(vectors[: len(texts)])
        timings["faiss"] = time.perf_counter() - t0
        index = cls(units, dense, vectors[len(texts) :], lexical, keys, section_context=section_context)
        return index, len(missing), timings

    # -- what retrieval asks of an index (the Milvus store answers the same questions) -----

    def keyword(self, terms: list[str], n: int, *, source: str | None = None) -> KeywordHits:
        """The `n` best passages by BM25 for `terms` (only those with a score), and every passage's score on demand."""
        scores = self.lexical.scores(terms) if terms else np.zeros(len(self.units), dtype=np.float32)
        if source is not None:
            scores = np.where([u.source == source for u in self.units], scores, 0.0).astype(np.float32)
        return KeywordHits(scores)

    def dense_top(self, qvec: np.ndarray, n: int, *, source: str | None = None) -> Hits:
        """The `n` nearest passages to `qvec`; exact over one file's passages when `source` names it."""
        if source is None:
            return self.dense.search(qvec, n)
        ids = np.flatnonzero([u.source == source for u in self.units])
        scores = self.dense.reconstruct(ids) @ qvec
        best = np.argsort(-scores, kind="stable")[: min(n, len(ids))]
        return Hits(ids[best], scores[best])

    def passage_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The passage vectors of some rows, in the order given."""
        return self.dense.reconstruct(list(ids))

    def sentence_sims(self, ids: Sequence[int], qvec: np.ndarray) -> dict[int, np.ndarray]:
        """Each passage's sentences' cosine to `qvec`, in reading order."""
        return {int(i): self.sentence_vectors[int(self.offsets[i]) : int(self.offsets[i + 1])] @ qvec for i in ids}

    def vectors_by_key(self) -> dict[str, np.ndarray]:
        """Content hash -> vector for everything this index embedded."""
        vecs = np.vstack([self.dense.reconstruct_all(), self.sentence_vectors])
        return {k: v for k, v in zip(self.keys, vecs) if k}

    # -- files ---------------------------------------------------------------------

    def save(self, version: Path, *, encoder: Encoder, build: dict, extra: dict) -> None:
        """Write this index into a version directory; the manifest goes last, over every other file there."""
        n = len(self.units)
        rows = [
            {"id": u.id, "kind": u.kind, "section": u.section, "line": u.line, "repaired": u.repaired,
             "text": u.text, "key": key}
            for u, key in zip(self.units, self.keys[:n])
        ]
        store.write_jsonl(version / store.PASSAGES, rows)
        self.dense.save(version / store.DENSE)
        np.save(version / store.SENTENCES, self.sentence_vectors, allow_pickle=False)
        (version / store.BM25_DIR).mkdir()
        self.lexical.save(version / store.BM25_DIR)
        store.write_json(
            version / store.MANIFEST,
            {
                "format_version": store.FORMAT_VERSION,
                "encoder": {"name": encoder.name, "dim": encoder.dim},
                **extra,
                "build": {**build, "section_context": self.section_context, "tokenizer": TOKENIZER_VERSION},
                "counts": {"passages": n, "sentences": int(self.sentence_vectors.shape[0])},
                "sentence_keys": self.keys[n:],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                # Written last, over the files above: `load` refuses any file that differs.
                "files": store.file_digests(version),
            },
        )

    @classmethod
    def load(
        cls,
        version: Path,
        units: Sequence[Unit],
        encoder: Encoder,
        *,
        build: dict,
        section_context: bool,
        manifest: dict | None = None,
    ) -> SearchIndex:
        """Load a saved index, checking it matches `units`, `encoder` and the build settings.

        Args:
            manifest: the version's manifest when the caller has read it already.

        Raises:
            store.IndexCorrupt: anything damaged, stale or mismatched (the message says what).
        """
        manifest = manifest if manifest is not None else store.read_manifest(version)
        enc = manifest.get("encoder") or {}
        if enc.get("name") != encoder.name or enc.get("dim") != encoder.dim:
            raise store.IndexCorrupt(f"index was built with encoder {enc.get('name')!r}, not {encoder.name!r}")
        want = {**build, "section_context": section_context, "tokenizer": TOKENIZER_VERSION}
        if (manifest.get("build") or {}) != want:
            raise store.IndexCorrupt(f"index was built with {manifest.get('build')}, settings now are {want}")
        store.verify_digests(version, manifest)
        rows = store.read_jsonl(version / store.PASSAGES)
        if len(rows) != len(units) or any(r.get("text") != u.text or r.get("id") != u.id for r, u in zip(rows, units)):
            raise store.IndexCorrupt(f"{store.PASSAGES} does not match the document's passages")
        n_sent = sum(len(u.sentences) for u in units)
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
        if len(keys) != len(rows) + n_sent:
            keys = texts_and_keys(units, section_context=section_context)[2]
        return cls(units, dense, sentence_vectors, lexical, keys, section_context=section_context)


def reusable_vectors(version: Path | None, encoder: Encoder, *, manifest: dict | None = None) -> dict[str, np.ndarray]:
    """Vectors of a saved index by content hash, so unchanged text is not re-encoded ({} if unusable)."""
    if version is None:
        return {}
    try:
        manifest = manifest if manifest is not None else store.read_manifest(version)
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
