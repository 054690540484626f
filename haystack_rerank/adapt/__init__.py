"""
The cross-encoder as a teacher: adapt the reranker and the bi-encoder to a corpus, with or without labels.

    from haystack_rerank.adapt import AdaptConfig, adapt
    from haystack_rerank.adapt.stores import AdaptStores
    from haystack_rerank.config import Settings

    summary = adapt(AdaptConfig(corpus="my/corpus.jsonl", output_dir="adapted"), AdaptStores(Settings()))
"""

from haystack_rerank.adapt.config import AdaptConfig
from haystack_rerank.adapt.run import adapt

__all__ = ["AdaptConfig", "adapt"]
