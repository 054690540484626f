from haystack_rerank.components.joiners.reciprocal_rank_fusion import ReciprocalRankFusion

__all__ = ["ReciprocalRankFusion"]
