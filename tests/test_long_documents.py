"""Long documents in CrossEncoderRanker: token windows, their aggregation, cache, batching, cap and YAML."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fixtures_models import PredictCounter, tiny_cross_encoder  # noqa: F401 - fixtures are used by name
from haystack import Document, Pipeline
from haystack.utils import ComponentDevice

import haystack_rerank  # noqa: F401 - registers the package on the deserialization allowlist
from haystack_rerank.cache import MemoryRerankCache
from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.rankers._windows import WindowSettings, aggregate, window_spans
from haystack_rerank.errors import ConfigurationError

QUERY = "immune response to virus infection"
TOL = 1e-5
SENTENCES = [
    "The protein binds the receptor on the cell membrane.",
    "Patients in the cohort received the drug for twelve weeks.",
    "Gene expression changed in the liver and the kidney.",
    "The vaccine raised antibody levels against the virus.",
    "Blood pressure fell in the treatment group.",
    "Neurons in the brain responded to the signal.",
]


def long_text(sentences: int, seed: int = 0) -> str:
    return " ".join(SENTENCES[(seed + i) % len(SENTENCES)] for i in range(sentences))


def make_ranker(model: str, **kwargs: Any) -> CrossEncoderRanker:
    params: dict[str, Any] = {
        "max_length": 64,
        "device": ComponentDevice.from_str("cpu"),
        "top_k": 100,
        "long_documents": "windows",
        "scale_score": False,
    }
    params.update(kwargs)
    ranker = CrossEncoderRanker(model=model, **params)
    ranker.warm_up()
    return ranker


def predict(model: str, query: str, texts: list[str], max_length: int = 64) -> list[float]:
    """Raw logits from sentence-transformers' own CrossEncoder.predict."""
    from sentence_transformers import CrossEncoder
    from torch.nn import Identity

    cross_encoder = CrossEncoder(model, device="cpu", max_length=max_length)
    pairs = [(query, text) for text in texts]
    return [float(s) for s in cross_encoder.predict(pairs, activation_fn=Identity(), batch_size=16)]


# -- pure logic ----------------------------------------------------------------------------------------


def test_window_spans_overlap_and_cover_every_token() -> None:
    offsets = [(i * 10, i * 10 + 5) for i in range(10)]  # ten tokens, each five characters
    spans, capped = window_spans(offsets, size=4, overlap=1, max_windows=10)
    # token windows 0-3, 3-6, 6-9: the last ends on the last token
    assert spans == [(0, 35), (30, 65), (60, 95)] and not capped
    spans, capped = window_spans(offsets, size=4, overlap=0, max_windows=10)
    assert spans == [(0, 35), (40, 75), (80, 95)] and not capped
    spans, capped = window_spans(offsets, size=4, overlap=1, max_windows=2)
    assert spans == [(0, 35), (30, 65)] and capped


@pytest.mark.parametrize(
    ("aggregation", "threshold", "expected"),
    [
        ("max", None, (3.0, 2)),
        ("first_k_mean", None, ((-2.0 + 1.0 + 3.0) / 3, 2)),  # the first three; read from the best of them
        ("first_over_threshold", 0.5, (1.0, 1)),
        ("first_over_threshold", 5.0, (3.0, 2)),  # none passes: the best window
    ],
)
def test_aggregations(aggregation: str, threshold: float | None, expected: tuple[float, int]) -> None:
    logits = [-2.0, 1.0, 3.0, 1.0]
    settings = WindowSettings(aggregation=aggregation, first_k=3, threshold=threshold)
    score, index = aggregate(logits, settings, threshold)
    assert score == pytest.approx(expected[0]) and index == expected[1]


def test_threshold_is_a_probability_when_scores_are_scaled() -> None:
    settings = WindowSettings(aggregation="first_over_threshold", threshold=0.5)
    assert settings.threshold_logit(scale_score=True) == pytest.approx(0.0)
    assert WindowSettings(threshold=0.9).threshold_logit(scale_score=True) == pytest.approx(math.log(9))
    assert WindowSettings(threshold=2.5).threshold_logit(scale_score=False) == 2.5


