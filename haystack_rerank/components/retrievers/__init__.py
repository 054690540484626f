from haystack_rerank.components.retrievers.hybrid import HybridRetriever, LegFailurePolicy

__all__ = ["HybridRetriever", "LegFailurePolicy"]
