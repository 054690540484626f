"""
`haystack-rerank quantize`: static int8 for a cross-encoder, calibrated on the user's own corpus, label-free.

OpenVINO converts the torch model; NNCF's post-training quantization (transformer preset) picks the int8 ranges
from (pseudo-query, passage) pairs written from the corpus by `adapt`'s seeded strategies: each query with the
passage it came from and the passages BM25 ranks next to it, the close calls a reranker sees (random passages
are easy and leave the activation ranges of hard pairs to chance). The output folder is the source model
(torch weights, tokenizer: what CrossEncoder loads) plus `openvino/openvino_model_int8.xml` and
`quantization.json` (the calibration data and how close the int8 scores stay to fp32 on held-out pairs). The int8
logit is mapped back onto fp32's scale by an affine map fitted on the calibration pairs, inside the graph.
`CrossEncoderRanker(model=<folder>, backend="openvino", precision="int8")` runs it.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer

from haystack_rerank import atomic
from haystack_rerank.cli_options import JsonOpt, RerankerModelOpt, report
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.extras import require
from haystack_rerank.models import STARTER_RERANK_MODEL

logger = logging.getLogger(__name__)

INT8_MODEL = Path("openvino") / "openvino_model_int8.xml"
REPORT_FILE = "quantization.json"
MIN_DOCUMENTS = 10  # a few passages are enough for activation ranges; fewer cannot give varied pairs


@dataclass(frozen=True)
class QuantizeConfig:
    model: str = STARTER_RERANK_MODEL
    corpus: str = ""
    output_dir: str = ""
    pseudo_queries: int = 100  # x (1 + negatives) calibration pairs; 300-500 pairs is NNCF's usual subset
    negatives: int = 7
    negative_source: str = "bm25"  # "bm25": lexical neighbours of each pseudo-query; "random": any passages
    held_out_fraction: float = 0.2
    max_length: int = 192  # the shipped ranker's max_length
    batch_size: int = 8
    seed: int = 42
    # with a value: NNCF's accuracy control keeps the layers whose int8 costs most in float until the mean
    # per-query Spearman with fp32 on the calibration queries drops by at most this much (slower to build)
    max_drop: float | None = None
    # regular expressions of OpenVINO op names kept in float (NNCF IgnoredScope), e.g. r".*\.output\.dense/.*"
    keep_float: tuple[str, ...] = ()


def int8_model_path(model_folder: str | Path) -> Path:
    return Path(model_folder) / INT8_MODEL


NEGATIVE_SOURCES = ("bm25", "random")


def calibration_pairs(corpus: dict[str, tuple[str, str]], config: QuantizeConfig) -> tuple[list, list]:
    """(calibration, held-out) lists of (query, [passages]): each pseudo-query with its source and negatives."""
    from haystack_rerank.adapt.pseudo_queries import generate

    if config.negative_source not in NEGATIVE_SOURCES:
        msg = f"quantize: negative_source={config.negative_source!r}; use one of {', '.join(NEGATIVE_SOURCES)}."
        raise ConfigurationError(msg)
    queries = generate(
        corpus, count=config.pseudo_queries, held_out_fraction=config.held_out_fraction, seed=config.seed
    )
    texts = {d: " ".join(part for part in corpus[d] if part) for d in sorted(corpus)}
    count = min(config.negatives, len(texts) - 1)
    if config.negative_source == "bm25":
        negatives = _lexical_neighbours(texts, [(q.text, q.source) for q in queries], count)
    else:
        rng = random.Random(config.seed)
        negatives = [rng.sample([d for d in texts if d != q.source], count) for q in queries]
    calibration, held_out = [], []
    for query, others in zip(queries, negatives, strict=True):
        passages = [texts[d] for d in [query.source, *others]]
        (held_out if query.held_out else calibration).append((query.text, passages))
    if not calibration or not held_out:
        msg = (
            f"quantize: {len(queries)} pseudo-queries left {len(calibration)} for calibration and {len(held_out)} "
            "held out; raise --pseudo-queries (e.g. 100) or use a larger corpus."
        )
        raise ConfigurationError(msg)
    return calibration, held_out


def _lexical_neighbours(texts: dict[str, str], queries: list[tuple[str, str]], count: int) -> list[list[str]]:
    """For each (query, source id): the `count` passages BM25 ranks highest, the source left out."""
    from haystack import Document
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    store = InMemoryDocumentStore()
    store.write_documents([Document(id=d, content=text) for d, text in texts.items()])
    retriever = InMemoryBM25Retriever(document_store=store, top_k=count + 1)
    neighbours = []
    for text, source in queries:
        hits = [d.id for d in retriever.run(query=text)["documents"] if d.id != source]
        neighbours.append(hits[:count])
    return neighbours


def quantize(config: QuantizeConfig) -> dict[str, Any]:
    """Write the int8 model folder (atomically, as a whole) and return what `quantization.json` records."""
    require("openvino", "haystack-rerank quantize")
    import nncf
    import openvino as ov
    from sentence_transformers import CrossEncoder

    from haystack_rerank.adapt.run import load_corpus
    from haystack_rerank.components.rankers._inference import _converted
    from haystack_rerank.models import resolve_model

    output = Path(config.output_dir)
    if output.exists() and any(output.iterdir()):
        raise ConfigurationError(f"quantize --output-dir {output} is not empty; choose a new folder or remove it.")
    started = time.monotonic()
    corpus = load_corpus(config.corpus, minimum=MIN_DOCUMENTS, command="quantize")
    calibration, held_out = calibration_pairs(corpus, config)
    location = resolve_model(config.model)
    cross_encoder = CrossEncoder(location, backend="torch", max_length=config.max_length)
    tokenizer = cross_encoder.tokenizer
    names = list(tokenizer(["q"], ["d"], return_tensors="np").keys())

    def batches(groups: list) -> list[dict[str, Any]]:
        pairs = [(query, passage) for query, passages in groups for passage in passages]
        return [
            _encode(tokenizer, pairs[i : i + config.batch_size], config.max_length, names)
            for i in range(0, len(pairs), config.batch_size)
        ]

    fp32 = _converted(cross_encoder, tokenizer)
    calibration_batches = batches(calibration)
    ignored = nncf.IgnoredScope(patterns=list(config.keep_float), validate=False) if config.keep_float else None
    if config.max_drop is None:
        int8 = nncf.quantize(
            fp32,
            nncf.Dataset(calibration_batches),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(calibration_batches),
            ignored_scope=ignored,
        )
    else:
        groups = [
            _encode(tokenizer, [(q, p) for p in passages], config.max_length, names) for q, passages in calibration
        ]
        int8 = nncf.quantize_with_accuracy_control(
            fp32,
            nncf.Dataset(calibration_batches),
            nncf.Dataset(_with_reference(fp32, groups)),
            validation_fn=_order_agreement,
            max_drop=config.max_drop,
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(calibration_batches),
            ignored_scope=ignored,
        )
    scale, shift = _logit_fit(fp32, int8, calibration_batches)
    int8 = _with_logit_correction(int8, scale, shift)
    agreement = _agreement(fp32, int8, batches(held_out), [len(p) for _, p in held_out])
    record = {
        "source_model": config.model,
        "corpus": str(config.corpus),
        "documents": len(corpus),
        "calibration_pairs": sum(len(p) for _, p in calibration),
        "held_out_pairs": sum(len(p) for _, p in held_out),
        **agreement,
        "logit_correction": {"scale": round(scale, 6), "shift": round(shift, 6)},
        "minutes": round((time.monotonic() - started) / 60, 2),
        "config": asdict(config),
        "versions": {name: version(name) for name in ("openvino", "nncf", "torch")},
    }
    with atomic.atomic_folder(output) as staging:
        _copy_source(cross_encoder, location, staging)
        (staging / INT8_MODEL).parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(int8, str(staging / INT8_MODEL))
        (staging / REPORT_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        card = staging / "README.md"
        previous = card.read_text(encoding="utf-8") if card.is_file() else f"# {config.model}\n"
        card.write_text(previous.rstrip("\n") + "\n\n" + _card_section(record), encoding="utf-8")
    return record


def _encode(tokenizer: Any, pairs: list[tuple[str, str]], max_length: int, names: list[str]) -> dict[str, Any]:
    features = tokenizer(
        [q for q, _ in pairs],
        [p for _, p in pairs],
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="np",
    )
    return {name: features[name] for name in names}


def _logit_fit(fp32: Any, int8: Any, batches: list[dict[str, Any]]) -> tuple[float, float]:
    """Least squares fp32 logit ~ scale * int8 logit + shift over the calibration pairs."""
    import numpy as np

    scale, shift = np.polyfit(_scores(int8, batches), _scores(fp32, batches), 1)
    return float(scale), float(shift)


def _with_logit_correction(model: Any, scale: float, shift: float) -> Any:
    """
    The int8 model with its logit mapped back onto fp32's scale inside the graph: int8 shifts scores as a whole
    (a probability of 0.085 came out 0.100), which moves the low-confidence flag and the blend with the first
    stage; the order within a list is untouched. Inside the IR, the cache fingerprint of its file covers it.
    """
    import numpy as np
    import openvino.opset13 as ops

    result = model.get_results()[0]
    logits = result.input_value(0)
    corrected = ops.add(ops.multiply(logits, ops.constant(np.float32(scale))), ops.constant(np.float32(shift)))
    result.input(0).replace_source_output(corrected.output(0))
    model.validate_nodes_and_infer_types()
    return model


def _compiled_f32(model: Any) -> Any:
    """The model compiled for the CPU in full precision: how agreement with fp32 is measured."""
    import openvino as ov

    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def _scores(model: Any, batches: list[dict[str, Any]]) -> list[float]:
    compiled = _compiled_f32(model)
    return [score for batch in batches for score in _logits(compiled, batch)]


def _logits(compiled: Any, inputs: dict[str, Any]) -> list[float]:
    return [float(row[0]) for row in compiled(inputs)[0]]


def _with_reference(fp32: Any, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each query's encoded list with the fp32 logits the int8 order is compared against."""
    compiled = _compiled_f32(fp32)
    return [{"inputs": group, "reference": _logits(compiled, group)} for group in groups]


