"""
Builders for the pipelines shipped as YAML in `pipelines/`: `write_pipeline_files()` writes exactly those
files, and a test checks they match, so the YAML cannot drift from the code.

Every component comes from `haystack_rerank.build` with `settings=None`: stores and embedders read the
environment when the YAML is loaded (`haystack_rerank.config`), and every secret is a Haystack `Secret`, so the
YAML holds no host, path, model or key. Each file also declares `inputs`/`outputs` for
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

from haystack_rerank import atomic, build, config
from haystack_rerank.components.retrievers import HybridRetriever
from haystack_rerank.models import STARTER_RERANK_MODEL

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


def indexing() -> Pipeline:
    """documents → embedder → OpenSearch writer and Qdrant writer (same ids; re-running overwrites)."""
    pipeline = Pipeline()
    pipeline.add_component("embedder", build.document_embedder())
    pipeline.add_component("opensearch_writer", DocumentWriter(build.lexical_store(), policy=DuplicatePolicy.OVERWRITE))
    pipeline.add_component("qdrant_writer", DocumentWriter(build.vector_store(), policy=DuplicatePolicy.OVERWRITE))
    pipeline.connect("embedder.documents", "opensearch_writer.documents")
    pipeline.connect("embedder.documents", "qdrant_writer.documents")
    return pipeline


def _retriever(
    *,
    top_k: int,
    depth: int,
    on_leg_failure: str,
    embedding_model: str | None = None,
    collection: str | None = None,
    weights: dict[str, float] | None = None,
) -> HybridRetriever:
    return build.hybrid_retriever(
        embedding_model=embedding_model,
        collection=collection,
        top_k=top_k,
        lexical_top_k=depth,
        dense_top_k=depth,
        on_leg_failure=on_leg_failure,
        weights=weights,
    )


def hybrid(*, top_k: int = 10, depth: int = config.LEG_DEPTH, on_leg_failure: str = "degrade") -> Pipeline:
    """query → hybrid retrieval (BM25 + dense, RRF)."""
    pipeline = Pipeline()
    pipeline.add_component("retriever", _retriever(top_k=top_k, depth=depth, on_leg_failure=on_leg_failure))
    return pipeline


def hybrid_rerank(
    *,
    rerank_depth: int = config.RERANK_DEPTH,
    top_k: int = 10,
    depth: int = config.LEG_DEPTH,
    on_leg_failure: str = "degrade",
    reranker_model: str = STARTER_RERANK_MODEL,
    low_confidence_threshold: float | None = 0.1,  # chosen on dev: BENCHMARKS.md
    retriever: HybridRetriever | None = None,
    embedding_model: str | None = None,
    collection: str | None = None,
    weights: dict[str, float] | None = None,
    reranker_options: dict[str, Any] | None = None,
) -> Pipeline:
    """
    query → hybrid retrieval of `rerank_depth` candidates → cross-encoder → top `top_k`.

    `reranker_options` replace the shipped ranker settings (any `CrossEncoderRanker` parameter, e.g.
    `{"backend": "openvino", "precision": "int8"}` with a model folder written by `haystack-rerank quantize`).

    Pass `retriever` to use other stores (e.g. the embedded ones of the demo) in the same pipeline shape;
    `embedding_model` and `collection` write that model and Qdrant collection into the file (else
    `HAYSTACK_RERANK_EMBEDDING_MODEL` and `QDRANT_COLLECTION` are read at load time); `weights` are the RRF
    weights of the legs (e.g. `{"dense": 2.0}`; 1.0 each by default).
    """
    if retriever is None:
        retriever = _retriever(
            top_k=rerank_depth,
            depth=depth,
            on_leg_failure=on_leg_failure,
            embedding_model=embedding_model,
            collection=collection,
            weights=weights,
        )
    else:
        retriever.top_k = rerank_depth
    pipeline = Pipeline()
    pipeline.add_component("retriever", retriever)
    pipeline.add_component(
        "ranker",
        build.ranker(
            model=reranker_model,
            top_k=top_k,
            low_confidence_threshold=low_confidence_threshold,
            **(reranker_options or {}),
        ),
    )
    pipeline.connect("retriever.documents", "ranker.documents")
    return pipeline


def rag(
    *, rerank_depth: int = config.RERANK_DEPTH, top_k: int = 5, llm_model: str = "gpt-4o-mini", **options: Any
) -> Pipeline:
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


def rag_extractive(*, rerank_depth: int = config.RERANK_DEPTH, top_k: int = 5, **options: Any) -> Pipeline:
    """hybrid → ranker → extractive answerer (no LLM: the best sentence, scored by the same ranker)."""
    pipeline = hybrid_rerank(rerank_depth=rerank_depth, top_k=top_k, **options)
    pipeline.add_component("answerer", build.answerer(pipeline.get_component("ranker")))
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
