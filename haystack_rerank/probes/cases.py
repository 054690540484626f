"""The contrastive cases of the behaviour probes: shipped as versioned JSONL package data, or a user's own file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from haystack_rerank.errors import ConfigurationError

PROBES_VERSION = "v1"
DATA_DIR = Path(__file__).resolve().parent / "data"
CATEGORIES = ("attribute_binding", "negation", "direction", "role_binding", "numbers_units")
CATEGORY_TITLES = {
    "attribute_binding": "attribute binding",
    "negation": "negation",
    "direction": "direction / word order",
    "role_binding": "role / entity binding",
    "numbers_units": "numbers and units",
}
SEED_CASE_ID = "attr-001"  # "small fast car": the car is small and fast vs the car is small, the delivery fast
_FIELDS = ("id", "category", "query", "answer", "distractor")


@dataclass(frozen=True)
class ProbeCase:
    """A query, a document that answers it, and a distractor with (nearly) the same words that does not."""

    id: str
    category: str
    query: str
    answer: str
    distractor: str


def shipped_cases_file(version: str = PROBES_VERSION) -> Path:
    """The JSONL file of the shipped cases of `version`."""
    path = DATA_DIR / f"probes-{version}.jsonl"
    if not path.is_file():
        shipped = sorted(p.stem.removeprefix("probes-") for p in DATA_DIR.glob("probes-*.jsonl"))
        msg = f"probes version got {version!r}; the package ships {', '.join(shipped)}."
        raise ConfigurationError(msg)
    return path


def load_cases(path: str | Path | None = None, categories: tuple[str, ...] | None = None) -> list[ProbeCase]:
    """
    Read probe cases from a JSONL file (default: the shipped ones), one object per line with the fields
    id, category, query, answer, distractor; `categories` keeps only those.

    :raises ConfigurationError: a line is not a JSON object, a field is missing or empty, an id repeats, or the
        answer equals the distractor; the message names the file and line.
    """
    path = Path(path) if path is not None else shipped_cases_file()
    cases: list[ProbeCase] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigurationError(f"probe cases {where}: not valid JSON ({err.msg}).") from err
        if not isinstance(record, dict):
            raise ConfigurationError(f"probe cases {where}: got {type(record).__name__}; each line is one object.")
        for field in _FIELDS:
            if not isinstance(record.get(field), str) or not record[field].strip():
                msg = f"probe cases {where}: field {field!r} got {record.get(field)!r}; it must be a non-empty string."
                raise ConfigurationError(msg)
        if record["id"] in seen:
            raise ConfigurationError(f"probe cases {where}: id {record['id']!r} repeats; give every case its own id.")
        if record["answer"] == record["distractor"]:
            raise ConfigurationError(f"probe cases {where}: answer and distractor are the same text.")
        seen.add(record["id"])
        cases.append(ProbeCase(**{field: record[field] for field in _FIELDS}))
    if categories:
        unknown = sorted(set(categories) - {case.category for case in cases})
        if unknown:
            msg = f"probe categories got {unknown!r}; the cases have {sorted({c.category for c in cases})}."
            raise ConfigurationError(msg)
        cases = [case for case in cases if case.category in categories]
    if not cases:
        raise ConfigurationError(f"probe cases {path}: no case to run.")
    return cases
