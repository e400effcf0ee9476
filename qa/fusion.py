"""Fusion: one strategy, chosen once from the settings, turns dense and keyword scores into one 0..1 score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fusion:
    """Combines the dense and keyword scores of the same candidates.

    ``fuse(dense, lexical, keyword_weight)``: `keyword_weight` is the keyword side's
    weight for this question (the retriever scales it by how Chinese the question is,
    or uses the cross-language bridge's weight).
    """

    dense_weight: float = 1.0

    def fuse(self, dense: np.ndarray, lexical: np.ndarray, keyword_weight: float) -> np.ndarray:
        raise NotImplementedError


class DenseOnly(Fusion):
    """The dense side alone (``mode="dense"``, for comparison)."""

    def fuse(self, dense, lexical, keyword_weight):
        return dense.astype(np.float32)


class KeywordOnly(Fusion):
    """BM25 alone, scaled to 0..1 (``mode="bm25"``, for comparison)."""

    def fuse(self, dense, lexical, keyword_weight):
        mx = float(lexical.max()) if len(lexical) else 0.0
        return (lexical / mx if mx > 0 else np.zeros_like(lexical)).astype(np.float32)


class Linear(Fusion):
    """Min-max scaled dense plus max-scaled BM25, weighted (the default)."""

    def fuse(self, dense, lexical, keyword_weight):
        lo, hi = float(dense.min()), float(dense.max())
        dn = (dense - lo) / (hi - lo) if hi > lo else np.ones_like(dense)
        mx = float(lexical.max())
        ln = lexical / mx if mx > 0 else np.zeros_like(lexical)
        score = (self.dense_weight * dn + keyword_weight * ln) / (self.dense_weight + keyword_weight)
        return score.astype(np.float32)


@dataclass(frozen=True)
class ReciprocalRank(Fusion):
    """Reciprocal-rank fusion: 1 / (k + rank) on each side; keyword-less candidates get nothing from BM25."""

    k: int = 60

    def fuse(self, dense, lexical, keyword_weight):
        rd = np.empty(len(dense))
        rd[np.argsort(-dense, kind="stable")] = np.arange(1, len(dense) + 1)
        rl = np.empty(len(lexical))
        rl[np.argsort(-lexical, kind="stable")] = np.arange(1, len(lexical) + 1)
        lex_term = np.where(lexical > 0, 1.0 / (self.k + rl), 0.0)
        score = self.dense_weight / (self.k + rd) + keyword_weight * lex_term
        return (score / score.max()).astype(np.float32) if score.max() > 0 else score.astype(np.float32)


class ZScore(Fusion):
    """Standardised scores: a dense lead of a hair counts as a hair, not as the full range."""

    def fuse(self, dense, lexical, keyword_weight):
        dz = (dense - dense.mean()) / (dense.std() or 1.0)
        lz = (lexical - lexical.mean()) / (lexical.std() or 1.0) if lexical.max() > 0 else np.zeros_like(lexical)
        score = self.dense_weight * dz + keyword_weight * lz
        lo, hi = float(score.min()), float(score.max())
        return ((score - lo) / (hi - lo) if hi > lo else np.ones_like(score)).astype(np.float32)


FUSIONS = {"linear": Linear, "rrf": ReciprocalRank, "zscore": ZScore}


def fusion_for(config) -> Fusion:
    """The strategy a `RetrievalConfig` names (its ``mode`` first, then its ``fusion``)."""
    if config.mode == "dense":
        return DenseOnly(config.dense_weight)
    if config.mode == "bm25":
        return KeywordOnly(config.dense_weight)
    if config.fusion == "rrf":
        return ReciprocalRank(config.dense_weight, config.rrf_k)
    return FUSIONS[config.fusion](config.dense_weight)


def fuse(dense: np.ndarray, lexical: np.ndarray, keyword_weight: float, config) -> np.ndarray:
    """One call: the configured strategy applied to these candidates (empty in, empty out)."""
    if len(dense) == 0:
        return dense
    return fusion_for(config).fuse(dense, lexical, keyword_weight)
