"""
Can the pipeline tell a question its corpus answers from one it does not? Each judged query is asked twice over
its first-stage candidates: as retrieved (answerable: a relevant document is among the top N) and with every
relevant document removed (unanswerable: the next candidates move up). The shipped ranker scores both lists and
each confidence signal is read from what it returns:

- `p_top`: the cross-encoder's best probability (the shipped `low_confidence` flag reads it, threshold 0.1);
- `logit_z`: how far the best logit stands above the list's logits (z-score over the N candidates);
- `logit_gap`: the best logit minus the second;
- `sentence`: the best sentence probability in the top document (what the extractive answerer quotes);
- `agree`: 1 when the cross-encoder's top document is also the first stage's top document.

Prints the AUC of each signal (answerable over unanswerable) per split, and for threshold rules chosen on the
first split given (Youden's J: flags the most unanswerable lists for the fewest answerable ones) how often they
flag each kind of list on every split.

    python benchmarks/unanswerable.py \
        --split scifact:train:runs/mem/after_scifact_train_hybrid.trec \
        --split scifact:dev:runs/mem/after_scifact_dev_hybrid.trec \
        --split cisi:dev:runs/mem/after_cisi_dev_hybrid.trec --train-queries 200
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from judged_splits import add_arguments, judged_splits

SIGNALS = ("p_top", "logit_z", "logit_gap", "sentence")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--save", type=Path, help="write every list's signals here (JSON)")
    args = parser.parse_args()

    from tqdm import tqdm

    from haystack_rerank import build

    ranker = build.ranker(model=args.model, top_k=args.depth)
    ranker.warm_up()
    rows_by_split = {}
    for split in judged_splits(args):
        rows = rows_by_split[split.name] = []
        for qid in tqdm(split.qids, desc=split.name):
            relevant = split.relevant(qid)
            answerable = split.candidates(qid, depth=args.depth)
            if not relevant & {doc.id for doc in answerable}:
                continue  # the first stage missed it: neither list is the one we want
            # unanswerable: the same query without its relevant documents (the next candidates move up)
            unanswerable = split.candidates(qid, exclude=relevant, depth=args.depth)
            for label, candidates in ((1, answerable), (0, unanswerable)):
                rows.append({"qid": qid, "answerable": label, **signals(ranker, split.queries[qid], candidates)})
    if args.save:
        args.save.write_text(json.dumps(rows_by_split, indent=1))
    report(rows_by_split)


def signals(ranker, query: str, candidates) -> dict[str, float]:
    """The confidence signals of one candidate list (see the module docstring)."""
    from haystack_rerank.components.readers import ExtractiveAnswerer

    by_model = ranker.rank_by_model(query, candidates, top_k=len(candidates))["documents"]
    probabilities = [doc.score for doc in by_model]
    logits = [math.log(max(p, 1e-7) / max(1.0 - p, 1e-7)) for p in probabilities]
    top = by_model[0]
    # every sentence of the top document, scored as the answer stage scores them
    reader = ExtractiveAnswerer(ranker=ranker, documents_to_read=1, top_k=1, min_sentence_chars=0)
    answers = reader.run(query=query, documents=[top])["answers"]
    return {
        "p_top": probabilities[0],
        "logit_z": (logits[0] - statistics.mean(logits)) / (statistics.pstdev(logits) or 1.0),
        "logit_gap": logits[0] - logits[1] if len(logits) > 1 else 0.0,
        "sentence": next((answer.score for answer in answers if answer.data is not None), 0.0),
        "agree": float(top.id == candidates[0].id),
    }


def auc(rows: list[dict], key: str) -> float:
    """P(signal of an answerable list > that of an unanswerable one), ties half."""
    positives = [row[key] for row in rows if row["answerable"]]
    negatives = [row[key] for row in rows if not row["answerable"]]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def flag_rates(rows: list[dict], flagged) -> tuple[float, float]:
    """(share of answerable lists flagged, share of unanswerable lists flagged)."""
    answerable = [flagged(row) for row in rows if row["answerable"]]
    unanswerable = [flagged(row) for row in rows if not row["answerable"]]
    return sum(answerable) / len(answerable), sum(unanswerable) / len(unanswerable)


def youden_threshold(rows: list[dict], key: str) -> float:
    """The threshold t of `signal < t` that maximises flagged-unanswerable minus flagged-answerable."""
    values = sorted({row[key] for row in rows})
    cuts = [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)] or values
    return max(cuts, key=lambda t: _j(rows, lambda row: row[key] < t))


def _j(rows, flagged) -> float:
    answerable, unanswerable = flag_rates(rows, flagged)
    return unanswerable - answerable


def report(rows_by_split: dict[str, list[dict]]) -> None:
    names = list(rows_by_split)
    print("| AUC (answerable over unanswerable) | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for key in (*SIGNALS, "agree"):
        print(f"| {key} | " + " | ".join(f"{auc(rows_by_split[n], key):.3f}" for n in names) + " |")
    counts = " | ".join(str(len(rows_by_split[n]) // 2) for n in names)
    print(f"| lists (answerable = unanswerable) | {counts} |")

    choice = rows_by_split[names[0]]
    rules = {"p_top < 0.1 (shipped)": lambda row: row["p_top"] < 0.1}
    for key in SIGNALS:
        threshold = youden_threshold(choice, key)
        rules[f"{key} < {threshold:.3g} (J on {names[0]})"] = lambda row, k=key, t=threshold: row[k] < t
    threshold = youden_threshold([row for row in choice if not row["agree"]], "p_top")
    rules[f"p_top < {threshold:.3g} and stages disagree"] = lambda row, t=threshold: (
        row["p_top"] < t and not row["agree"]
    )
    print("\n| rule: flag when | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for label, flagged in rules.items():
        cells = []
        for name in names:
            answerable, unanswerable = flag_rates(rows_by_split[name], flagged)
            cells.append(f"{answerable:.0%} / {unanswerable:.0%}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n(cells: answerable lists flagged / unanswerable lists flagged)")


if __name__ == "__main__":
    main()
