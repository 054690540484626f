"""Read BEIR-format data: corpus.jsonl, queries.jsonl, qrels/<split>.tsv; and folders of .txt/.md files."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from haystack import Document

from haystack_rerank import atomic
from haystack_rerank.errors import ConfigurationError

logger = logging.getLogger(__name__)


ON_BAD_LINE = ("error", "skip")


def _bad_line_policy(on_bad_line: str, skip_malformed: bool) -> str:
    policy = "skip" if skip_malformed else on_bad_line
    if policy not in ON_BAD_LINE:
        msg = f"on_bad_line got {on_bad_line!r}; use 'error' (stop at the first bad line) or 'skip' (count it, go on)."
        raise ConfigurationError(msg)
    return policy


def _jsonl_records(
    path: Path, *, on_bad_line: str, required: tuple[str, ...], skipped_lines: list[int] | None
) -> Iterator[dict]:
    """The JSON objects of `path`, one a line (blank lines ignored); a bad line stops or is skipped and counted."""
    skipped: list[int] = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8-sig")  # -sig: a byte-order mark is not part of the JSON
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                missing = [key for key in required if key not in record]
                empty = [key for key in required if key in record and not str(record[key]).strip()]
                if missing or empty:
                    raise ValueError(f"missing key(s) {missing}" if missing else f"empty {empty}")
            except ValueError as err:  # includes UnicodeDecodeError and json.JSONDecodeError
                msg = f"{path}:{number}: malformed line ({err})."
                if on_bad_line == "skip":
                    logger.warning("%s Skipped.", msg)
                    skipped.append(number)
                    continue
                fix = "Fix the line, or pass --on-bad-line skip (alias --skip-malformed) to skip and count it."
                raise ConfigurationError(f"{msg} {fix}") from err
            yield record
    if skipped:
        logger.warning("%s: skipped %d malformed line(s), first ones: %s", path, len(skipped), skipped[:20])
    if skipped_lines is not None:
        skipped_lines.extend(skipped)


def load_corpus(
    path: str | Path,
    *,
    on_bad_line: str = "error",
    skipped_lines: list[int] | None = None,
    skip_malformed: bool = False,
) -> list[Document]:
    """
    Documents from a BEIR `corpus.jsonl` (`_id` becomes the document id, `title` goes to `meta["title"]`)
    or from a folder of `.txt`/`.md` files (the relative path is the id, the first line the title).

    :param on_bad_line: "error" (default): a line that is not a JSON object with an `_id` raises
        `ConfigurationError` naming the file and line number. "skip": the line is logged and skipped.
    :param skipped_lines: When given, the numbers of the skipped lines are appended to it.
    :param skip_malformed: Same as `on_bad_line="skip"` (the older spelling).
    """
    on_bad_line = _bad_line_policy(on_bad_line, skip_malformed)
    path = Path(path)
    if path.is_dir():
        return _load_text_folder(path)
    if not path.is_file():
        msg = f"corpus: {path} does not exist. Pass a BEIR corpus.jsonl or a folder of .txt/.md files."
        raise ConfigurationError(msg)
    documents = []
    for record in _jsonl_records(path, on_bad_line=on_bad_line, required=("_id",), skipped_lines=skipped_lines):
        meta = {"title": record["title"]} if record.get("title") else {}
        documents.append(Document(id=str(record["_id"]), content=record.get("text") or "", meta=meta))
    return documents


def _load_text_folder(folder: Path) -> list[Document]:
    documents = []
    for file in sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".txt", ".md"} and p.is_file()):
        text = file.read_text(encoding="utf-8")
        first_line = text.strip().splitlines()[0] if text.strip() else file.stem
        title = first_line.lstrip("# ").strip() or file.stem
        documents.append(Document(id=file.relative_to(folder).as_posix(), content=text, meta={"title": title}))
    if not documents:
        msg = f"corpus: the folder {folder} holds no .txt or .md file."
        raise ConfigurationError(msg)
    return documents


def load_queries(
    path: str | Path,
    *,
    on_bad_line: str = "error",
    skipped_lines: list[int] | None = None,
    skip_malformed: bool = False,
) -> dict[str, str]:
    """`query id -> text` from a BEIR queries.jsonl, in file order; a line without `_id` or `text`, or with an
    empty one, is a bad line (see `load_corpus` for `on_bad_line` and `skipped_lines`)."""
    on_bad_line = _bad_line_policy(on_bad_line, skip_malformed)
    path = Path(path)
    if not path.is_file():
        msg = f"queries: {path} does not exist. Pass a BEIR queries.jsonl (one {{'_id', 'text'}} per line)."
        raise ConfigurationError(msg)
    records = _jsonl_records(path, on_bad_line=on_bad_line, required=("_id", "text"), skipped_lines=skipped_lines)
    return {str(record["_id"]): record["text"] for record in records}


def load_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """`query id -> {document id: relevance}` from a BEIR qrels TSV with a header line."""
    path = Path(path)
    if not path.is_file():
        msg = f"qrels: {path} does not exist. Expected qrels/<split>.tsv in the dataset folder."
        raise ConfigurationError(msg)
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as rows:
        reader = csv.reader(rows, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def write_trec_run(path: str | Path, run: dict[str, list[tuple[str, float]]], tag: str) -> None:
    """Write `query id -> [(doc id, score), ...]` (best first) as a TREC run: `qid Q0 docid rank score tag`."""
    with atomic.atomic_open(path) as out:
        for qid, ranked in run.items():
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                out.write(f"{qid} Q0 {doc_id} {rank} {score:.6f} {tag}\n")


def read_trec_run(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a TREC run file into `query id -> {doc id: score}`."""
    run: dict[str, dict[str, float]] = {}
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            parts = line.split()
            if len(parts) >= 6:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run
