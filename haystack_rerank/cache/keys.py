"""
Cache keys for cross-encoder scores.

A cached score is only valid for the exact computation that produced it, so the key covers everything
that can change the number the model returns:

* **scoring scope** (fixed per loaded model, see :class:`ScoringScope`):
  - ``model``: the name or path the user configured (portable; not the resolved local folder),
  - ``fingerprint``: a digest of the weights actually loaded (see :func:`fingerprint_model_folder`):
    the model's ``config.json`` plus, for every weight file, its name, size and a blake2b hash of its
    first and last MiB. Replacing or fine-tuning the weights in place therefore changes the key,
  - ``max_length``: the effective truncation length (the model's own limit when none is configured),
  - ``backend`` (torch / onnx / openvino) and ``precision`` (float32 / bfloat16), so scores from
    different numerics never mix.
* **the pair**:
  - the exact query text,
  - the document id,
  - a blake2b hash of the exact text the model reads (content plus embedded meta fields, joined with
    the separator), so an edited document never gets a stale score.

All parts are length-prefixed and hashed with blake2b (32 bytes) into a 64-character hex key; the query
and document text never appear in the cache in clear text. The stored value is the model's *raw*
logit (before the sigmoid), so ``scale_score`` and ``alpha`` can change without invalidating entries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KEY_VERSION = "hrr-ce-v1"

# Files that hold weights for the three sentence-transformers backends.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".xml", ".pt", ".pth")
_CHUNK = 1 << 20  # 1 MiB from each end of every weight file: cheap, and catches any re-save


def _length_prefixed(*parts: str) -> bytes:
    # Length prefixes make ("ab", "c") and ("a", "bc") hash differently.
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(8, "big") + raw
    return bytes(out)


def text_digest(text: str) -> str:
    """Return the blake2b hex digest of the exact text the model reads for a document."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=32).hexdigest()


def _hash_file_ends(path: Path, hasher: Any) -> None:
    size = path.stat().st_size
    with path.open("rb") as handle:
        hasher.update(handle.read(_CHUNK))
        if size > 2 * _CHUNK:
            handle.seek(size - _CHUNK)
            hasher.update(handle.read(_CHUNK))
        elif size > _CHUNK:
            hasher.update(handle.read())


def fingerprint_model_folder(folder: str | Path) -> str | None:
    """
    Fingerprint the weights in a model folder, or return None when `folder` is not a directory.

    The digest covers ``config.json`` and, for each weight file (searched recursively, so ONNX and
    OpenVINO sub-folders count), its relative path, size and the blake2b hash of its first and last MiB.
    """
    root = Path(folder)
    if not root.is_dir():
        return None
    hasher = hashlib.blake2b(digest_size=16)
    config = root / "config.json"
    if config.is_file():
        hasher.update(config.read_bytes())
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES):
        relative = path.relative_to(root).as_posix()
        hasher.update(_length_prefixed(relative, str(path.stat().st_size)))
        _hash_file_ends(path, hasher)
    return hasher.hexdigest()


@dataclass(frozen=True)
class ScoringScope:
    """Everything about the loaded model that decides which score a (query, text) pair gets."""

    model: str
    fingerprint: str
    max_length: int | None
    backend: str
    precision: str

    def digest(self) -> str:
        """Return a stable digest of the scope, computed once per loaded model."""
        payload = json.dumps({"v": KEY_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()


def make_cache_key(scope_digest: str, query: str, document_id: str, text: str) -> str:
    """Return the cache key for one (query, document) pair under a scoring scope (see module docstring)."""
    payload = _length_prefixed(KEY_VERSION, scope_digest, query, document_id, text_digest(text))
    return hashlib.blake2b(payload, digest_size=32).hexdigest()