def _order_agreement(compiled: Any, items: Any) -> tuple[float, list[float]]:
    """NNCF validation_fn: the mean per-query Spearman of the model's logits with fp32's, and each query's."""
    from scipy.stats import spearmanr

    values = [float(spearmanr(_logits(compiled, item["inputs"]), item["reference"])[0]) for item in items]
    return sum(values) / len(values), values


def _agreement(fp32: Any, int8: Any, batches: list[dict[str, Any]], group_sizes: list[int]) -> dict[str, float]:
    """Spearman of int8 vs fp32 logits over the held-out pairs, and how often both put the same passage first."""
    from scipy.stats import spearmanr

    scores = [_scores(fp32, batches), _scores(int8, batches)]
    same_top, within, start = 0, [], 0
    for size in group_sizes:
        reference, quantized = scores[0][start : start + size], scores[1][start : start + size]
        same_top += reference.index(max(reference)) == quantized.index(max(quantized))
        within.append(spearmanr(reference, quantized)[0] if size > 2 else 1.0)
        start += size
    return {
        "spearman_vs_fp32": round(float(spearmanr(scores[0], scores[1])[0]), 4),
        # the order inside each query's list is what ranking reads
        "mean_query_spearman": round(float(sum(within) / len(within)), 4),
        "same_top_passage": round(same_top / len(group_sizes), 4),
    }


