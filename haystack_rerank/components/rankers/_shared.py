"""
YAML cannot say "the answerer uses the pipeline's ranker": each component is rebuilt on its own. So an answerer
and a ranker rebuilt from equal ranker configurations (as `pipelines.rag_extractive` writes them) get one
instance: one model, one cache. The answerer is read first (components are written in name order, and
"answerer" < "ranker"); it leaves its ranker for the next ranker component of the same configuration. A ranker
component never waits for an answerer: a pipeline without one (e.g. `rag.yaml`, whose ranker has the same
configuration) must not hand its ranker to another pipeline's answerer.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_LEFT_BY_ANSWERERS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def _key(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def ranker_from_dict(data: dict[str, Any], build: Callable[[], Any]) -> Any:
    """The ranker component: the instance an answerer just built from the same configuration, else a new one."""
    with _LOCK:
        waiting = _LEFT_BY_ANSWERERS.pop(_key(data), None)
    return waiting if waiting is not None else build()


def answerer_ranker_from_dict(data: dict[str, Any], build: Callable[[], Any]) -> Any:
    """An answerer's ranker: a new instance, left for the ranker component of the same configuration."""
    built = build()
    with _LOCK:
        _LEFT_BY_ANSWERERS[_key(data)] = built
    return built
