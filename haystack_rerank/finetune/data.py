"""Training data for cross-encoder fine-tuning: hard negatives from a first-stage run, pairs, eval samples."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from haystack import Document

from haystack_rerank import beir
from haystack_rerank.components.rankers._scoring import document_text as ranker_document_text
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.extras import require

DOCUMENT_SEPARATOR = "\n"  # CrossEncoderRanker's default embedding_separator: title, separator, abstract


@dataclass
class SplitData:
    """One BEIR split: the corpus (id -> (title, text)), the split's queries and their judgements."""

    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    split: str
    dataset_dir: Path
    positives: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positives = {
            qid: [doc for doc, rel in docs.items() if rel > 0 and doc in self.corpus]
            for qid, docs in self.qrels.items()
            if qid in self.queries
        }
        self.positives = {qid: docs for qid, docs in self.positives.items() if docs}


def load_split(dataset_dir: str | Path, split: str, corpus: dict[str, tuple[str, str]] | None = None) -> SplitData:
    """`beir.load_split` with the corpus read into memory (or `corpus`, already read for another split)."""
    data = beir.load_split(dataset_dir, split)
    if corpus is None:
        corpus = {
            doc.id: (doc.meta.get("title", "") or "", doc.content or "") for doc in beir.load_corpus(data.corpus_path)
        }
    return SplitData(corpus=corpus, queries=data.queries, qrels=data.qrels, split=split, dataset_dir=Path(dataset_dir))


def corpus_text(title: str, text: str, separator: str = DOCUMENT_SEPARATOR) -> str:
    """
    The text the model reads, made by the ranker's own `document_text` with `meta_fields_to_embed=["title"]`,
    so training and serving show the model the same layout.
    """
    document = Document(content=text, meta={"title": title} if (title or "").strip() else {})
    return ranker_document_text(document, ["title"], separator) or text


def ranked_ids(run: Mapping[str, Mapping[str, float]], qid: str, top_k: int) -> list[str]:
    """Document ids of one query in a run, best first (ties by id, so the order is deterministic)."""
    docs = run.get(qid) or {}
    return [doc for doc, _ in sorted(docs.items(), key=lambda item: (-item[1], item[0]))][:top_k]


def mine_hard_negatives(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    num_negatives: int = 7,
    top_k: int = 30,
    skip_top: int = 0,
    seed: int = 42,
    queries: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """
    Hard negatives per query: `num_negatives` ids sampled (seeded, per query) from the run's top `top_k`,
    after dropping the first `skip_top` ranks and every judged-relevant document. Queries whose run has
    fewer candidates get what there is; queries missing from the run get none.
    """
    if num_negatives < 0 or top_k < 1 or skip_top < 0:
        msg = f"mine_hard_negatives got num_negatives={num_negatives}, top_k={top_k}, skip_top={skip_top}."
        raise ConfigurationError(msg)
    wanted = list(queries) if queries is not None else list(qrels)
    mined: dict[str, list[str]] = {}
    for qid in wanted:
        relevant = {doc for doc, rel in (qrels.get(qid) or {}).items() if rel > 0}
        pool = [doc for doc in ranked_ids(run, qid, top_k)[skip_top:] if doc not in relevant]
        rng = random.Random(f"{seed}:{qid}")
        chosen = rng.sample(pool, min(num_negatives, len(pool)))
        mined[qid] = sorted(chosen, key=pool.index)  # keep the run's order: hardest first
    return mined


def lexical_neighbours(
    corpus: Mapping[str, tuple[str, str]], queries: Mapping[str, str], top_k: int = 30
) -> dict[str, dict[str, float]]:
    """A small TF-IDF run (query id -> {doc id: cosine}) over `corpus`: a cheap source of negatives."""
    require("train", "TF-IDF hard negatives")
    from sklearn.feature_extraction.text import TfidfVectorizer

    doc_ids = list(corpus)
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=1)
    doc_matrix = vectorizer.fit_transform([corpus_text(*corpus[d], separator=" ") for d in doc_ids])
    qids = list(queries)
    run: dict[str, dict[str, float]] = {}
    for start in range(0, len(qids), 512):
        block = qids[start : start + 512]
        scores = (vectorizer.transform([queries[q] for q in block]) @ doc_matrix.T).toarray()
        for row, qid in enumerate(block):
            best = scores[row].argsort()[::-1][:top_k]
            run[qid] = {doc_ids[i]: float(scores[row, i]) for i in best}
    return run