def _card_section(record: dict[str, Any]) -> str:
    return (
        "## Static int8 (`haystack-rerank quantize`)\n\n"
        f"`{INT8_MODEL.as_posix()}`: OpenVINO int8 of this model (NNCF post-training quantization, transformer "
        f"preset), calibrated label-free on {record['calibration_pairs']} (pseudo-query, passage) pairs written "
        f"from `{record['corpus']}` ({record['documents']} documents). On {record['held_out_pairs']} held-out "
        f"pairs its scores keep a Spearman correlation of {record['spearman_vs_fp32']} with fp32 "
        f"({record['mean_query_spearman']} within a query's list), and the same "
        f"passage comes first for {record['same_top_passage']:.0%} of the held-out queries. Its logit is mapped "
        f"back onto fp32's scale inside the graph (x {record['logit_correction']['scale']} "
        f"{record['logit_correction']['shift']:+}, least squares on the calibration pairs). Run it with "
        '`CrossEncoderRanker(model=<this folder>, backend="openvino", precision="int8")`; check ranking '
        "quality on your own judged queries (`haystack-rerank eval`) before switching.\n"
    )


def _copy_source(cross_encoder: Any, location: str, staging: Path) -> None:
    """The source model's own files when it is a local folder (its precision kept), else a fresh save."""
    if Path(location).is_dir():
        shutil.copytree(location, staging, dirs_exist_ok=True)
        stale = staging / INT8_MODEL
        if stale.exists():
            stale.unlink()
            stale.with_suffix(".bin").unlink(missing_ok=True)
    else:
        cross_encoder.save_pretrained(str(staging))


