"""
Choose the bi-encoder student's recipe on a slice of *train* (never dev): train it on an `adapt` run's teacher lists
minus the slice's claims, then compare dense nDCG@10 / Recall@100 on the slice with the start model
(BENCHMARKS "The bi-encoder student, fixed").

    python benchmarks/bi_encoder_slice.py --lists OUT/work/teacher_lists.json --slice train_slice150.jsonl \
        --dataset ../shared/data/scifact --steps 150 --output runs/bi-slice
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from haystack_rerank.adapt import AdaptConfig, students, teacher
from haystack_rerank.adapt.run import load_corpus
from haystack_rerank.beir import load_qrels
from haystack_rerank.evaluation.metrics import evaluate_run, paired_test
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, resolve_model


def dense_run(
    model_path: str, corpus: dict[str, tuple[str, str]], queries: dict[str, str]
) -> dict[str, dict[str, float]]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu").to(torch.bfloat16)
    ids = list(corpus)
    texts = [f"{title}\n{text}" for title, text in corpus.values()]
    passages = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_tensor=True).float()
    asked = model.encode(list(queries.values()), normalize_embeddings=True, convert_to_tensor=True).float()
    top = torch.topk(asked @ passages.T, 100, dim=1)
    return {
        qid: {ids[j]: float(v) for v, j in zip(top.values[i].tolist(), top.indices[i].tolist(), strict=True)}
        for i, qid in enumerate(queries)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--lists", type=Path, required=True, help="an adapt run's work/teacher_lists.json")
    parser.add_argument("--slice", type=Path, required=True, help="jsonl of train queries held out of training")
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR folder with qrels/train.tsv")
    parser.add_argument("--steps", type=int, default=AdaptConfig.bi_encoder_steps)
    parser.add_argument("--learning-rate", type=float, help="default: adapt's")
    parser.add_argument("--in-batch-weight", type=float, help="default: adapt's bi_encoder_in_batch_weight")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()

    held = {json.loads(line)["_id"]: json.loads(line)["text"] for line in args.slice.open(encoding="utf-8")}
    scored = [teacher.ScoredList.from_dict(item) for item in json.loads(args.lists.read_text(encoding="utf-8"))]
    scored = [s for s in scored if not (s.query_id.startswith("train:") and s.query_id.split(":", 1)[1] in held)]
    knobs = AdaptConfig(corpus="", output_dir="")  # adapt's defaults
    in_batch_weight = knobs.bi_encoder_in_batch_weight if args.in_batch_weight is None else args.in_batch_weight
    lists, _ = teacher.training_lists(
        scored, margin=knobs.margin, max_positive_rank=knobs.max_positive_rank, list_size=knobs.list_size
    )
    model = students.load_bi_encoder(DEFAULT_EMBEDDING_MODEL, max_seq_length=knobs.max_length)
    loss = students.teacher_kl_loss(
        model,
        student_temperature=knobs.bi_encoder_temperature,
        teacher_temperature=knobs.temperature,
        in_batch_weight=in_batch_weight,
    )
    run = students.train(
        "bi-encoder",
        model,
        students.bi_encoder_rows(lists, knobs.bi_encoder_ways, knobs.seed),
        loss,
        work_dir=args.output / "work",
        output_dir=args.output / "model",
        steps=args.steps,
        batch_size=knobs.bi_encoder_batch_size,
        learning_rate=args.learning_rate or knobs.bi_encoder_learning_rate,
        seed=knobs.seed,
    )
    qrels = {qid: judged for qid, judged in load_qrels(args.dataset / "qrels" / "train.tsv").items() if qid in held}
    queries = {qid: text for qid, text in held.items() if qid in qrels}
    corpus = load_corpus(str(args.dataset / "corpus.jsonl"))
    before = dense_run(resolve_model(DEFAULT_EMBEDDING_MODEL), corpus, queries)
    after = dense_run(str(args.output / "model"), corpus, queries)
    print(
        json.dumps(
            {
                "training": {
                    "lists": len(lists),
                    "steps": run.steps,
                    "in_batch_weight": in_batch_weight,
                    "first_loss": run.first_loss,
                    "last_loss": run.last_loss,
                },
                "before": evaluate_run(qrels, before),
                "after": evaluate_run(qrels, after),
                "after_vs_before": paired_test(qrels, before, after),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
