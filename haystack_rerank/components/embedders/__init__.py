from haystack_rerank.components.embedders.sentence_transformers import DocumentEmbedder, TextEmbedder

__all__ = ["DocumentEmbedder", "TextEmbedder"]
