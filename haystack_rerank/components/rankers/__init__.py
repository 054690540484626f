"""Rankers: `CrossEncoderRanker`, a cached cross-encoder reranker."""

from haystack_rerank.components.rankers.cross_encoder import RETRIEVAL_SCORE_META_KEY, CrossEncoderRanker

__all__ = ["RETRIEVAL_SCORE_META_KEY", "CrossEncoderRanker"]