@pytest.mark.parametrize(
    ("kwargs", "parameter", "value"),
    [
        ({"long_documents": "split"}, "long_documents", "'split'"),
        ({"window_tokens": 8}, "window_tokens", "8"),
        ({"window_tokens": 64, "window_overlap": 64}, "window_overlap", "window_tokens=64"),
        ({"window_overlap": -1}, "window_overlap", "-1"),
        ({"max_windows": 0}, "max_windows", "0"),
        ({"window_aggregation": "mean"}, "window_aggregation", "'mean'"),
        ({"window_first_k": 0}, "window_first_k", "0"),
        ({"window_aggregation": "first_over_threshold"}, "window_threshold", "needs a threshold"),
        ({"window_aggregation": "first_over_threshold", "window_threshold": 3.0}, "window_threshold", "0 < t < 1"),
        ({"window_threshold": "high"}, "window_threshold", "'high'"),
    ],
)
def test_invalid_window_parameters(kwargs: dict, parameter: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        CrossEncoderRanker(**kwargs)
    assert parameter in str(info.value) and value in str(info.value)


# -- the real (tiny) model -----------------------------------------------------------------------------


def test_truncate_is_the_default_and_reads_only_the_start(tiny_cross_encoder: str) -> None:  # noqa: F811
    doc = Document(content=long_text(20))
    ranker = make_ranker(tiny_cross_encoder, long_documents="truncate")
    assert CrossEncoderRanker(model=tiny_cross_encoder).long_documents == "truncate"
    result = ranker.run(query=QUERY, documents=[doc])
    assert result["documents"][0].score == pytest.approx(predict(tiny_cross_encoder, QUERY, [doc.content])[0], abs=TOL)
    assert "best_window" not in result["documents"][0].meta and "windows" not in result["meta"]


def test_short_documents_score_exactly_as_with_truncate(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = [Document(content=SENTENCES[i]) for i in range(4)]
    windowed = make_ranker(tiny_cross_encoder).run(query=QUERY, documents=docs)
    truncated = make_ranker(tiny_cross_encoder, long_documents="truncate").run(query=QUERY, documents=docs)
    assert [(d.id, d.score) for d in windowed["documents"]] == [(d.id, d.score) for d in truncated["documents"]]
    assert windowed["meta"]["windows"] == 4
    for doc in windowed["documents"]:
        assert doc.meta["best_window"] == {
            "index": 0,
            "start": 0,
            "end": len(doc.content),
            "windows": 1,
            "capped": False,
        }


def test_windows_fit_beside_the_query_and_max_wins(tiny_cross_encoder: str) -> None:  # noqa: F811
    doc = Document(content=long_text(20), meta={"title": "A title"})
    ranker = make_ranker(tiny_cross_encoder, meta_fields_to_embed=["title"], window_overlap=8, max_windows=50)
    seen: list[str] = []
    original = ranker._logits

    def recording(query: str, units: list, meta: dict) -> list[float]:
        seen.extend(text for _, text in units)
        return original(query, units, meta)

    ranker._logits = recording  # type: ignore[method-assign]
    result = ranker.run(query=QUERY, documents=[doc])
    tokenizer = ranker._cross_encoder.tokenizer
    assert len(seen) == result["meta"]["windows"] > 3
    for text in seen:  # every pair fits in max_length: nothing is truncated
        assert len(tokenizer(QUERY, text)["input_ids"]) <= 64
    logits = predict(tiny_cross_encoder, QUERY, seen)
    best = max(range(len(seen)), key=lambda i: logits[i])
    top = result["documents"][0]
    assert top.score == pytest.approx(logits[best], abs=TOL)
    window = top.meta["best_window"]
    assert window["index"] == best and window["windows"] == len(seen) and not window["capped"]
    # the span is in content characters (the embedded title and separator are not counted)
    assert doc.content[window["start"] : window["end"]] in seen[best]
    assert seen[0].startswith("A title\n")
    assert sum(len(text) for text in seen) > len("A title\n" + doc.content)  # neighbouring windows overlap


def test_windows_of_all_candidates_share_batches(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = [Document(content=long_text(12, seed=i)) for i in range(3)] + [Document(content=SENTENCES[0])]
    ranker = make_ranker(tiny_cross_encoder, batch_size=64)
    counter = PredictCounter(ranker)
    result = ranker.run(query=QUERY, documents=docs)
    assert result["meta"]["windows"] > 6
    assert counter.calls == 1 and counter.batch_sizes == [result["meta"]["windows"]]
    assert result["meta"]["model_scored"] == result["meta"]["windows"]


def test_cache_is_keyed_per_window(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = [Document(id=f"d{i}", content=long_text(12, seed=i)) for i in range(3)]
    ranker = make_ranker(tiny_cross_encoder, cache=MemoryRerankCache())
    first = ranker.run(query=QUERY, documents=docs)
    windows = first["meta"]["windows"]
    assert first["meta"]["cache_misses"] == windows
    again = ranker.run(query=QUERY, documents=docs)
    assert again["meta"]["cache_hits"] == windows and again["meta"]["model_scored"] == 0
    assert [(d.id, d.score) for d in again["documents"]] == [(d.id, d.score) for d in first["documents"]]
    # an edit at the end of one document re-scores only the windows whose text changed
    edited = [*docs[:2], Document(id="d2", content=docs[2].content + " A new closing sentence.")]
    third = ranker.run(query=QUERY, documents=edited)
    assert 1 <= third["meta"]["model_scored"] <= 2 and third["meta"]["cache_hits"] >= windows - 2


def test_cap_on_windows_is_named_in_meta(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = [Document(content=long_text(30)), Document(content=SENTENCES[1])]
    result = make_ranker(tiny_cross_encoder, max_windows=2).run(query=QUERY, documents=docs)
    by_length = sorted(result["documents"], key=lambda d: -len(d.content))
    assert by_length[0].meta["best_window"]["windows"] == 2 and by_length[0].meta["best_window"]["capped"]
    assert not by_length[1].meta["best_window"]["capped"]
    assert result["meta"]["windows_capped"] == 1 and result["meta"]["windows"] == 3


def test_first_over_threshold_with_scaled_scores(tiny_cross_encoder: str) -> None:  # noqa: F811
    doc = Document(content=long_text(20))
    probe = make_ranker(tiny_cross_encoder, max_windows=50)
    windows = probe.run(query=QUERY, documents=[doc])["meta"]["windows"]
    ranker = make_ranker(
        tiny_cross_encoder,
        max_windows=50,
        scale_score=True,
        window_aggregation="first_over_threshold",
        window_threshold=0.01,  # the first window passes unless the model scores it near zero
    )
    top = ranker.run(query=QUERY, documents=[doc])["documents"][0]
    assert windows > 1 and 0.0 <= top.score <= 1.0
    assert top.score >= 0.01 and top.meta["best_window"]["index"] == 0


async def test_run_async_matches_run_with_windows(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = [Document(content=long_text(12, seed=i)) for i in range(3)]
    ranker = make_ranker(tiny_cross_encoder, window_aggregation="first_k_mean", window_first_k=2)
    sync = ranker.run(query=QUERY, documents=docs)
    asynchronous = await ranker.run_async(query=QUERY, documents=docs)
    assert [(d.id, d.score, d.meta) for d in sync["documents"]] == [
        (d.id, d.score, d.meta) for d in asynchronous["documents"]
    ]


def test_window_parameters_roundtrip_through_yaml() -> None:
    ranker = CrossEncoderRanker(
        model="cross-encoder/some-model",
        long_documents="windows",
        window_tokens=128,
        window_overlap=16,
        max_windows=4,
        window_aggregation="first_over_threshold",
        window_first_k=2,
        window_threshold=0.7,
    )
    pipeline = Pipeline()
    pipeline.add_component("ranker", ranker)
    loaded = Pipeline.loads(pipeline.dumps()).get_component("ranker")
    assert isinstance(loaded, CrossEncoderRanker)
    assert loaded.to_dict() == ranker.to_dict()
    assert (loaded.long_documents, loaded.window_tokens, loaded.window_threshold) == ("windows", 128, 0.7)


# -- the shipped starter model: what truncation loses -------------------------------------------------


@pytest.mark.slow
def test_starter_model_finds_the_answer_after_filler() -> None:
    from haystack_rerank.models import STARTER_RERANK_MODEL

    answer = (
        "Vitamin D supplementation did not reduce the incidence of fractures in older adults: in a trial of "
        "25,000 participants over five years, fracture rates were the same with vitamin D and with placebo."
    )
    filler = " ".join(
        "The committee reviewed the annual budget of the regional transport authority, including bus routes, "
        "maintenance contracts and the staffing of ticket offices in the northern districts."
        for _ in range(12)
    )
    doc = Document(id="long", content=f"{filler} {answer}")
    query = "Does vitamin D supplementation prevent fractures in older adults?"
    kwargs = {"model": STARTER_RERANK_MODEL, "max_length": 192, "scale_score": True, "top_k": 1}
    truncated = make_ranker(**{**kwargs, "long_documents": "truncate"}).run(query=query, documents=[doc])
    windowed = make_ranker(**kwargs).run(query=query, documents=[doc])
    alone = make_ranker(**kwargs).run(query=query, documents=[Document(content=answer)])
    top = windowed["documents"][0]
    assert top.score > truncated["documents"][0].score + 0.3
    assert top.score == pytest.approx(alone["documents"][0].score, abs=0.05)
    window = top.meta["best_window"]
    assert window["windows"] > 2 and window["index"] == window["windows"] - 1  # the window at the end
    assert answer in doc.content[window["start"] : window["end"]]  # a reader starting there finds the answer
