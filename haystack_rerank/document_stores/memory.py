"""
`EnglishInMemoryStore`: Haystack's in-memory document store with the BM25 of the OpenSearch index. Text is read as
the index's `english` analyser reads it (possessive `'s` dropped, lowercase, Lucene's English stop words, Porter
stemming), documents are scored with Okapi BM25 at Lucene's k1 = 1.2, b = 0.75, and a document's title counts with
its content. The embedded default then ranks like the OpenSearch one (BENCHMARKS.md "Embedded BM25").
"""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
from typing import Any

from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.document_stores.types import DuplicatePolicy

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, the stop words of OpenSearch's `english` analyser
# fmt: off
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
})
# fmt: on
LUCENE_BM25 = {"k1": 1.2, "b": 0.75}
_POSSESSIVE = re.compile(r"['\u2019]s\b")
_stemmers = threading.local()  # a snowball stemmer keeps state between calls: one per thread


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Porter stem of `word` (the algorithm of Lucene's PorterStemFilter)."""
    stemmer = getattr(_stemmers, "porter", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _stemmers.porter = snowballstemmer.stemmer("porter")
    return stemmer.stemWord(word)


class EnglishInMemoryStore(InMemoryDocumentStore):
    """`InMemoryDocumentStore` whose BM25 analyses and weighs text like the package's OpenSearch index."""

    def __init__(self, *, bm25_algorithm: str = "BM25Okapi", bm25_parameters: dict | None = None, **kwargs: Any):
        parameters = LUCENE_BM25 if bm25_parameters is None else bm25_parameters
        super().__init__(bm25_algorithm=bm25_algorithm, bm25_parameters=dict(parameters), **kwargs)

    def _tokenize_bm25(self, text: str) -> list[str]:
        text = _POSSESSIVE.sub("", unicodedata.normalize("NFC", text.lower()))
        return [stem(word) for word in self.tokenizer(text) if word not in STOP_WORDS]

    def _score_bm25okapi(self, query: str, documents: list[Document]) -> list[tuple[Document, float]]:
        """
        Lucene's BM25 (OpenSearch's similarity): Okapi's term weight with idf = ln(1 + (N - n + 0.5) / (n + 0.5)),
        positive for every term even in a small corpus (Okapi's own idf is <= 0 for a term in half the documents).
        Only documents that match a query term are returned.
        """
        if not documents:
            return []
        k1, b = self.bm25_parameters.get("k1", LUCENE_BM25["k1"]), self.bm25_parameters.get("b", LUCENE_BM25["b"])
        total = len(self._bm25_attr)
        tokens = self._tokenize_bm25(query)  # a repeated term counts again, as in OpenSearch's match query
        frequency = self._freq_vocab_for_idf
        idf = {term: math.log(1 + (total - frequency[term] + 0.5) / (frequency[term] + 0.5)) for term in set(tokens)}
        scored = []
        for document in documents:
            stats = self._bm25_attr[document.id]
            norm = k1 * (1 - b + b * stats.doc_len / self._avg_doc_len)
            score = 0.0
            for term in tokens:
                count = stats.freq_token.get(term, 0)
                if count:
                    score += idf[term] * count * (k1 + 1) / (count + norm)
            if score > 0:  # a document no query term matches is not returned, as in OpenSearch
                scored.append((document, score))
        return scored

    def write_documents(self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE) -> int:
        """Write `documents`; BM25 reads each one's `meta["title"]` with its content (OpenSearch's multi_match)."""
        if not isinstance(documents, list) or any(not isinstance(doc, Document) for doc in documents):
            return super().write_documents(documents, policy)  # the base class's error for bad input
        titled = [_with_title(doc) for doc in documents]
        written = super().write_documents(titled, policy)
        for original, copy in zip(documents, titled, strict=True):
            if copy is not original and self.storage.get(original.id) is copy:
                self.storage[original.id] = original  # keep the document as given; only its statistics hold the title
        return written


def _with_title(document: Document) -> Document:
    title = document.meta.get("title")
    if not isinstance(title, str) or not title.strip() or document.content is None:
        return document
    return Document(id=document.id, content=f"{title}\n{document.content}", meta=document.meta)
