"""CrossEncoderRanker's input checks: its init parameters and the inputs of each run, with errors naming the fix."""

from __future__ import annotations

from typing import Any, NoReturn

from haystack import Document
from haystack.utils import ComponentDevice, Secret

from haystack_rerank.cache.base import RerankCache
from haystack_rerank.errors import ConfigurationError

BACKENDS = ("torch", "compiled", "onnx", "openvino")
PRECISIONS = ("float32", "bfloat16", "int8", "auto")
LONG_DOCUMENT_STRATEGIES = ("truncate", "windows")


def fail(name: str, value: Any, fix: str) -> NoReturn:
    msg = f"CrossEncoderRanker {name} got {value!r}; {fix}"
    raise ConfigurationError(msg)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_top_k(top_k: Any) -> None:
    if not is_int(top_k) or top_k < 0:
        fail("top_k", top_k, "it must be an integer >= 0 (0 returns no documents).")


def check_ranker(ranker: Any) -> None:
    """Check every init parameter of a CrossEncoderRanker; the first bad one raises ConfigurationError."""
    if not isinstance(ranker.model, str) or not ranker.model.strip():
        fail("model", ranker.model, "pass a hub name or a local folder of a cross-encoder.")
    if ranker.device is not None and not isinstance(ranker.device, ComponentDevice):
        fail("device", ranker.device, "pass a ComponentDevice (e.g. ComponentDevice.from_str('cpu')) or None.")
    if ranker.token is not None and not isinstance(ranker.token, Secret):
        fail("token", "<not a Secret>", "pass Secret.from_env_var('HF_TOKEN') or None.")
    if not is_int(ranker.batch_size) or ranker.batch_size < 1:
        fail("batch_size", ranker.batch_size, "it must be a positive integer, e.g. batch_size=32.")
    if ranker.max_length is not None and (not is_int(ranker.max_length) or ranker.max_length < 1):
        fail("max_length", ranker.max_length, "it must be a positive integer (e.g. 512) or None.")
    check_top_k(ranker.top_k)
    for name in ("score_threshold", "low_confidence_threshold"):
        value = getattr(ranker, name)
        if value is not None and not is_number(value):
            fail(name, value, "it must be a number or None.")
    for name in ("scale_score", "length_sort", "trust_remote_code"):
        if not isinstance(getattr(ranker, name), bool):
            fail(name, getattr(ranker, name), "it must be True or False.")
    if not all(isinstance(field, str) for field in ranker.meta_fields_to_embed):
        fail("meta_fields_to_embed", ranker.meta_fields_to_embed, "it must be a list of meta field names.")
    if not isinstance(ranker.embedding_separator, str):
        fail("embedding_separator", ranker.embedding_separator, "it must be a string, e.g. '\\n'.")
    if ranker.backend not in BACKENDS:
        fail("backend", ranker.backend, f"choose one of {', '.join(BACKENDS)}.")
    if ranker.precision not in PRECISIONS:
        fail("precision", ranker.precision, f"choose one of {', '.join(PRECISIONS)}.")
    if ranker.precision == "bfloat16" and ranker.backend == "onnx":
        fail("precision", ranker.precision, "bfloat16 needs backend='torch' or 'openvino' (got 'onnx').")
    if ranker.precision == "int8" and ranker.backend not in ("onnx", "openvino"):
        fail("precision", ranker.precision, f"int8 needs backend='openvino' or 'onnx' (got {ranker.backend!r}).")
    if ranker.threads is not None and (not is_int(ranker.threads) or ranker.threads < 1):
        fail("threads", ranker.threads, "it must be a positive integer or None.")
    if ranker.cache is not None and not isinstance(ranker.cache, RerankCache):
        fail("cache", ranker.cache, "pass a haystack_rerank.cache.RerankCache (e.g. MemoryRerankCache()) or None.")
    if ranker.alpha is not None:
        if not is_number(ranker.alpha) or not 0.0 <= ranker.alpha <= 1.0:
            fail("alpha", ranker.alpha, "it must be between 0 and 1 (1 = cross-encoder only), or None.")
        if not ranker.scale_score:
            fail("alpha", ranker.alpha, "interpolation needs scale_score=True so both scores lie in 0..1.")
    for name in ("model_kwargs", "tokenizer_kwargs"):
        if getattr(ranker, name) is not None and not isinstance(getattr(ranker, name), dict):
            fail(name, getattr(ranker, name), "it must be a dict or None.")
    if ranker.long_documents not in LONG_DOCUMENT_STRATEGIES:
        fail("long_documents", ranker.long_documents, f"choose one of {', '.join(LONG_DOCUMENT_STRATEGIES)}.")
    ranker._window_settings().validate(ranker.scale_score)


def check_run_inputs(query: Any, documents: Any, top_k: Any, score_threshold: Any) -> None:
    """Check the inputs of one `run`: the query, the candidates, and the effective `top_k` and `score_threshold`."""
    check_top_k(top_k)
    if score_threshold is not None and not is_number(score_threshold):
        fail("score_threshold", score_threshold, "it must be a number or None.")
    if not isinstance(query, str) or not query.strip():
        fail("query", query, "pass the user's question as a non-empty string.")
    if not isinstance(documents, list) or not all(isinstance(doc, Document) for doc in documents):
        shown = type(documents).__name__ if not isinstance(documents, list) else "a list holding non-Documents"
        msg = f"CrossEncoderRanker documents got {shown}; pass a list of haystack Document objects."
        raise ConfigurationError(msg)
