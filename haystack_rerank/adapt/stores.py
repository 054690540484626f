"""
The package's own stores, retrievers and rankers, as `adapt` uses them.

The new bi-encoder's vectors go to a collection of their own, named after the model's weights
(`<collection>-bi-<fingerprint>`): old and new vectors never mix in one collection, the old collection keeps
serving until the new pipeline files are used, and an interrupted re-index is completed by running `adapt`
again (only what is missing or outdated is written; the check of ids and content hashes at the end proves
both stores hold the corpus).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from haystack import Document

from haystack_rerank.config import Settings


class AdaptStores:
    def __init__(self, settings: Settings, *, progress_bar: bool = True) -> None:
        self.settings = settings
        self.progress_bar = progress_bar
        self._lexical: Any = None
        self._vectors: dict[str, Any] = {}

    @property
    def collection(self) -> str:
        return self.settings.collection

    def _open(self, collection: str, embedding_model: str) -> tuple[Any, Any]:
        from haystack_rerank import build

        settings = replace(self.settings, collection=collection, embedding_model=embedding_model)
        if self._lexical is None:
            self._lexical = build.lexical_store(settings)
        if collection not in self._vectors:
            self._vectors[collection] = build.vector_store(settings)
        return self._lexical, self._vectors[collection]

    def ensure_indexed(self, corpus: dict[str, tuple[str, str]], *, embedding_model: str | None = None) -> None:
        """Index `corpus` in the configured index and collection unless both already hold exactly its ids."""
        self._index(corpus, self.collection, embedding_model or self.settings.embedding_model)

    def reindex(self, corpus: dict[str, tuple[str, str]], embedding_model: str) -> str:
        """Embed `corpus` with `embedding_model` into its own collection; returns the collection's name."""
        from haystack_rerank.adapt.run import fingerprint

        collection = f"{self.collection}-bi-{fingerprint(Path(embedding_model))}"
        self._index(corpus, collection, embedding_model)
        return collection

    def _index(self, corpus: dict[str, tuple[str, str]], collection: str, embedding_model: str) -> None:
        from haystack_rerank.indexing import index_into

        lexical, vectors = self._open(collection, embedding_model)
        # index_documents compares the stores' manifests (ids, content hashes, model) with the corpus and
        # writes only what differs: nothing at all when both already hold exactly the corpus
        documents = [
            Document(id=doc_id, content=text, meta={"title": title} if title else {})
            for doc_id, (title, text) in corpus.items()
        ]
        settings = replace(self.settings, embedding_model=embedding_model)
        index_into(settings, documents, lexical=lexical, vectors=vectors, progress_bar=self.progress_bar)

    def retriever(self, embedding_model: str, collection: str, *, top_k: int = 100, **options: Any) -> Any:
        """A `HybridRetriever` over the stores; `options` go to it (e.g. `weights={"dense": 2.0}`)."""
        from haystack_rerank import build

        lexical, vectors = self._open(collection, embedding_model)
        settings = replace(self.settings, collection=collection, embedding_model=embedding_model)
        retriever = build.hybrid_retriever(settings, lexical=lexical, vectors=vectors, top_k=top_k, **options)
        retriever.warm_up()
        return retriever

    def ranker(self, model: str, *, alpha: float | None, disk_cache: Path | None = None, cache: Any = None) -> Any:
        """The shipped reranker configuration for `model`; the documents it gets carry their text in `content`."""
        from haystack_rerank import build
        from haystack_rerank.cache import DiskRerankCache

        if disk_cache is not None:
            cache = DiskRerankCache(path=str(disk_cache))
        options = {} if cache is None else {"cache": cache}
        ranker = build.ranker(model=model, top_k=1000, alpha=alpha, **options)
        ranker.warm_up()
        return ranker