def title_queries(
    corpus: Mapping[str, tuple[str, str]], count: int, seed: int, exclude: Iterable[str] = ()
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """
    Self-supervised pairs: `count` documents (seeded sample) whose title becomes a query for its own
    abstract. Returns (queries, qrels) keyed `title:<doc id>`; the abstract is then shown without its title.
    """
    excluded = set(exclude)
    eligible = sorted(d for d, (title, text) in corpus.items() if title.strip() and text.strip() and d not in excluded)
    chosen = random.Random(seed).sample(eligible, min(count, len(eligible)))
    queries = {f"title:{d}": corpus[d][0].strip() for d in chosen}
    qrels = {f"title:{d}": {d: 1} for d in chosen}
    return queries, qrels


def listwise_rows(
    queries: Mapping[str, str],
    positives: Mapping[str, list[str]],
    negatives: Mapping[str, list[str]],
    corpus: Mapping[str, tuple[str, str]],
    num_negatives: int,
    *,
    hide_title: Iterable[str] = (),
) -> list[dict[str, str]]:
    """
    One row per (query, positive): `query`, `positive`, `negative_1..n`. Queries with fewer than
    `num_negatives` mined negatives are skipped (every row must have the same columns).
    """
    hidden = set(hide_title)
    rows = []
    for qid, query in queries.items():
        negs = negatives.get(qid) or []
        if len(negs) < num_negatives:
            continue
        for pos in positives.get(qid) or []:
            row = {"query": query, "positive": _text(corpus, pos, qid in hidden)}
            for index, neg in enumerate(negs[:num_negatives], start=1):
                row[f"negative_{index}"] = _text(corpus, neg, qid in hidden)
            rows.append(row)
    return rows


def pointwise_rows(
    queries: Mapping[str, str],
    positives: Mapping[str, list[str]],
    negatives: Mapping[str, list[str]],
    corpus: Mapping[str, tuple[str, str]],
    *,
    hide_title: Iterable[str] = (),
) -> list[dict[str, object]]:
    """(query, document, label) rows: 1.0 for each positive, 0.0 for each mined negative."""
    hidden = set(hide_title)
    rows: list[dict[str, object]] = []
    for qid, query in queries.items():
        rows.extend(
            {"query": query, "document": _text(corpus, d, qid in hidden), "label": 1.0}
            for d in positives.get(qid) or []
        )
        rows.extend(
            {"query": query, "document": _text(corpus, d, qid in hidden), "label": 0.0}
            for d in negatives.get(qid) or []
        )
    return rows


def reranking_samples(
    data: SplitData,
    run: Mapping[str, Mapping[str, float]],
    *,
    top_k: int = 20,
    max_queries: int | None = None,
) -> list[dict[str, object]]:
    """CrossEncoderRerankingEvaluator samples: each query's first-stage top-k (`documents`), its positives."""
    samples = []
    for qid in sorted(data.positives)[: max_queries or None]:
        candidates = ranked_ids(run, qid, top_k)
        if not candidates:
            continue
        samples.append(
            {
                "query": data.queries[qid],
                "positive": [_text(data.corpus, d, False) for d in data.positives[qid]],
                "documents": [_text(data.corpus, d, False) for d in candidates],
            }
        )
    return samples


def _text(corpus: Mapping[str, tuple[str, str]], doc_id: str, hide_title: bool) -> str:
    title, text = corpus[doc_id]
    return text if hide_title else corpus_text(title, text)
