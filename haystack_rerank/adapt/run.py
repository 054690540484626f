"""
`adapt`: pseudo-queries -> hybrid candidates -> teacher soft labels -> students -> re-index -> before/after.

Each phase leaves its result in the output folder and is skipped when it is already there, so an interrupted
run resumes where it stopped (training resumes from its last checkpoint; teacher scores come from the disk
cache). Files are written to a temporary name and renamed, so nothing is half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from haystack_rerank import atomic
from haystack_rerank.adapt import pseudo_queries, students, teacher
from haystack_rerank.adapt.config import MIN_DOCUMENTS, AdaptConfig
from haystack_rerank.adapt.interpolation import interpolate_bi_encoder
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.extras import require

logger = logging.getLogger(__name__)

CROSS_ENCODER_DIR = "cross-encoder"
BI_ENCODER_DIR = "bi-encoder"
TRAINING_LOG = "adapt_log.json"


def _write_json(path: Path, data: Any) -> None:
    atomic.write_text(path, json.dumps(data, indent=1) + "\n")


def _cached(path: Path, make: Callable[[], Any]) -> Any:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    data = make()
    _write_json(path, data)
    return data


def load_corpus(path: str, *, minimum: int = MIN_DOCUMENTS, command: str = "adapt") -> dict[str, tuple[str, str]]:
    from haystack_rerank import beir
    from haystack_rerank.indexing import deduplicate

    corpus_file = Path(path)
    if corpus_file.is_dir() and (corpus_file / "corpus.jsonl").is_file():
        corpus_file = corpus_file / "corpus.jsonl"
    documents, _, _ = deduplicate(beir.load_corpus(corpus_file))
    if not documents:
        raise ConfigurationError(f"{command}: the corpus {path} holds no document with text; nothing to work on.")
    if len(documents) < minimum:
        msg = (
            f"{command}: the corpus {path} holds {len(documents)} documents; {command} needs at least {minimum} "
            "(a held-out slice and enough distinct queries). Index it and use the shipped models as they are."
        )
        raise ConfigurationError(msg)
    return {doc.id: ((doc.meta or {}).get("title", "") or "", doc.content or "") for doc in documents}


def labelled_queries(config: AdaptConfig, corpus: dict[str, tuple[str, str]]) -> list[teacher.TrainingQuery]:
    if not config.labelled_dataset:
        return []
    from haystack_rerank.finetune.data import load_split

    folder = Path(config.labelled_dataset)
    qrels = folder / "qrels" / f"{config.labelled_split}.tsv"
    if not qrels.is_file():
        msg = (
            f"adapt: labels were asked for (labelled_dataset={str(folder)!r}) but {qrels} does not exist. "
            f"Pass a BEIR folder with qrels/{config.labelled_split}.tsv, or drop the labels."
        )
        raise ConfigurationError(msg)
    split = load_split(folder, config.labelled_split, corpus=corpus)
    if config.eval_dataset and Path(config.eval_dataset) == folder and config.eval_split == config.labelled_split:
        msg = f"adapt: eval_split={config.eval_split!r} is the labelled training split; report on a held-out split."
        raise ConfigurationError(msg)
    return [
        teacher.TrainingQuery(id=f"{config.labelled_split}:{qid}", text=split.queries[qid], positives=docs)
        for qid, docs in sorted(split.positives.items())
    ]


def adapt(config: AdaptConfig, stores: Any) -> dict[str, Any]:
    """
    Run every phase; `stores` builds retrievers and indexes (see `haystack_rerank.adapt.stores.AdaptStores`).
    Returns the summary also written to `<output_dir>/adapt_log.json`.
    """
    require("train", "haystack-rerank adapt")  # students train with datasets/accelerate, keywords use scikit-learn
    started = time.perf_counter()
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    out = Path(config.output_dir)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(config.corpus)
    labelled = labelled_queries(config, corpus)
    students.check_model_kind(config.teacher_model, "cross-encoder")
    if "bi-encoder" in config.students:
        students.check_model_kind(config.embedding_model, "bi-encoder")

    made = _cached(
        work / "pseudo_queries.json",
        lambda: [
            q.to_dict()
            for q in pseudo_queries.generate(
                corpus,
                count=config.pseudo_queries,
                strategies=config.strategies,
                held_out_fraction=config.held_out_fraction,
                seed=config.seed,
            )
        ],
    )
    pseudo = [pseudo_queries.PseudoQuery(**item) for item in made]
    training = [
        teacher.TrainingQuery(q.id, q.text, [q.source], q.hide_title, q.removed_sentence)
        for q in pseudo
        if not q.held_out
    ] + labelled

    stores.ensure_indexed(corpus)

    def score() -> list[dict[str, Any]]:
        # the teacher is loaded only when its lists are not cached, and freed before the students train
        retriever = stores.retriever(config.embedding_model, stores.collection)
        ranker = stores.ranker(config.teacher_model, alpha=config.teacher_alpha, disk_cache=work / "teacher-cache")
        scored = teacher.score_candidates(
            training, corpus, retriever=retriever, ranker=ranker, depth=config.depth, progress_bar=config.progress_bar
        )
        return [s.to_dict() for s in scored]

    scored = [teacher.ScoredList.from_dict(item) for item in _cached(work / "teacher_lists.json", score)]
    lists, filtered = teacher.training_lists(
        scored, margin=config.margin, max_positive_rank=config.max_positive_rank, list_size=config.list_size
    )
    summary: dict[str, Any] = {
        "config": config.as_dict(),
        "corpus_documents": len(corpus),
        "pseudo_queries": {
            "made": len(pseudo),
            "held_out": sum(q.held_out for q in pseudo),
            "by_strategy": {s: sum(q.strategy == s for q in pseudo) for s in config.strategies},
        },
        "labelled_queries": len(labelled),
        "teacher_pairs": sum(len(s.candidates) for s in scored),
        "filters": asdict(filtered),
        "students": {},
    }

    if "cross-encoder" in config.students:
        summary["students"]["cross-encoder"] = _train_cross_encoder(config, lists, out, labelled)
    if "bi-encoder" in config.students:
        summary["students"]["bi-encoder"] = _train_bi_encoder(config, lists, out)
        collection = stores.reindex(corpus, str(out / BI_ENCODER_DIR))
        summary["students"]["bi-encoder"]["collection"] = collection

    from haystack_rerank.adapt import report

    summary["evaluation"], chosen = report.evaluate(config, stores, pseudo, corpus, out)
    summary["selection"] = _selection(config, summary, chosen, stores)
    summary["minutes"] = round((time.perf_counter() - started) / 60, 1)
    _write_json(out / TRAINING_LOG, summary)
    from haystack_rerank.adapt import outputs

    outputs.write_all(config, summary, out, stores)
    return summary


def _selection(config: AdaptConfig, summary: dict[str, Any], chosen: dict[str, Any], stores: Any) -> dict[str, Any]:
    """The models, collection and dense weight the written pipeline uses (see `haystack_rerank.adapt.selection`)."""
    from haystack_rerank.adapt import selection

    trained = summary["students"]
    stage = chosen.get("first_stage", {}).get("chosen", selection.HYBRID)
    reranker = chosen.get("reranker", {}).get("chosen", "teacher")
    student_first_stage = stage != selection.HYBRID
    return {
        **chosen,
        "embedding_model": trained["bi-encoder"]["folder"] if student_first_stage else config.embedding_model,
        "collection": trained["bi-encoder"]["collection"] if student_first_stage else stores.collection,
        "dense_weight": selection.stage_weight(stage) if student_first_stage else 1.0,
        "reranker_model": (
            trained["cross-encoder"]["folder"] if reranker.startswith("student") else config.teacher_model
        ),
    }


def _train_cross_encoder(
    config: AdaptConfig, lists: list[dict[str, Any]], out: Path, labelled: list[teacher.TrainingQuery]
) -> dict[str, Any]:
    def make() -> tuple[Any, list[dict[str, Any]], Any]:
        from sentence_transformers.cross_encoder.losses import ListNetLoss

        model = students.load_cross_encoder(
            config.teacher_model, max_length=config.max_length, layers=config.student_layers
        )
        return model, students.cross_encoder_rows(lists, config.temperature), ListNetLoss(model)

    def record_queries(folder: Path) -> None:
        # the evaluation refuses to score a model on the queries it was trained on (see evaluation/dataset.py)
        trained_on = sorted(q.id.split(":", 1)[1] for q in labelled)
        _write_json(
            folder / "training_queries.json",
            {"dataset": config.labelled_dataset, "split": config.labelled_split, "query_ids": trained_on},
        )

    return _train_student(
        config,
        out,
        "cross-encoder",
        CROSS_ENCODER_DIR,
        make,
        steps=config.cross_encoder_steps,
        batch_size=config.cross_encoder_batch_size,
        learning_rate=config.cross_encoder_lr,
        on_trained=record_queries,
    )


def _train_bi_encoder(config: AdaptConfig, lists: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    def make() -> tuple[Any, list[dict[str, Any]], Any]:
        model = students.load_bi_encoder(config.embedding_model, max_seq_length=min(256, config.max_length))
        loss = students.teacher_kl_loss(
            model,
            student_temperature=config.bi_encoder_temperature,
            teacher_temperature=config.temperature,
            in_batch_weight=config.bi_encoder_in_batch_weight,
        )
        return model, students.bi_encoder_rows(lists, config.bi_encoder_ways, config.seed), loss

    return _train_student(
        config,
        out,
        "bi-encoder",
        BI_ENCODER_DIR,
        make,
        steps=config.bi_encoder_steps,
        batch_size=config.bi_encoder_batch_size,
        learning_rate=config.bi_encoder_learning_rate,
        on_trained=lambda folder: interpolate_bi_encoder(
            config.embedding_model, folder, config.bi_encoder_interpolation
        ),
    )


def _train_student(  # noqa: PLR0913 - one student's knobs
    config: AdaptConfig,
    out: Path,
    kind: str,
    folder_name: str,
    make: Callable[[], tuple[Any, list[dict[str, Any]], Any]],
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    on_trained: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """
    Train a student from `make()` (model, rows, loss) into `out / folder_name` and log the run there; a student
    whose log an earlier run wrote is not trained again (its log is returned).
    """
    folder = out / folder_name
    log = folder / TRAINING_LOG
    if log.is_file():
        return json.loads(log.read_text(encoding="utf-8"))
    model, rows, loss = make()
    run = students.train(
        kind,
        model,
        rows,
        loss,
        work_dir=out / "work" / folder_name,
        output_dir=folder,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=config.seed,
        progress_bar=config.progress_bar,
    )
    if on_trained is not None:
        on_trained(folder)
    result = {**asdict(run), "learning_rate": learning_rate, "folder": str(folder), "weights": fingerprint(folder)}
    _write_json(log, result)
    return result


def fingerprint(folder: Path) -> str:
    """A short hash of a model folder's weights: names the collection its vectors go to."""
    digest = hashlib.sha256()
    for weights in sorted(folder.glob("**/*.safetensors")) or sorted(folder.glob("**/*.bin")):
        digest.update(weights.read_bytes())
    return digest.hexdigest()[:10]


def held_out_queries(pseudo: list[pseudo_queries.PseudoQuery]) -> list[pseudo_queries.PseudoQuery]:
    """Held-out pseudo-queries that do not copy a span of their source (keywords, questions): a fair measure."""
    return [replace(q) for q in pseudo if q.held_out and q.strategy in ("keywords", "question")]
