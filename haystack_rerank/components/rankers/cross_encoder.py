"""CrossEncoderRanker: cross-encoder reranking with a score cache, dedup and length-sorted batches."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.utils import ComponentDevice, Secret
from haystack.utils.hf import deserialize_hf_model_kwargs, serialize_hf_model_kwargs

from haystack_rerank.cache.base import RerankCache
from haystack_rerank.cache.keys import ScoringScope, fingerprint_model_folder, make_cache_key
from haystack_rerank.components.rankers import _shared
from haystack_rerank.components.rankers._compiled import CompiledScorer
from haystack_rerank.components.rankers._inference import OpenVINOScorer, TorchScorer, bf16_supported
from haystack_rerank.components.rankers._onnx import OnnxScorer
from haystack_rerank.components.rankers._scoring import (
    document_text,
    min_max_normalise,
    sigmoid,
)
from haystack_rerank.components.rankers._windows import (
    BEST_WINDOW_META_KEY,
    LONG_DOCUMENT_STRATEGIES,
    WindowSettings,
    aggregate_plan,
    plan_windows,
)
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.extras import require
from haystack_rerank.models import resolve_model

logger = logging.getLogger(__name__)

DEFAULT_RERANK_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"
RETRIEVAL_SCORE_META_KEY = "retrieval_score"
BACKENDS = ("torch", "compiled", "onnx", "openvino")
PRECISIONS = ("float32", "bfloat16", "int8")


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
        precision: Literal["float32", "bfloat16", "int8"] = "float32",
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
            dynamic per-channel int8 quantization of the ONNX model (backend="onnx" only). On a CPU
            without native bf16 it falls back to float32 (logged; the cache key records what ran). Scores are
            returned as float32 either way.
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
        self._load_lock = threading.Lock()
        # One forward at a time: concurrent forwards only oversubscribe the CPU, and the fast tokenizer
        # is not safe to call from several threads at once. Cache lookups stay concurrent; a query's misses
        # are looked up again, scored and written under the lock, so concurrent runs score a pair once.
        self._model_lock = threading.Lock()
        self._cache_writes = 0  # score batches written to the cache by this ranker (guarded by _model_lock)

    # -- validation ------------------------------------------------------------------------------------

    def _validate_params(self) -> None:
        def fail(name: str, value: Any, fix: str) -> None:
            msg = f"CrossEncoderRanker {name} got {value!r}; {fix}"
            raise ConfigurationError(msg)

        if not isinstance(self.model, str) or not self.model.strip():
            fail("model", self.model, "pass a hub name or a local folder of a cross-encoder.")
        if self.device is not None and not isinstance(self.device, ComponentDevice):
            fail(
                "device",
                self.device,
                "pass a ComponentDevice (e.g. ComponentDevice.from_str('cpu')) or None.",
            )
        if self.token is not None and not isinstance(self.token, Secret):
            fail("token", "<not a Secret>", "pass Secret.from_env_var('HF_TOKEN') or None.")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            fail("batch_size", self.batch_size, "it must be a positive integer, e.g. batch_size=32.")
        if self.max_length is not None and (not _is_int(self.max_length) or self.max_length < 1):
            fail("max_length", self.max_length, "it must be a positive integer (e.g. 512) or None.")
        _check_top_k(self.top_k)
        for name in ("score_threshold", "low_confidence_threshold"):
            value = getattr(self, name)
            if value is not None and not _is_number(value):
                fail(name, value, "it must be a number or None.")
        for name in ("scale_score", "length_sort", "trust_remote_code"):
            if not isinstance(getattr(self, name), bool):
                fail(name, getattr(self, name), "it must be True or False.")
        if not all(isinstance(field, str) for field in self.meta_fields_to_embed):
            fail("meta_fields_to_embed", self.meta_fields_to_embed, "it must be a list of meta field names.")
        if not isinstance(self.embedding_separator, str):
            fail("embedding_separator", self.embedding_separator, "it must be a string, e.g. '\\n'.")
        if self.backend not in BACKENDS:
            fail("backend", self.backend, f"choose one of {', '.join(BACKENDS)}.")
        if self.precision not in PRECISIONS:
            fail("precision", self.precision, f"choose one of {', '.join(PRECISIONS)}.")
        if self.precision == "bfloat16" and self.backend == "onnx":
            fail("precision", self.precision, "bfloat16 needs backend='torch' or 'openvino' (got 'onnx').")
        if self.precision == "int8" and self.backend != "onnx":
            fail("precision", self.precision, f"int8 needs backend='onnx' (got {self.backend!r}).")
        if self.threads is not None and (not _is_int(self.threads) or self.threads < 1):
            fail("threads", self.threads, "it must be a positive integer or None.")
        if self.cache is not None and not isinstance(self.cache, RerankCache):
            fail(
                "cache",
                self.cache,
                "pass a haystack_rerank.cache.RerankCache (e.g. MemoryRerankCache()) or None.",
            )
        if self.alpha is not None:
            if not _is_number(self.alpha) or not 0.0 <= self.alpha <= 1.0:
                fail("alpha", self.alpha, "it must be between 0 and 1 (1 = cross-encoder only), or None.")
            if not self.scale_score:
                fail("alpha", self.alpha, "interpolation needs scale_score=True so both scores lie in 0..1.")
        for name in ("model_kwargs", "tokenizer_kwargs"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), dict):
                fail(name, getattr(self, name), "it must be a dict or None.")
        if self.long_documents not in LONG_DOCUMENT_STRATEGIES:
            fail("long_documents", self.long_documents, f"choose one of {', '.join(LONG_DOCUMENT_STRATEGIES)}.")
        self._window_settings().validate(self.scale_score)

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
            cross_encoder, location, precision = self._load_model()
            fingerprint = _model_fingerprint(cross_encoder, location)
            scorer = self._make_scorer(cross_encoder, precision, fingerprint)
            self._scope_digest = ScoringScope(
                model=self.model,
                fingerprint=fingerprint,
                max_length=cross_encoder.max_seq_length,
                backend=self.backend,
                precision=precision,
            ).digest()
            # The first forwards pay for lazy initialisation (and OpenVINO's shape specialisation); pay it
            # here, with a short and a long pair, rather than in the first query.
            scorer("warm up", ["warm up", "warm up " * 200], 2, True)
            self._scorer = scorer
            self._cross_encoder = cross_encoder  # published last: run() treats non-None as ready

    def _make_scorer(self, cross_encoder: Any, precision: str, fingerprint: str) -> Any:
        if self.backend == "openvino":
            require("openvino", "CrossEncoderRanker backend='openvino'")
            return OpenVINOScorer(cross_encoder, self.threads, precision)
        if self.backend == "onnx":
            require("onnx", "CrossEncoderRanker backend='onnx'")
            return OnnxScorer(cross_encoder, self.threads, precision, fingerprint)
        if self.backend == "compiled":
            return CompiledScorer(cross_encoder, precision, self.batch_size)
        return TorchScorer(cross_encoder)

    def _load_model(self) -> tuple[Any, str, str]:
        """The CrossEncoder, the folder or name it came from, and the precision that will actually run."""
        import torch
        from sentence_transformers import CrossEncoder

        if self.threads is not None and self.backend in ("torch", "compiled"):
            torch.set_num_threads(self.threads)
        location = resolve_model(self.model)
        device = ComponentDevice.resolve_device(self.device)
        try:
            cross_encoder = CrossEncoder(
                location,
                device=device.to_torch_str(),
                token=self.token.resolve_value() if self.token else None,
                trust_remote_code=self.trust_remote_code,
                model_kwargs=copy.deepcopy(self.model_kwargs),
                processor_kwargs=copy.deepcopy(self.tokenizer_kwargs),
                backend="torch",  # openvino converts the torch model, onnx exports it
                max_length=self.max_length,
            )
        except ImportError as err:
            msg = (
                f"CrossEncoderRanker backend={self.backend!r} needs extra packages ({err}). "
                f"Install sentence-transformers[{self.backend}] or use backend='torch'."
            )
            raise ConfigurationError(msg) from err
        precision = self.precision
        if precision == "bfloat16" and not bf16_supported():
            logger.warning("CrossEncoderRanker: this CPU has no native bfloat16; running float32 instead.")
            precision = "float32"
        if precision == "bfloat16" and self.backend == "torch":
            cross_encoder.to(torch.bfloat16)
        logger.info(
            "Loaded cross-encoder %s from %s (backend=%s, precision=%s, max_length=%s)",
            self.model,
            location,
            self.backend,
            precision,
            cross_encoder.max_seq_length,
        )
        return cross_encoder, location, precision

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
        _check_top_k(top_k)
        if score_threshold is not None and not _is_number(score_threshold):
            msg = f"CrossEncoderRanker score_threshold got {score_threshold!r}; it must be a number or None."
            raise ConfigurationError(msg)
        if not isinstance(query, str) or not query.strip():
            msg = f"CrossEncoderRanker query got {query!r}; pass the user's question as a non-empty string."
            raise ConfigurationError(msg)
        if not isinstance(documents, list) or not all(isinstance(doc, Document) for doc in documents):
            shown = type(documents).__name__ if not isinstance(documents, list) else "a list holding non-Documents"
            msg = f"CrossEncoderRanker documents got {shown}; pass a list of haystack Document objects."
            raise ConfigurationError(msg)

        unique = _deduplicate(documents)
        scorable: list[tuple[Document, str]] = []
        unscorable: list[Document] = []
        for doc in unique:
            text = document_text(doc, self.meta_fields_to_embed, self.embedding_separator)
            if text is None:
                unscorable.append(doc)
            else:
                scorable.append((doc, text))

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

        scores = [sigmoid(logit) if self.scale_score else logit for logit in logits]
        relevance = max(scores, default=None)  # the cross-encoder's own best score, before interpolation
        if alpha is not None:
            first_stage = min_max_normalise([doc.score for doc, _ in scorable])
            scores = [alpha * ce + (1.0 - alpha) * fs for ce, fs in zip(scores, first_stage, strict=True)]

        order = sorted(range(len(scores)), key=lambda index: -scores[index])  # stable: ties keep input order
        if order:
            meta["top_score"] = scores[order[0]]
            meta["top_relevance"] = relevance
            # confidence is the cross-encoder's judgement alone: the first-stage share of an interpolated
            # score would make the top document look relevant whatever the model thinks
            meta["low_confidence"] = (
                self.low_confidence_threshold is not None and relevance < self.low_confidence_threshold
            )
        if score_threshold is not None:
            order = [index for index in order if scores[index] >= score_threshold]
        ranked = [_rescored(scorable[index][0], scores[index], windows and windows[index]) for index in order]
        ranked.extend(_rescored(doc, None) for doc in unscorable)
        return {"documents": ranked[:top_k], "meta": meta}

    def _logits(self, query: str, scorable: list[tuple[Document, str]], meta: dict[str, Any]) -> list[float]:
        """Raw logits for every scorable document: cache hits first, the misses from the model."""
        if self._cross_encoder is None:
            self.warm_up()
        logits: list[float | None] = [None] * len(scorable)
        keys: list[str] = []
        writes_seen = self._cache_writes  # read before the lookup: a later write may hold our misses
        if self.cache is not None:
            assert self._scope_digest is not None  # set together with the model in warm_up
            keys = [make_cache_key(self._scope_digest, query, doc.id, text) for doc, text in scorable]
            self._read_cache(keys, range(len(keys)), logits, meta)

        missing = [index for index, logit in enumerate(logits) if logit is None]
        if missing:
            with self._model_lock:
                if self.cache is not None and self._cache_writes != writes_seen:
                    # another run (maybe of the same query) wrote scores since our lookup: read them again
                    missing = self._read_cache(keys, missing, logits, meta)
                if missing:
                    fresh = self._predict(query, [scorable[index][1] for index in missing], meta)
                    for index, logit in zip(missing, fresh, strict=True):
                        logits[index] = logit
                    if self.cache is not None:
                        written = {keys[index]: logit for index, logit in zip(missing, fresh, strict=True)}
                        meta["cache_bypassed"] += int(self.cache.safe_set_many(written))
                        self._cache_writes += 1
        return [float(logit) for logit in logits]  # type: ignore[arg-type]  # all filled above

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

    def _read_cache(self, keys: list[str], wanted: Any, logits: list[float | None], meta: dict[str, Any]) -> list[int]:
        """Fill `logits` at the `wanted` indexes from the cache; count hits and misses; return the misses."""
        assert self.cache is not None
        wanted = list(wanted)
        found, bypassed = self.cache.safe_get_many([keys[index] for index in wanted])
        meta["cache_bypassed"] += int(bypassed)
        for index in wanted:
            logits[index] = found.get(keys[index])
        missing = [index for index in wanted if logits[index] is None]
        meta["cache_misses"] = len(missing)
        meta["cache_hits"] = len(logits) - len(missing)
        return missing

    def _predict(self, query: str, texts: list[str], meta: dict[str, Any]) -> list[float]:
        """Score (query, text) pairs in length-sorted batches (the caller holds `_model_lock`)."""
        started = time.perf_counter()
        logits, batches = self._scorer(query, texts, self.batch_size, self.length_sort)
        meta["model_seconds"] += time.perf_counter() - started
        meta["model_scored"] += len(texts)
        meta["batches"] += batches
        return logits

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


# -- module helpers ------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_top_k(top_k: Any) -> None:
    if not _is_int(top_k) or top_k < 0:
        msg = f"CrossEncoderRanker top_k got {top_k!r}; it must be an integer >= 0 (0 returns no documents)."
        raise ConfigurationError(msg)


def _deduplicate(documents: list[Document]) -> list[Document]:
    """One document per id, at the position of its first occurrence; the highest first-stage score wins."""
    best: dict[str, Document] = {}
    for doc in documents:
        kept = best.get(doc.id)
        if kept is None or (doc.score is not None and (kept.score is None or doc.score > kept.score)):
            best[doc.id] = doc
    return list(best.values())  # dict order = first-occurrence order


def _rescored(doc: Document, score: float | None, best_window: dict[str, Any] | None = None) -> Document:
    meta = {**(doc.meta or {}), RETRIEVAL_SCORE_META_KEY: doc.score}
    if best_window:
        meta[BEST_WINDOW_META_KEY] = best_window
    return replace(doc, score=score, meta=meta)


def _model_fingerprint(cross_encoder: Any, location: str) -> str:
    """Fingerprint of the loaded weights: the local folder's files, else the hub snapshot, else the config."""
    folders = [Path(location)]
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(location, "config.json")
        if isinstance(cached, str):
            folders.append(Path(cached).parent)  # snapshots/<revision>/: the revision pins the weights
    except Exception as err:  # noqa: BLE001 - an invalid repo id just means there is no hub snapshot
        logger.debug("No hub snapshot for %s: %s", location, err)
    for folder in folders:
        fingerprint = fingerprint_model_folder(folder)
        if fingerprint is not None:
            return fingerprint
    config = getattr(getattr(cross_encoder, "model", None), "config", None)
    described = config.to_json_string() if config is not None else location
    logger.warning("Cannot locate the weight files of %s; cache keys use its config only.", location)
    return "config:" + hashlib.blake2b(described.encode("utf-8"), digest_size=16).hexdigest()
