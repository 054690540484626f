"""
Score caches for `CrossEncoderRanker`: one small interface (`RerankCache`), three backends.

* `MemoryRerankCache`: in-process LRU, fastest, lost on restart.
* `DiskRerankCache`: SQLite on local disk, survives restarts, shared between processes on one host.
* `RedisRerankCache`: shared between hosts, entries expire after a TTL.

A failing cache never fails a query (see `RerankCache.safe_get_many`).
The key layout is documented in `haystack_rerank.cache.keys`.
"""

from haystack_rerank.cache.base import RerankCache
from haystack_rerank.cache.disk import DiskRerankCache
from haystack_rerank.cache.keys import ScoringScope, fingerprint_model_folder, make_cache_key, text_digest
from haystack_rerank.cache.memory import MemoryRerankCache
from haystack_rerank.cache.redis import RedisRerankCache

__all__ = [
    "DiskRerankCache",
    "MemoryRerankCache",
    "RedisRerankCache",
    "RerankCache",
    "ScoringScope",
    "fingerprint_model_folder",
    "make_cache_key",
    "text_digest",
]
