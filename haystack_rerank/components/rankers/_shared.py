"""
YAML cannot say "the answerer uses the pipeline's ranker": each component is rebuilt on its own. So a ranker and
an answerer rebuilt from equal ranker configurations (as `pipelines.rag_extractive` writes them) get one
instance, whichever of the two is read first: one model, one cache.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_FOR_RANKER: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()  # built by an answerer first
_FOR_ANSWERER: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()  # built by a ranker first


def _key(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _shared(data: dict[str, Any], build: Callable[[], Any], take: weakref.WeakValueDictionary, give: Any) -> Any:
    key = _key(data)
    with _LOCK:
        waiting = take.pop(key, None)
    if waiting is not None:
        return waiting
    built = build()
    with _LOCK:
        give[key] = built
    return built


def ranker_from_dict(data: dict[str, Any], build: Callable[[], Any]) -> Any:
    """The ranker component: the instance an answerer built from the same configuration, else a new one."""
    return _shared(data, build, _FOR_RANKER, _FOR_ANSWERER)


def answerer_ranker_from_dict(data: dict[str, Any], build: Callable[[], Any]) -> Any:
    """An answerer's ranker: the instance a ranker component built from the same configuration, else a new one."""
    return _shared(data, build, _FOR_ANSWERER, _FOR_RANKER)
