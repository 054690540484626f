"""
Builders for the pipelines shipped as YAML in `pipelines/`: `write_pipeline_files()` writes exactly those
files, and a test checks they match, so the YAML cannot drift from the code.

Every store is configured from the environment (`OpenSearchStore`, `QdrantStore`), and every secret is a
Haystack `Secret`, so the YAML holds no host, path or key. Each file also declares `inputs`/`outputs` for
Hayhooks, which `Pipeline.loads` ignores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from haystack import Pipeline
from haystack.components.builders import AnswerBuilder, ChatPromptBuilder
from haystack.components.generators.chat import OpenAIChatGenerator
from haystack.components.writers import DocumentWriter
from haystack.document_stores.types import DuplicatePolicy
from haystack.utils import Secret

from haystack_rerank import atomic
from haystack_rerank.cache import MemoryRerankCache
from haystack_rerank.components.embedders import QUERY_EMBEDDING_THREADS, DocumentEmbedder, TextEmbedder
from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.readers import ExtractiveAnswerer
from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, STARTER_RERANK_MODEL

PIPELINES_DIR = Path(__file__).resolve().parent.parent / "pipelines"

RAG_TEMPLATE = """{% message role="system" %}
You answer questions using only the numbered documents. Cite every document you use by its number in
brackets, like [1] or [2]. If the documents do not contain the answer, reply exactly: I don't know.
{% endmessage %}
{% message role="user" %}
{% if meta and meta.low_confidence %}The reranker is not confident that any document answers this question:
unless one clearly does, reply exactly: I don't know.
{% endif %}Documents:
{% for document in documents %}[{{ loop.index }}] {{ document.meta.get("title", "") }} {{ document.content }}
{% endfor %}
Question: {{ query }}
{% endmessage %}
"""


def _hybrid_retriever(
    *, top_k: int, depth: int, on_leg_failure: str, embedding_model: str, collection: str | None = None
) -> HybridRetriever:
    return HybridRetriever(
        lexical_retriever=OpenSearchBM25Retriever(document_store=OpenSearchStore()),
        text_embedder=TextEmbedder(model=embedding_model, threads=QUERY_EMBEDDING_THREADS),
        embedding_retriever=QdrantEmbeddingRetriever(document_store=QdrantStore(index=collection)),
        top_k=top_k,
        lexical_top_k=depth,
        dense_top_k=depth,
        on_leg_failure=on_leg_failure,
    )


# Chosen on SciFact dev with the starter model (BENCHMARKS.md): the final score mixes the cross-encoder's
# probability and the min-max scaled fused score half and half; the model was trained at 192 tokens.
DEFAULT_ALPHA = 0.5
DEFAULT_RERANK_MAX_LENGTH = 192
DEFAULT_RERANK_BACKEND = "torch"
DEFAULT_RERANK_PRECISION = "bfloat16"  # torch bf16: 1.9x, dev nDCG@10 within 0.003 of fp32 (BENCHMARKS.md)


def cross_encoder_ranker(
    *,
    model: str,
    top_k: int,
    low_confidence_threshold: float | None = None,
    alpha: float | None = DEFAULT_ALPHA,
) -> CrossEncoderRanker:
    """The reranker configuration shared by the pipelines, the CLI, `eval` and `sweep`."""
    return CrossEncoderRanker(
        model=model,
        top_k=top_k,
        max_length=DEFAULT_RERANK_MAX_LENGTH,
        meta_fields_to_embed=["title"],
        backend=DEFAULT_RERANK_BACKEND,
        precision=DEFAULT_RERANK_PRECISION,
        low_confidence_threshold=low_confidence_threshold,
        alpha=alpha,
        cache=MemoryRerankCache(max_entries=100_000),
    )


def indexing(*, embedding_model: str = DEFAULT_EMBEDDING_MODEL) -> Pipeline:
    """documents → embedder → OpenSearch writer and Qdrant writer (same ids; re-running overwrites)."""
    pipeline = Pipeline()
    pipeline.add_component("embedder", DocumentEmbedder(model=embedding_model))
    pipeline.add_component("opensearch_writer", DocumentWriter(OpenSearchStore(), policy=DuplicatePolicy.OVERWRITE))
    pipeline.add_component("qdrant_writer", DocumentWriter(QdrantStore(), policy=DuplicatePolicy.OVERWRITE))
    pipeline.connect("embedder.documents", "opensearch_writer.documents")
    pipeline.connect("embedder.documents", "qdrant_writer.documents")
    return pipeline


def hybrid(
    *,
    top_k: int = 10,
    depth: int = 100,
    on_leg_failure: str = "degrade",
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
) -> Pipeline:
    """query → hybrid retrieval (BM25 + dense, RRF)."""
    pipeline = Pipeline()
    pipeline.add_component(
        "retriever",
        _hybrid_retriever(top_k=top_k, depth=depth, on_leg_failure=on_leg_failure, embedding_model=embedding_model),
    )
    return pipeline


def hybrid_rerank(
    *,
    rerank_depth: int = 50,
    top_k: int = 10,
    depth: int = 100,
    on_leg_failure: str = "degrade",
    reranker_model: str = STARTER_RERANK_MODEL,
    low_confidence_threshold: float | None = 0.1,  # chosen on dev: BENCHMARKS.md
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
    retriever: HybridRetriever | None = None,
    collection: str | None = None,
) -> Pipeline:
    """
    query → hybrid retrieval of `rerank_depth` candidates → cross-encoder → top `top_k`.

    Pass `retriever` to use other stores (e.g. the embedded ones of the demo) in the same pipeline shape;
    `collection` names the Qdrant collection in the file (else `QDRANT_COLLECTION` is read at load time).
    """
    if retriever is None:
        retriever = _hybrid_retriever(
            top_k=rerank_depth,
            depth=depth,
            on_leg_failure=on_leg_failure,
            embedding_model=embedding_model,
            collection=collection,
        )
    else:
        retriever.top_k = rerank_depth
    pipeline = Pipeline()
    pipeline.add_component("retriever", retriever)
    pipeline.add_component(
        "ranker",
        cross_encoder_ranker(model=reranker_model, top_k=top_k, low_confidence_threshold=low_confidence_threshold),
    )
    pipeline.connect("retriever.documents", "ranker.documents")
    return pipeline


def rag(*, rerank_depth: int = 50, top_k: int = 5, llm_model: str = "gpt-4o-mini", **options: Any) -> Pipeline:
    """hybrid → ranker → prompt (numbered documents) → OpenAI-compatible chat model → answer with citations."""
    pipeline = hybrid_rerank(rerank_depth=rerank_depth, top_k=top_k, **options)
    pipeline.add_component(
        "prompt_builder", ChatPromptBuilder(template=RAG_TEMPLATE, required_variables=["query", "documents"])
    )
    # api_base_url stays None: the OpenAI client then reads OPENAI_BASE_URL (vLLM, Ollama, llama.cpp server...)
    pipeline.add_component("llm", OpenAIChatGenerator(api_key=Secret.from_env_var("OPENAI_API_KEY"), model=llm_model))
    pipeline.add_component("answer_builder", AnswerBuilder(reference_pattern=r"\[(\d+)\]"))
    pipeline.connect("ranker.documents", "prompt_builder.documents")
    pipeline.connect("ranker.meta", "prompt_builder.meta")
    pipeline.connect("prompt_builder.prompt", "llm.messages")
    pipeline.connect("llm.replies", "answer_builder.replies")
    pipeline.connect("ranker.documents", "answer_builder.documents")
    return pipeline


def rag_extractive(*, rerank_depth: int = 50, top_k: int = 5, **options: Any) -> Pipeline:
    """hybrid → ranker → extractive answerer (no LLM: the best sentence, scored by the same cross-encoder)."""
    pipeline = hybrid_rerank(rerank_depth=rerank_depth, top_k=top_k, **options)
    ranker = pipeline.get_component("ranker")
    pipeline.add_component(
        "answerer",
        ExtractiveAnswerer(ranker=cross_encoder_ranker(model=ranker.model, top_k=top_k, alpha=None)),
    )
    pipeline.connect("ranker.documents", "answerer.documents")
    pipeline.connect("ranker.meta", "answerer.meta")
    return pipeline


# Hayhooks: the request fields and the response fields of each pipeline.
HAYHOOKS_IO: dict[str, dict[str, dict[str, Any]]] = {
    "indexing": {
        "inputs": {"documents": "embedder.documents"},
        "outputs": {"written": "qdrant_writer.documents_written"},
    },
    "hybrid": {"inputs": {"query": "retriever.query"}, "outputs": {"documents": "retriever.documents"}},
    "hybrid_rerank": {
        "inputs": {"query": ["retriever.query", "ranker.query"]},
        "outputs": {"documents": "ranker.documents"},
    },
    "rag": {
        "inputs": {"query": ["retriever.query", "ranker.query", "prompt_builder.query", "answer_builder.query"]},
        "outputs": {"answers": "answer_builder.answers"},
    },
    "rag_extractive": {
        "inputs": {"query": ["retriever.query", "ranker.query", "answerer.query"]},
        "outputs": {"answers": "answerer.answers"},
    },
}

BUILDERS = {
    "indexing": indexing,
    "hybrid": hybrid,
    "hybrid_rerank": hybrid_rerank,
    "rag": rag,
    "rag_extractive": rag_extractive,
}


def pipeline_yaml(name: str) -> str:
    """The text of `pipelines/<name>.yaml`: the pipeline's `dumps()` plus its Hayhooks inputs/outputs."""
    io = yaml.safe_dump(HAYHOOKS_IO[name], sort_keys=False)
    return BUILDERS[name]().dumps() + "# Hayhooks request and response fields (ignored by Pipeline.loads)\n" + io


def write_pipeline_files(folder: Path = PIPELINES_DIR) -> list[Path]:
    """Regenerate the shipped YAML files: `python -m haystack_rerank.pipelines`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in BUILDERS:
        path = folder / f"{name}.yaml"
        atomic.write_text(path, pipeline_yaml(name))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_pipeline_files():
        print(path)
