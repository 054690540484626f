"""Rankers: `CrossEncoderRanker`, a cached cross-encoder reranker; `CascadeRanker`, a small model then the full one."""

from haystack_rerank.components.rankers.cascade import CascadeRanker
from haystack_rerank.components.rankers.cross_encoder import RETRIEVAL_SCORE_META_KEY, CrossEncoderRanker

__all__ = ["RETRIEVAL_SCORE_META_KEY", "CascadeRanker", "CrossEncoderRanker"]
