"""Read BEIR-format data: corpus.jsonl, queries.jsonl, qrels/<split>.tsv; and folders of .txt/.md files."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from haystack import Document

from haystack_rerank import atomic
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.validation import id_problem, text_problem, trec_safe_id

logger = logging.getLogger(__name__)


ON_BAD_LINE = ("error", "skip")


def _bad_line_policy(on_bad_line: str, skip_malformed: bool) -> str:
    policy = "skip" if skip_malformed else on_bad_line
    if policy not in ON_BAD_LINE:
        msg = f"on_bad_line got {on_bad_line!r}; use 'error' (stop at the first bad line) or 'skip' (count it, go on)."
        raise ConfigurationError(msg)
    return policy


def _jsonl_records(
    path: Path,
    *,
    on_bad_line: str,
    required: tuple[str, ...],
    skipped_lines: list[int] | None,
    check: Callable[[dict, int], str | None] | None = None,
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
                problem = check(record, number) if check else None
                if problem:
                    raise ValueError(problem)
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
        return _load_text_folder(path, on_bad_line, skipped_lines)
    if not path.is_file():
        msg = f"corpus: {path} does not exist. Pass a BEIR corpus.jsonl or a folder of .txt/.md files."
        raise ConfigurationError(msg)
    documents = []
    records = _jsonl_records(
        path, on_bad_line=on_bad_line, required=("_id",), skipped_lines=skipped_lines, check=_corpus_problem
    )
    for record in records:
        meta = {"title": record["title"]} if record.get("title") else {}
        documents.append(Document(id=str(record["_id"]), content=record.get("text") or "", meta=meta))
    return documents


def _corpus_problem(record: dict, _number: int) -> str | None:
    return (
        id_problem(record["_id"])
        or text_problem(record.get("title"), "title")
        or text_problem(record.get("text"), "text")
    )


def _load_text_folder(folder: Path, on_bad_line: str, skipped: list | None) -> list[Document]:
    """One document per .txt/.md file; the id is its relative path, with whitespace and % percent-encoded
    (`my notes.md` -> `my%20notes.md`) so that TREC run lines keep their columns."""
    documents = []
    for file in sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".txt", ".md"} and p.is_file()):
        doc_id = trec_safe_id(file.relative_to(folder).as_posix())
        try:
            text = file.read_text(encoding="utf-8")
            problem = id_problem(doc_id, "the file's path (its id)")
            if problem:
                raise ValueError(problem)
        except ValueError as err:  # includes UnicodeDecodeError
            reason = f"not UTF-8 text ({err})" if isinstance(err, UnicodeDecodeError) else str(err)
            msg = f"{file}: {reason}."
            if on_bad_line == "skip":
                logger.warning("%s Skipped.", msg)
                if skipped is not None:
                    skipped.append(str(file))
                continue
            raise ConfigurationError(f"{msg} Convert or remove the file, or pass --on-bad-line skip.") from err
        first_line = text.strip().splitlines()[0] if text.strip() else file.stem
        title = first_line.lstrip("# ").strip() or file.stem
        documents.append(Document(id=doc_id, content=text, meta={"title": title}))
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
    first_line: dict[str, int] = {}

    def problem(record: dict, number: int) -> str | None:
        found = id_problem(record["_id"]) or text_problem(record["text"], "text", required=True)
        if found is None and first_line.setdefault(str(record["_id"]), number) != number:
            found = f"query id {record['_id']!r} repeats the one of line {first_line[str(record['_id'])]}"
        return found

    records = _jsonl_records(
        path, on_bad_line=on_bad_line, required=("_id", "text"), skipped_lines=skipped_lines, check=problem
    )
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
        for number, row in enumerate(reader, start=2):
            if len(row) >= 3:
                problem = id_problem(row[0], "query-id") or id_problem(row[1], "corpus-id")
                if problem:
                    msg = (
                        f"{path}:{number}: {problem}. Runs cannot hold such ids; a folder corpus encodes whitespace "
                        f"in its file names as %20 (e.g. {trec_safe_id(row[1])!r})."
                    )
                    raise ConfigurationError(msg)
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


@dataclass
class Split:
    """One split of a BEIR folder: its judged queries, their qrels, and the corpus file (read when needed)."""

    corpus_path: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str


def load_split(dataset: str | Path, split: str) -> Split:
    """
    `corpus.jsonl`, `queries_<split>.jsonl` (else `queries.jsonl`) and `qrels/<split>.tsv` of a BEIR folder: the
    queries that have judgements in the split, and those judgements. Evaluation and fine-tuning both read it.
    """
    dataset = Path(dataset)
    corpus = dataset / "corpus.jsonl"
    if not corpus.is_file():
        msg = f"dataset: {dataset} has no corpus.jsonl. Pass a BEIR-format folder (corpus.jsonl, queries, qrels/)."
        raise ConfigurationError(msg)
    qrels = load_qrels(dataset / "qrels" / f"{split}.tsv")
    for name in (f"queries_{split}.jsonl", "queries.jsonl"):
        if (dataset / name).is_file():
            all_queries = load_queries(dataset / name)
            break
    else:
        msg = f"dataset: {dataset} has neither queries_{split}.jsonl nor queries.jsonl."
        raise ConfigurationError(msg)
    queries = {qid: text for qid, text in all_queries.items() if qid in qrels}
    if not queries:
        msg = f"dataset: no query of {dataset} has judgements in qrels/{split}.tsv; check the split name."
        raise ConfigurationError(msg)
    return Split(corpus_path=corpus, queries=queries, qrels={qid: qrels[qid] for qid in queries}, name=split)


def write_trec_run(path: str | Path, run: dict[str, list[tuple[str, float]]], tag: str) -> None:
    """Write `query id -> [(doc id, score), ...]` (best first) as a TREC run: `qid Q0 docid rank score tag`."""
    for qid, ranked in run.items():
        for doc_id in [qid, *(doc_id for doc_id, _ in ranked)]:
            problem = id_problem(doc_id, "id")
            if problem:
                msg = f"Cannot write the TREC run {path}: {problem}. Re-index with ids that meet the rule."
                raise ConfigurationError(msg)
    with atomic.atomic_open(path) as out:
        for qid, ranked in run.items():
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                out.write(f"{qid} Q0 {doc_id} {rank} {score:.6f} {tag}\n")


def read_trec_run(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a TREC run file into `query id -> {doc id: score}`; a line without exactly six columns is refused."""
    run: dict[str, dict[str, float]] = {}
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) != 6:  # noqa: PLR2004 - qid Q0 docid rank score tag
                    raise ValueError(f"{len(parts)} columns instead of 6 (qid Q0 docid rank score tag)")
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
            except ValueError as err:
                msg = f"{path}:{number}: malformed TREC run line ({err}). An id with whitespace splits a line: "
                raise ConfigurationError(
                    msg + "re-run with ids that hold none (folder corpora encode it as %20)."
                ) from err
    return run
