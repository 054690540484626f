from haystack_rerank.components.embedders.sentence_transformers import (
    QUERY_EMBEDDING_THREADS,
    DocumentEmbedder,
    TextEmbedder,
)

__all__ = ["QUERY_EMBEDDING_THREADS", "DocumentEmbedder", "TextEmbedder"]
