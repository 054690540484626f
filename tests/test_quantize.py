"""`haystack-rerank quantize`: static int8 (OpenVINO + NNCF) calibrated on a corpus, and the ranker that runs it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import int8_min_correlation, make_documents, tiny_cross_encoder  # noqa: F401
from haystack.utils import ComponentDevice
from typer.testing import CliRunner

from haystack_rerank.cli import app
from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.quantize import INT8_MODEL, REPORT_FILE, QuantizeConfig, calibration_pairs, quantize

pytest.importorskip("nncf")
pytestmark = pytest.mark.slow

QUERY = "immune response to virus infection"


PASSAGES = Path(__file__).resolve().parents[1] / "examples" / "passages.jsonl"  # 40 real passages


def write_corpus(folder: Path, count: int) -> Path:
    path = folder / "corpus.jsonl"
    path.write_text("".join(PASSAGES.read_text(encoding="utf-8").splitlines(keepends=True)[:count]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def quantized(tiny_cross_encoder: str, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    folder = tmp_path_factory.mktemp("quantize")
    output = folder / "tiny-int8"
    result = CliRunner().invoke(
        app,
        [
            "quantize",
            "--model",
            tiny_cross_encoder,
            "--corpus",
            str(write_corpus(folder, 40)),
            "--output-dir",
            str(output),
            "--pseudo-queries",
            "30",
            "--max-length",
            "128",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return output


def ranker(model: str, **kwargs) -> CrossEncoderRanker:
    made = CrossEncoderRanker(
        model=model, max_length=128, top_k=100, scale_score=False, device=ComponentDevice.from_str("cpu"), **kwargs
    )
    made.warm_up()
    return made


def test_the_folder_holds_the_source_model_the_int8_model_and_the_record(
    quantized: Path,
    tiny_cross_encoder: str,  # noqa: F811
) -> None:
    assert (quantized / INT8_MODEL).is_file() and (quantized / INT8_MODEL).with_suffix(".bin").is_file()
    assert (quantized / "config.json").read_text() == (Path(tiny_cross_encoder) / "config.json").read_text()
    record = json.loads((quantized / REPORT_FILE).read_text())
    assert record["source_model"] == tiny_cross_encoder and record["documents"] == 40
    assert record["calibration_pairs"] > 0 and record["held_out_pairs"] > 0
    assert -1.0 <= record["spearman_vs_fp32"] <= 1.0 and 0.0 <= record["same_top_passage"] <= 1.0
    assert "Static int8" in (quantized / "README.md").read_text()
    assert not [p for p in quantized.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_the_int8_ranker_tracks_float32_and_has_its_own_cache_scope(
    quantized: Path,
    tiny_cross_encoder: str,  # noqa: F811
) -> None:
    docs = make_documents(30, seed=11)
    reference = ranker(tiny_cross_encoder)
    int8 = ranker(str(quantized), backend="openvino", precision="int8")
    expected = {d.id: d.score for d in reference.run(query=QUERY, documents=docs)["documents"]}
    got = {d.id: d.score for d in int8.run(query=QUERY, documents=docs)["documents"]}
    a, b = np.array([expected[d.id] for d in docs]), np.array([got[d.id] for d in docs])
    assert not np.allclose(a, b)  # it really ran the int8 graph, not the torch weights beside it
    assert np.corrcoef(a, b)[0, 1] > int8_min_correlation()
    assert int8._scope_digest != reference._scope_digest


def test_auto_precision_runs_int8_only_where_the_cpu_has_int8_units(quantized: Path) -> None:
    from haystack_rerank.components.rankers._inference import int8_supported

    docs = make_documents(12, seed=3)
    auto = ranker(str(quantized), backend="openvino", precision="auto")
    expected = "int8" if int8_supported() else "float32"
    assert auto.running_precision == expected
    explicit = ranker(str(quantized), backend="openvino", precision=expected)
    assert auto._scope_digest == explicit._scope_digest  # the cache key records what ran, not "auto"
    got = [(d.id, d.score) for d in auto.run(query=QUERY, documents=docs)["documents"]]
    assert got == [(d.id, d.score) for d in explicit.run(query=QUERY, documents=docs)["documents"]]


def test_int8_without_a_quantized_model_names_the_command(tiny_cross_encoder: str) -> None:  # noqa: F811
    with pytest.raises(ConfigurationError, match="haystack-rerank quantize"):
        ranker(tiny_cross_encoder, backend="openvino", precision="int8")


def test_a_non_empty_output_folder_is_refused(tiny_cross_encoder: str, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    config = QuantizeConfig(
        model=tiny_cross_encoder, corpus=str(write_corpus(tmp_path, 20)), output_dir=str(tmp_path / "out")
    )
    with pytest.raises(ConfigurationError, match="--output-dir"):
        quantize(config)
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_a_corpus_too_small_is_refused(tiny_cross_encoder: str, tmp_path: Path) -> None:  # noqa: F811
    config = QuantizeConfig(
        model=tiny_cross_encoder, corpus=str(write_corpus(tmp_path, 5)), output_dir=str(tmp_path / "o")
    )
    with pytest.raises(ConfigurationError, match="needs at least 10"):
        quantize(config)
    assert not (tmp_path / "o").exists()


def test_a_failed_quantization_writes_nothing(
    tiny_cross_encoder: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import haystack_rerank.quantize as module

    def broken_record(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "_card_section", broken_record)  # fails while the staging folder is being filled
    config = QuantizeConfig(
        model=tiny_cross_encoder,
        corpus=str(write_corpus(tmp_path, 20)),
        output_dir=str(tmp_path / "o"),
        pseudo_queries=10,
    )
    with pytest.raises(RuntimeError, match="disk full"):
        quantize(config)
    assert not (tmp_path / "o").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["corpus.jsonl"]


def test_calibration_pairs_hold_out_whole_queries(tmp_path: Path) -> None:
    from haystack_rerank.adapt.run import load_corpus

    corpus = load_corpus(str(write_corpus(tmp_path, 40)), minimum=10, command="quantize")
    config = QuantizeConfig(pseudo_queries=30, negatives=2, held_out_fraction=0.3, seed=1)
    calibration, held_out = calibration_pairs(corpus, config)
    assert calibration and held_out
    assert all(len(passages) == 3 for _, passages in calibration + held_out)
    assert not {q for q, _ in calibration} & {q for q, _ in held_out}
    assert calibration_pairs(corpus, config) == (calibration, held_out)  # seeded


def _shared_words(query: str, passage: str) -> int:
    return len(set(query.lower().split()) & set(passage.lower().split()))


def test_bm25_negatives_are_closer_to_the_query_than_random_ones(tmp_path: Path) -> None:
    from haystack_rerank.adapt.run import load_corpus

    corpus = load_corpus(str(write_corpus(tmp_path, 40)), minimum=10, command="quantize")
    lexical, _ = calibration_pairs(corpus, QuantizeConfig(pseudo_queries=30, negatives=3, negative_source="bm25"))
    drawn, _ = calibration_pairs(corpus, QuantizeConfig(pseudo_queries=30, negatives=3, negative_source="random"))
    assert [q for q, _ in lexical] == [q for q, _ in drawn]  # the same queries and sources, other negatives
    assert [p[0] for _, p in lexical] == [p[0] for _, p in drawn]
    overlap = {
        name: sum(_shared_words(q, n) for q, passages in pairs for n in passages[1:])
        for name, pairs in (("bm25", lexical), ("random", drawn))
    }
    assert overlap["bm25"] > 1.5 * overlap["random"], overlap
    assert all(len(set(passages)) == len(passages) for _, passages in lexical)  # the source is not its own negative


def test_an_unknown_negative_source_is_refused(tmp_path: Path) -> None:
    from haystack_rerank.adapt.run import load_corpus

    corpus = load_corpus(str(write_corpus(tmp_path, 40)), minimum=10, command="quantize")
    with pytest.raises(ConfigurationError, match=r"negative_source='dense'.*bm25, random"):
        calibration_pairs(corpus, QuantizeConfig(pseudo_queries=30, negative_source="dense"))


def test_accuracy_control_writes_a_model_the_int8_ranker_runs(
    tiny_cross_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    record = quantize(
        QuantizeConfig(
            model=tiny_cross_encoder,
            corpus=str(write_corpus(tmp_path, 40)),
            output_dir=str(tmp_path / "out"),
            pseudo_queries=20,
            negatives=3,
            max_length=64,
            max_drop=0.02,
        )
    )
    assert record["config"]["max_drop"] == 0.02
    ranker = CrossEncoderRanker(
        model=str(tmp_path / "out"),
        backend="openvino",
        precision="int8",
        max_length=64,
        device=ComponentDevice.from_str("cpu"),
    )
    ranker.warm_up()
    documents = make_documents(5)
    ranked = ranker.run(query=QUERY, documents=documents)["documents"]
    assert sorted(d.id for d in ranked) == sorted(d.id for d in documents)
    assert all(np.isfinite(d.score) for d in ranked)


def test_keep_float_leaves_the_matching_ops_unquantized(tiny_cross_encoder: str, tmp_path: Path) -> None:  # noqa: F811
    keep = r".*layer\.\d+\.output\.dense/.*"
    config = QuantizeConfig(
        model=tiny_cross_encoder,
        corpus=str(write_corpus(tmp_path, 40)),
        output_dir=str(tmp_path / "out"),
        pseudo_queries=20,
        max_length=64,
        keep_float=(keep,),
    )
    record = quantize(config)
    ir = (tmp_path / "out" / INT8_MODEL).read_text(encoding="utf-8")
    assert "attention.output.dense/aten::linear/MatMul/fq_weights" in ir  # the others stay int8
    assert not re.search(r"layer\.\d+\.output\.dense/aten::linear/MatMul/fq_weights", ir)
    assert list(record["config"]["keep_float"]) == [keep]


def test_the_starter_int8_model_orders_real_passages_as_the_starter_does() -> None:
    import json as _json

    from haystack import Document
    from scipy.stats import spearmanr

    from haystack_rerank.models import STARTER_RERANK_MODEL

    rows = [_json.loads(line) for line in PASSAGES.read_text(encoding="utf-8").splitlines()]
    docs = [Document(id=r["_id"], content=f"{r['title']}\n{r['text']}") for r in rows]
    query = "Does sleep help you remember what you learned?"
    reference = ranker(STARTER_RERANK_MODEL)
    int8 = ranker(STARTER_RERANK_MODEL, backend="openvino", precision="int8")
    expected = {d.id: d.score for d in reference.run(query=query, documents=docs)["documents"]}
    got = {d.id: d.score for d in int8.run(query=query, documents=docs)["documents"]}
    assert spearmanr([expected[d.id] for d in docs], [got[d.id] for d in docs])[0] > 0.97
    assert max(got, key=got.get) == max(expected, key=expected.get) == "sleep-memory"


def test_the_logit_correction_maps_scores_inside_the_graph(tiny_cross_encoder: str) -> None:  # noqa: F811
    import openvino as ov
    from sentence_transformers import CrossEncoder

    from haystack_rerank.components.rankers._inference import _converted
    from haystack_rerank.quantize import _logits, _with_logit_correction

    cross_encoder = CrossEncoder(tiny_cross_encoder, max_length=64)
    features = dict(
        cross_encoder.tokenizer(["a query", "a query"], ["one text", "another"], padding=True, return_tensors="np")
    )
    core = ov.Core()

    def scores(model: object) -> np.ndarray:
        return np.array(_logits(core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}), features))

    plain = scores(_converted(cross_encoder, cross_encoder.tokenizer))
    corrected = scores(_with_logit_correction(_converted(cross_encoder, cross_encoder.tokenizer), 2.0, -0.5))
    assert np.allclose(corrected, 2.0 * plain - 0.5, atol=1e-5)
