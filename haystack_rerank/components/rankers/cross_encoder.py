"""CrossEncoderRanker: cross-encoder reranking with a score cache, dedup and length-sorted batches."""

from __future__ import annotations

import asyncio
import copy
import threading
from pathlib import Path
from typing import Any, Literal

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.utils import ComponentDevice, Secret
from haystack.utils.hf import deserialize_hf_model_kwargs, serialize_hf_model_kwargs

from haystack_rerank.cache.base import RerankCache
from haystack_rerank.components.rankers import _loading, _shared
from haystack_rerank.components.rankers._cached_scoring import cached_logits
from haystack_rerank.components.rankers._candidates import RETRIEVAL_SCORE_META_KEY, deduplicate, rank, split_by_text
from haystack_rerank.components.rankers._validation import BACKENDS, PRECISIONS, check_ranker, check_run_inputs
from haystack_rerank.components.rankers._windows import WindowSettings, aggregate_plan, plan_windows
from haystack_rerank.errors import ConfigurationError

__all__ = ["BACKENDS", "DEFAULT_RERANK_MODEL", "PRECISIONS", "RETRIEVAL_SCORE_META_KEY", "CrossEncoderRanker"]

DEFAULT_RERANK_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"


@component
class CrossEncoderRanker:
    """
    Reranks documents with a sentence-transformers cross-encoder, caching scores across queries.

    Each (query, document text) pair is scored by the model unless its score is in `cache`; only the
    misses go to the model, in batches sorted by token length. Documents sharing an id are scored once
    and returned once (the one with the highest first-stage score is kept). Documents without text are
    not scored: they come last, with `score=None`. Every returned document is a copy with `score` set
    to the reranking score and the first-stage score kept in `meta["retrieval_score"]`.

    Besides `documents`, `run` returns `meta` with:

    - `top_score`: best final score before `score_threshold` and `top_k` (None when nothing was scored),
    - `top_relevance`: the best cross-encoder score before any interpolation with `alpha`,
    - `low_confidence`: True when `low_confidence_threshold` is set and `top_relevance` is below it
      (or nothing could be scored),
    - `scored`, `unscored`, `duplicates`: candidates with a score, without text, dropped as repeated ids,
    - `cache_hits`, `cache_misses`: candidates served from / missing in the cache (0 without a cache),
    - `cache_bypassed`: cache operations that failed and were skipped,
    - `model_scored`, `batches`, `model_seconds`: pairs sent to the model, forward batches, and the
      time spent in `CrossEncoder.predict`.

    With `long_documents="windows"`, a document longer than a window is scored by windows (see the parameters);
    the cache and model counts above then count windows, `meta` adds `windows` (pairs formed) and
    `windows_capped` (documents cut at `max_windows`), and every scored document gets
    `meta["best_window"]`: `{"index", "start", "end", "windows", "capped"}`, the character span in `content`
    of the window that decided its score, where a reader can start.

    ### Usage example

    ```python
    from haystack import Document
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.components.rankers import CrossEncoderRanker

    ranker = CrossEncoderRanker(top_k=2, cache=MemoryRerankCache())
    ranker.warm_up()
    docs = [Document(content="Berlin is the capital of Germany."), Document(content="Paris is in France.")]
    result = ranker.run(query="What is the capital of Germany?", documents=docs)
    print(result["documents"][0].content, result["meta"]["cache_misses"])
    ```
    """

    def __init__(  # noqa: PLR0913 - a flat, serialisable parameter list is the Haystack convention
        self,
        *,
        model: str | Path = DEFAULT_RERANK_MODEL,
        device: ComponentDevice | None = None,
        token: Secret | None = Secret.from_env_var(["HF_API_TOKEN", "HF_TOKEN"], strict=False),  # noqa: B008
        batch_size: int = 32,
        max_length: int | None = 512,
        top_k: int = 10,
        score_threshold: float | None = None,
        scale_score: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        backend: Literal["torch", "compiled", "onnx", "openvino"] = "torch",
        precision: Literal["float32", "bfloat16", "int8", "auto"] = "float32",
        cache: RerankCache | None = None,
        low_confidence_threshold: float | None = None,
        alpha: float | None = None,
        length_sort: bool = True,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        threads: int | None = None,
        long_documents: Literal["truncate", "windows"] = "truncate",
        window_tokens: int | None = None,
        window_overlap: int = 32,
        max_windows: int = 8,
        window_aggregation: Literal["max", "first_k_mean", "first_over_threshold"] = "max",
        window_first_k: int = 3,
        window_threshold: float | None = None,
    ) -> None:
        """
        Create the ranker; nothing is loaded until `warm_up()` (or the first `run`).

        :param model: Hub name or local folder of a cross-encoder. Stored as given (portable YAML) and
            resolved to a locally installed copy, when one exists, at load time.
        :param device: Device to load the model on; None picks the best available one at load time.
        :param token: Hugging Face token for private models.
        :param batch_size: Pairs per forward pass.
        :param max_length: Tokens per (query, document) pair; longer pairs are truncated. None uses the
            model's own limit.
        :param top_k: Maximum number of documents returned (0 returns none).
        :param score_threshold: Drop scored documents whose final score is below this value.
        :param scale_score: Apply a sigmoid to the logits so scores lie in 0..1.
        :param meta_fields_to_embed: Meta fields (e.g. `["title"]`) placed before the content in the
            text the model reads.
        :param embedding_separator: Joins the embedded meta values and the content.
        :param backend: "torch" (PyTorch, tokenized once, run directly), "compiled" (the torch model compiled by
            `torch.compile` in `warm_up`, ~40 s the first time on a machine, then reused from the compile cache;
            batches padded to multiples of 64 tokens), "openvino" (the torch model converted
            in memory by OpenVINO; needs the `openvino` package) or "onnx" (exported once to a local ONNX file,
            run by ONNX Runtime; needs the `onnxruntime` and `onnx` packages).
        :param precision: "float32"; "bfloat16": bf16 weights on torch, bf16 inference on OpenVINO; "int8":
            the static int8 model `haystack-rerank quantize` wrote into the folder (backend="openvino"), or dynamic
            int8 quantization of the ONNX model (backend="onnx"); "auto": the fastest one this CPU runs without
            the quality loss (openvino: int8 where the folder has an int8 model and the CPU int8 dot-product
            units, else float32; torch and compiled: bfloat16 where the CPU has bf16 units, else float32; onnx:
            float32). On a CPU without native bf16, "bfloat16" falls back to float32 (logged). The cache key
            records what ran; scores are returned as float32 either way.
        :param cache: Score cache (`haystack_rerank.cache`); None scores every pair on every query.
        :param low_confidence_threshold: When the best cross-encoder score (before `alpha` interpolation) is
            below it, `meta["low_confidence"]` is True: no candidate looks relevant to the model.
        :param alpha: When set, final score = alpha * cross-encoder score + (1 - alpha) * first-stage
            score min-max normalised over the candidates (missing first-stage score counts as 0).
            Needs `scale_score=True` so both terms lie in 0..1.
        :param length_sort: Batch pairs of similar token length together (the output order is unchanged).
        :param trust_remote_code: Allow custom model code from the hub.
        :param model_kwargs: Passed to `AutoModelForSequenceClassification.from_pretrained`.
        :param tokenizer_kwargs: Passed to the tokenizer (sentence-transformers `processor_kwargs`).
        :param threads: CPU threads for the forward pass (torch: process-wide `torch.set_num_threads`;
            OpenVINO: per model). None keeps the library default.
        :param long_documents: "truncate" reads the first `max_length` tokens of each pair; "windows" splits a
            longer document into overlapping token windows, scores every window (batched with the windows of all
            candidates, each cached under its own text) and aggregates them with `window_aggregation`. A document
            that fits is one window, scored exactly as with "truncate".
        :param window_tokens: Document tokens per window; None fills `max_length` after the query and special
            tokens (computed per query).
        :param window_overlap: Tokens shared by neighbouring windows, so a passage cut at a boundary is read whole
            in one of them (reduced to half a window when a long query leaves small windows).
        :param max_windows: At most this many windows per document, from its start; a document with more text
            gets `meta["best_window"]["capped"] = True` and counts in the run's `meta["windows_capped"]`.
        :param window_aggregation: "max" (the best window), "first_k_mean" (mean logit of the first
            `window_first_k` windows: favours documents relevant from their start) or "first_over_threshold" (the
            first window, in document order, scoring at least `window_threshold`; the best window when none does).
        :param window_first_k: Windows averaged by "first_k_mean".
        :param window_threshold: Threshold of "first_over_threshold", on the returned score scale (a probability
            with `scale_score=True`).
        :raises ConfigurationError: A parameter has a value that cannot work; the message names the fix.
        """
        self.model = str(model) if isinstance(model, Path) else model
        self.device = device
        self.token = token
        self.batch_size = batch_size
        self.max_length = max_length
        self.top_k = top_k
        self.score_threshold = score_threshold
        self.scale_score = scale_score
        self.meta_fields_to_embed = list(meta_fields_to_embed) if meta_fields_to_embed else []
        self.embedding_separator = embedding_separator
        self.backend = backend
        self.precision = precision
        self.cache = cache
        self.low_confidence_threshold = low_confidence_threshold
        self.alpha = alpha
        self.length_sort = length_sort
        self.trust_remote_code = trust_remote_code
        self.model_kwargs = model_kwargs
        self.tokenizer_kwargs = tokenizer_kwargs
        self.threads = threads
        self.long_documents = long_documents
        self.window_tokens = window_tokens
        self.window_overlap = window_overlap
        self.max_windows = max_windows
        self.window_aggregation = window_aggregation
        self.window_first_k = window_first_k
        self.window_threshold = window_threshold
        self._validate_params()

        self._cross_encoder: Any = None
        self._scorer: Any = None
        self._scope_digest: str | None = None
        self.running_precision: str | None = None  # what `precision` resolved to on this CPU, after warm_up()
        self._load_lock = threading.Lock()
        # One forward at a time: concurrent forwards only oversubscribe the CPU, and the fast tokenizer
        # is not safe to call from several threads at once. Cache lookups stay concurrent; a query's misses
        # are looked up again, scored and written under the lock, so concurrent runs score a pair once.
        self._model_lock = threading.Lock()
        self._cache_writes = 0  # score batches written to the cache by this ranker (guarded by _model_lock)

    # -- validation ------------------------------------------------------------------------------------

    def _validate_params(self) -> None:
        check_ranker(self)

    def _window_settings(self) -> WindowSettings:
        return WindowSettings(
            tokens=self.window_tokens,
            overlap=self.window_overlap,
            max_windows=self.max_windows,
            aggregation=self.window_aggregation,
            first_k=self.window_first_k,
            threshold=self.window_threshold,
        )

    # -- loading ---------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the model once (idempotent, thread-safe) and run one tiny forward pass."""
        if self._cross_encoder is not None:
            return
        with self._load_lock:
            if self._cross_encoder is not None:
                return
            cross_encoder, scorer, self._scope_digest, self.running_precision = _loading.load(self)
            self._scorer = scorer
            self._cross_encoder = cross_encoder  # published last: run() treats non-None as ready

    # -- running ---------------------------------------------------------------------------------------

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, Any]:
        """
        Rerank `documents` by relevance to `query`.

        :param query: The query, a non-empty string; it is always the first text of each pair (a long query is
            truncated with the document to `max_length` tokens, longest first).
        :param documents: Candidates, typically from a first-stage retriever. A `meta` of None counts as empty.
        :param top_k: Maximum documents returned; None uses the init value, 0 returns none.
        :param score_threshold: Minimum final score; None uses the init value. Documents without text
            are not filtered by it.
        :returns: `documents` (best first, unscored last) and `meta` (see the class docstring).
        :raises ConfigurationError: the query is empty or not a string, `documents` is not a list of Documents,
            `top_k` is negative or `score_threshold` is not a number.
        """
        return self._rank(query, documents, top_k, score_threshold)

    def rank_by_model(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        """
        `run` ranked by the cross-encoder's score alone: no `alpha` interpolation and no `score_threshold`. How
        `ExtractiveAnswerer` scores sentences with the pipeline's own ranker (the same model and cache).
        """
        return self._rank(query, documents, top_k, None, by_model_only=True)

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    async def run_async(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Same as `run`, executed in a worker thread so the event loop stays free during the forward pass."""
        return await asyncio.to_thread(self._rank, query, documents, top_k, score_threshold)

    def _rank(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None,
        score_threshold: float | None,
        *,
        by_model_only: bool = False,
    ) -> dict[str, Any]:
        top_k = top_k if top_k is not None else self.top_k
        alpha = None if by_model_only else self.alpha
        if not by_model_only and score_threshold is None:
            score_threshold = self.score_threshold
        check_run_inputs(query, documents, top_k, score_threshold)

        unique = deduplicate(documents)
        scorable, unscorable = split_by_text(unique, self.meta_fields_to_embed, self.embedding_separator)

        meta: dict[str, Any] = {
            "top_score": None,
            "top_relevance": None,
            "low_confidence": self.low_confidence_threshold is not None,
            "scored": len(scorable),
            "unscored": len(unscorable),
            "duplicates": len(documents) - len(unique),
            "cache_hits": 0,
            "cache_misses": 0,
            "cache_bypassed": 0,
            "model_scored": 0,
            "batches": 0,
            "model_seconds": 0.0,
        }
        windows: list[dict[str, Any]] | None = None
        if scorable and self.long_documents == "windows":
            logits, windows = self._window_logits(query, scorable, meta)
        else:
            logits = self._logits(query, scorable, meta) if scorable else []

        ranked = rank(
            scorable,
            unscorable,
            logits,
            windows,
            meta,
            scale_score=self.scale_score,
            alpha=alpha,
            score_threshold=score_threshold,
            low_confidence_threshold=self.low_confidence_threshold,
        )
        return {"documents": ranked[:top_k], "meta": meta}

    def _logits(self, query: str, scorable: list[tuple[Document, str]], meta: dict[str, Any]) -> list[float]:
        """Raw logits for every scorable document: cache hits first, the misses from the model."""
        if self._cross_encoder is None:
            self.warm_up()
        return cached_logits(self, query, scorable, meta)

    def _window_logits(
        self, query: str, scorable: list[tuple[Document, str]], meta: dict[str, Any]
    ) -> tuple[list[float], list[dict[str, Any]]]:
        """Aggregated logits of long documents: all candidates' windows scored (and cached) as one set of pairs."""
        if self._cross_encoder is None:
            self.warm_up()
        tokenizer = getattr(self._cross_encoder, "tokenizer", None)
        if tokenizer is None or not getattr(tokenizer, "is_fast", False):
            msg = f"CrossEncoderRanker long_documents='windows' needs a fast tokenizer; {self.model!r} has none."
            raise ConfigurationError(msg)
        settings = self._window_settings()
        plan = plan_windows(tokenizer, query, scorable, settings, self._cross_encoder.max_length)
        unit_logits = self._logits(query, plan.units, meta)
        prefix = [len(text) - len(doc.content or "") for doc, text in scorable]
        meta["windows"] = len(plan.units)
        meta["windows_capped"] = sum(plan.capped)
        return aggregate_plan(plan, unit_logits, settings, self.scale_score, prefix)

    # -- serialisation ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Serialise the configuration, including the token Secret, the device and the cache configuration."""
        data = default_to_dict(
            self,
            model=self.model,
            device=self.device,
            token=self.token,
            batch_size=self.batch_size,
            max_length=self.max_length,
            top_k=self.top_k,
            score_threshold=self.score_threshold,
            scale_score=self.scale_score,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            backend=self.backend,
            precision=self.precision,
            cache=self.cache,
            low_confidence_threshold=self.low_confidence_threshold,
            alpha=self.alpha,
            length_sort=self.length_sort,
            trust_remote_code=self.trust_remote_code,
            model_kwargs=copy.deepcopy(self.model_kwargs),  # serialised in place below
            tokenizer_kwargs=self.tokenizer_kwargs,
            threads=self.threads,
            long_documents=self.long_documents,
            window_tokens=self.window_tokens,
            window_overlap=self.window_overlap,
            max_windows=self.max_windows,
            window_aggregation=self.window_aggregation,
            window_first_k=self.window_first_k,
            window_threshold=self.window_threshold,
        )
        if data["init_parameters"]["model_kwargs"] is not None:
            serialize_hf_model_kwargs(data["init_parameters"]["model_kwargs"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrossEncoderRanker:
        """
        Rebuild the ranker (and its cache, via the cache's `from_dict`) from `to_dict` output. An answerer's ranker
        with the same configuration in the same YAML is this instance (see `_shared`).
        """
        return _shared.ranker_from_dict(data, lambda: cls.from_dict_unshared(data))

    @classmethod
    def from_dict_unshared(cls, data: dict[str, Any]) -> CrossEncoderRanker:
        """A new ranker from `to_dict` output."""
        data = copy.deepcopy(data)
        init_params = data.get("init_parameters", {})
        if init_params.get("model_kwargs") is not None:
            deserialize_hf_model_kwargs(init_params["model_kwargs"])
        return default_from_dict(cls, data)
