"""Read BEIR-format data: corpus.jsonl, queries.jsonl, qrels/<split>.tsv; and folders of .txt/.md files."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from haystack import Document

from haystack_rerank.errors import ConfigurationError

logger = logging.getLogger(__name__)


def _jsonl_records(path: Path, *, skip_malformed: bool, required: tuple[str, ...]) -> Iterator[dict]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                missing = [key for key in required if key not in record]
                if missing:
                    raise ValueError(f"missing key(s) {missing}")
            except ValueError as err:
                msg = f"{path}:{number}: malformed line ({err})."
                if skip_malformed:
                    logger.warning("%s Skipped.", msg)
                    continue
                raise ConfigurationError(f"{msg} Fix the line, or pass --skip-malformed to skip it.") from err
            yield record


def load_corpus(path: str | Path, *, skip_malformed: bool = False) -> list[Document]:
    """
    Documents from a BEIR `corpus.jsonl` (`_id` becomes the document id, `title` goes to `meta["title"]`)
    or from a folder of `.txt`/`.md` files (the relative path is the id, the first line the title).
    """
    path = Path(path)
    if path.is_dir():
        return _load_text_folder(path)
    if not path.is_file():
        msg = f"corpus: {path} does not exist. Pass a BEIR corpus.jsonl or a folder of .txt/.md files."
        raise ConfigurationError(msg)
    documents = []
    for record in _jsonl_records(path, skip_malformed=skip_malformed, required=("_id",)):
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


def load_queries(path: str | Path, *, skip_malformed: bool = False) -> dict[str, str]:
    """`query id -> text` from a BEIR queries.jsonl, in file order."""
    path = Path(path)
    if not path.is_file():
        msg = f"queries: {path} does not exist. Pass a BEIR queries.jsonl (one {{'_id', 'text'}} per line)."
        raise ConfigurationError(msg)
    records = _jsonl_records(path, skip_malformed=skip_malformed, required=("_id", "text"))
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
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
