"""
Rules every document must meet before anything is written, so both stores accept it or neither sees it:
OpenSearch's (id at most 512 bytes, one type per field, our `text` mapping of `title`), Qdrant's (JSON payload)
and TREC's (ids are whitespace-separated columns: no whitespace or control character in an id).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from haystack import Document

from haystack_rerank.errors import ConfigurationError

MAX_ID_BYTES = 512  # OpenSearch refuses a longer _id
# Document fields: meta keys with these names would collide with them in OpenSearch, which flattens meta
RESERVED_META_KEYS = frozenset({"id", "content", "embedding", "sparse_embedding", "score", "blob", "_routing"})
SCALARS = (str, bool, int, float)
# OpenSearch field types and the Python values each accepts
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "keyword": (str,),
    "long": (int,),
    "integer": (int,),
    "short": (int,),
    "byte": (int,),
    "double": (int, float),
    "float": (int, float),
    "half_float": (int, float),
    "boolean": (bool,),
}


def _breaks_trec(value: str) -> bool:
    return any(c.isspace() or unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)


def id_problem(value: Any, what: str = "_id") -> str | None:
    """Why `value` cannot be a document or query id, or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"{what} must be a string (or an integer), got {json_type(value)} {value!r}"
    text = str(value)
    if not text.strip():
        return f"{what} is empty"
    if _breaks_trec(text):
        return (
            f"{what} {text!r} holds whitespace or a control character, which would split a TREC run line "
            "(qid Q0 docid rank score tag) into the wrong columns; use e.g. '_' or '%20' instead"
        )
    size = len(text.encode("utf-8"))
    if size > MAX_ID_BYTES:
        return f"{what} is {size} bytes long; OpenSearch ids are at most {MAX_ID_BYTES} bytes"
    return None


def text_problem(value: Any, what: str, *, required: bool = False) -> str | None:
    """Why `value` cannot be a text field (`text`, `title`), or None. Absent and null are allowed unless required."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        return f"{what} must be a string, got {json_type(value)} {_short(value)}"
    if required and not value.strip():
        return f"{what} is empty"
    return None


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."  # noqa: PLR2004


def trec_safe_id(text: str) -> str:
    """`text` with `%`, whitespace and control characters percent-encoded (`my notes.md` -> `my%20notes.md`)."""
    out = []
    for character in text:
        if character == "%" or _breaks_trec(character):
            out.append("".join(f"%{byte:02X}" for byte in character.encode("utf-8")))
        else:
            out.append(character)
    return "".join(out)


def _meta_problem(key: Any, value: Any) -> str | None:
    if not isinstance(key, str) or key in RESERVED_META_KEYS or key.startswith("_"):
        return f"meta key {key!r} is reserved or not a string (OpenSearch stores meta beside the document's fields)"
    if key == "title":
        return text_problem(value, "meta['title']")
    values = value if isinstance(value, list) else [value]
    if any(v is not None and (isinstance(v, (dict, list)) or not isinstance(v, SCALARS)) for v in values):
        return (
            f"meta[{key!r}] is {json_type(value)} {_short(value)}: only strings, numbers, booleans and lists of "
            "them are indexed alike by both stores; flatten it into separate keys"
        )
    return None


def _kind(value: Any) -> str | None:
    """The OpenSearch family of a value: one per field across the corpus."""
    if isinstance(value, list):
        kinds = {_kind(v) for v in value} - {None}
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else None)
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def document_problem(document: Any) -> str | None:
    """Why one document cannot be written to both stores, or None."""
    if not isinstance(document, Document):
        return f"expected a haystack Document, got {type(document).__name__}"
    problem = id_problem(document.id, "id")
    if problem is None:
        problem = text_problem(document.content, "content")
    if problem is None and document.meta is not None and not isinstance(document.meta, dict):
        problem = f"meta must be a dict, got {json_type(document.meta)}"
    for key, value in (document.meta or {}).items():
        problem = problem or _meta_problem(key, value)
    return problem


def check_documents(documents: Sequence[Any], mapping: dict[str, str] | None = None) -> None:
    """
    Refuse the whole batch, before anything is written, if one document breaks a rule of either store: each
    document alone, one type per meta field across the batch, and the types of the existing OpenSearch mapping.
    """
    problems: list[str] = []
    field_kinds: dict[str, tuple[str, str]] = {}  # field -> (kind, id of the first document that set it)
    for position, document in enumerate(documents):
        problem = document_problem(document)
        if problem is None:
            problem = _type_problem(document, field_kinds, mapping or {})
        if problem:
            doc_id = getattr(document, "id", None)
            problems.append(f"document #{position} (id {_short(doc_id)}): {problem}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""  # noqa: PLR2004
        msg = (
            f"{len(problems)} of {len(documents)} documents cannot be written to both stores, so none was written: "
            f"{'; '.join(problems[:3])}{more}. Fix or drop them (the `index` command: --on-bad-line skip)."
        )
        raise ConfigurationError(msg)


def _type_problem(document: Document, field_kinds: dict[str, tuple[str, str]], mapping: dict[str, str]) -> str | None:
    for key, value in (document.meta or {}).items():
        kind = _kind(value)
        if kind is None:
            continue
        if kind == "mixed":
            return f"meta[{key!r}] mixes types in one list"
        mapped = mapping.get(key)
        scalars = value if isinstance(value, list) else [value]
        if mapped in _ACCEPTS and not all(isinstance(v, _ACCEPTS[mapped]) and not (
            isinstance(v, bool) and mapped != "boolean"
        ) for v in scalars if v is not None):  # fmt: skip
            return f"meta[{key!r}] is {json_type(value)} {_short(value)}, but the OpenSearch index maps it as {mapped}"
        first = field_kinds.setdefault(key, (kind, document.id))
        if first[0] != kind:
            return (
                f"meta[{key!r}] is a {kind} here but a {first[0]} in document {first[1]!r}; "
                "OpenSearch maps a field with one type"
            )
    return None
