from haystack_rerank.components.readers.extractive_answerer import ExtractiveAnswerer, split_sentences

__all__ = ["ExtractiveAnswerer", "split_sentences"]