_DEFAULTS = QuantizeConfig()


def quantize_command(
    corpus: Annotated[Path, typer.Option(help="BEIR corpus.jsonl (or a BEIR folder) to calibrate on, label-free.")],
    output_dir: Annotated[Path, typer.Option(help="New folder for the int8 model (a copy of the source + IR).")],
    model: RerankerModelOpt = STARTER_RERANK_MODEL,
    pseudo_queries: Annotated[int, typer.Option(min=2, help="Pseudo-queries written from the corpus.")] = (
        _DEFAULTS.pseudo_queries
    ),
    negatives: Annotated[int, typer.Option(min=0, help="Other passages paired with each pseudo-query.")] = (
        _DEFAULTS.negatives
    ),
    negative_source: Annotated[
        str, typer.Option(help="Where the negatives come from: bm25 (lexical neighbours, hard) or random.")
    ] = _DEFAULTS.negative_source,
    max_length: Annotated[int, typer.Option(min=8, help="Token length the ranker will use.")] = _DEFAULTS.max_length,
    seed: Annotated[int, typer.Option()] = _DEFAULTS.seed,
    max_drop: Annotated[
        float | None,
        typer.Option(help="Accuracy control: keep costly layers in float until per-query Spearman drops <= this."),
    ] = _DEFAULTS.max_drop,
    keep_float: Annotated[
        list[str] | None,
        typer.Option(help="Regex of OpenVINO op names to keep in float (repeatable), e.g. '.*layer\\.5\\..*'."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Static int8 (OpenVINO + NNCF) of a cross-encoder, calibrated on pseudo-queries from your corpus."""
    record = quantize(
        QuantizeConfig(
            model=model,
            corpus=str(corpus),
            output_dir=str(output_dir),
            pseudo_queries=pseudo_queries,
            negatives=negatives,
            negative_source=negative_source,
            max_length=max_length,
            seed=seed,
            max_drop=max_drop,
            keep_float=tuple(keep_float or ()),
        )
    )
    summary = {
        key: record[key]
        for key in (
            "calibration_pairs",
            "held_out_pairs",
            "spearman_vs_fp32",
            "mean_query_spearman",
            "same_top_passage",
            "minutes",
        )
    }
    summary["output"] = str(output_dir)
    summary["use"] = f"CrossEncoderRanker(model={str(output_dir)!r}, backend='openvino', precision='int8')"
    report(summary, as_json)
