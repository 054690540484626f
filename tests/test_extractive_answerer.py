import asyncio

import pytest
from fixtures_models import tiny_cross_encoder  # noqa: F401
from haystack import Document, Pipeline

from haystack_rerank import models
from haystack_rerank.cache import MemoryRerankCache
from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.readers import ExtractiveAnswerer, split_sentences
from haystack_rerank.errors import ConfigurationError

PASSAGES = [
    Document(
        id="salt",
        content="Sodium is found in most processed foods. Cutting salt intake lowers blood pressure "
        "in people with hypertension. The effect appears within weeks.",
        meta={"title": "Salt"},
    ),
    Document(id="cats", content="Cats sleep for most of the day. Their sleep comes in short bouts.", meta={}),
    Document(id="volcano", content="Shield volcanoes erupt basaltic lava. Mauna Loa is one example.", meta={}),
]


@pytest.fixture
def answerer(tiny_cross_encoder):
    return ExtractiveAnswerer(
        ranker=CrossEncoderRanker(model=tiny_cross_encoder, cache=MemoryRerankCache()),
        documents_to_read=2,
        top_k=10,
        min_sentence_chars=10,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two three.", ["One.", "Two three."]),
        ("Dr. smith said so. Then (in 2019) it rained!", ["Dr. smith said so.", "Then (in 2019) it rained!"]),
        ("  padded   sentence.  ", ["padded   sentence."]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert [text[a:b] for a, b in split_sentences(text)] == expected


def test_answers_are_source_sentences_in_the_models_order(answerer, tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    query = "Does salt raise blood pressure?"
    out = answerer.run(query=query, documents=PASSAGES)
    answers = out["answers"]
    assert {a.document.id for a in answers} == {"salt", "cats"}  # documents_to_read=2
    for a in answers:
        start, end = a.document_offset.start, a.document_offset.end
        assert a.document.content[start:end] == a.data and a.data in a.context
    model_scores = CrossEncoder(tiny_cross_encoder).predict(
        [(query, a.data) for a in answers], activation_fn=__import__("torch").nn.Sigmoid()
    )
    by_model = [a.data for _, a in sorted(zip(model_scores, answers, strict=True), key=lambda p: -p[0])]
    # the first answer quotes the top document (its best sentence), the others follow by the model's score
    best_of_top = max((s, a.data) for s, a in zip(model_scores, answers, strict=True) if a.document.id == "salt")[1]
    assert [a.data for a in answers] == [best_of_top, *(data for data in by_model if data != best_of_top)]
    assert out["meta"]["sentences_scored"] == 5 and out["meta"]["low_confidence"] is False
    again = answerer.run(query=query, documents=PASSAGES)
    assert again["meta"]["scoring"]["cache_hits"] == 5  # the same sentences cost nothing the second time

    answerer.quote_top_document = False
    assert [a.data for a in answerer.run(query=query, documents=PASSAGES)["answers"]] == by_model


def test_the_first_answer_quotes_the_top_document_even_when_a_lower_one_has_a_better_sentence(tiny_cross_encoder):
    ranker = CrossEncoderRanker(model=tiny_cross_encoder)
    query = "Does salt raise blood pressure?"
    for order in (PASSAGES, PASSAGES[::-1]):
        free = ExtractiveAnswerer(ranker=ranker, quote_top_document=False).run(query=query, documents=order)
        quoted = ExtractiveAnswerer(ranker=ranker).run(query=query, documents=order)["answers"][0]
        top_sentences = [a for a in free["answers"] if a.document.id == order[0].id]
        assert quoted.document.id == order[0].id and quoted.data == top_sentences[0].data
        assert quoted.score == top_sentences[0].score


def test_a_top_document_without_a_long_enough_sentence_leaves_the_best_sentence_first(tiny_cross_encoder):
    ranker = CrossEncoderRanker(model=tiny_cross_encoder)
    documents = [Document(id="short", content="Yes."), *PASSAGES]
    answers = ExtractiveAnswerer(ranker=ranker, min_sentence_chars=10).run(query="salt", documents=documents)
    free = ExtractiveAnswerer(ranker=ranker, min_sentence_chars=10, quote_top_document=False)
    assert answers["answers"][0].data == free.run(query="salt", documents=documents)["answers"][0].data


def test_upstream_low_confidence_puts_a_no_answer_first(answerer):
    out = answerer.run(query="q", documents=PASSAGES, meta={"low_confidence": True})
    assert out["answers"][0].data is None and out["answers"][0].meta["low_confidence"] is True
    assert out["meta"]["low_confidence"] is True


def test_threshold_and_no_text(tiny_cross_encoder):
    strict = ExtractiveAnswerer(ranker=CrossEncoderRanker(model=tiny_cross_encoder), low_confidence_threshold=1.01)
    assert strict.run(query="q", documents=PASSAGES)["answers"][0].data is None
    empty = strict.run(query="q", documents=[Document(id="x", content="  ")])
    assert empty["answers"][0].data is None and empty["answers"][0].meta["reason"] == "no candidate sentence"


def test_run_async_matches_run(answerer):
    sync = answerer.run(query="lava", documents=PASSAGES)["answers"]
    asynchronous = asyncio.run(answerer.run_async(query="lava", documents=PASSAGES))["answers"]
    assert [a.data for a in asynchronous] == [a.data for a in sync]


@pytest.mark.parametrize(
    "kwargs", [{"documents_to_read": 0}, {"top_k": -1}, {"context_sentences": "1"}, {"quote_top_document": "yes"}]
)
def test_invalid_parameters(tiny_cross_encoder, kwargs):
    with pytest.raises(ConfigurationError, match=next(iter(kwargs))):
        ExtractiveAnswerer(ranker=CrossEncoderRanker(model=tiny_cross_encoder), **kwargs)


def test_yaml_round_trip(answerer):
    pipeline = Pipeline()
    pipeline.add_component("answerer", answerer)
    text = pipeline.dumps()
    loaded = Pipeline.loads(text)
    assert loaded.dumps() == text
    out = loaded.run({"answerer": {"query": "lava", "documents": PASSAGES}})["answerer"]
    assert out["answers"][0].data in " ".join(d.content for d in PASSAGES)


def test_starter_model_finds_the_known_sentence():
    """With the shipped starter model, the sentence that answers the question is the best-scored one."""
    if models.resolve_model(models.STARTER_RERANK_MODEL) == models.STARTER_RERANK_MODEL:
        pytest.skip("the starter model is not installed in this checkout")
    answerer = ExtractiveAnswerer(
        ranker=CrossEncoderRanker(model=models.STARTER_RERANK_MODEL, max_length=256), quote_top_document=False
    )
    cases = [
        ("Does reducing salt lower blood pressure?", "Cutting salt intake lowers blood pressure"),
        ("How much of the day do cats spend asleep?", "Cats sleep for most of the day."),
        ("What kind of lava do shield volcanoes erupt?", "Shield volcanoes erupt basaltic lava."),
    ]
    for question, expected in cases:
        best = answerer.run(query=question, documents=PASSAGES[::-1])["answers"]
        best = next(a for a in best if a.data is not None)
        assert best.data.startswith(expected), (question, best.data)


def test_a_ranker_that_embeds_titles_reads_each_sentence_with_its_documents_title(tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    ranker = CrossEncoderRanker(model=tiny_cross_encoder, meta_fields_to_embed=["title"])
    answers = ExtractiveAnswerer(ranker=ranker, documents_to_read=1, top_k=10).run(
        query="Does salt raise blood pressure?", documents=PASSAGES
    )["answers"]
    model = CrossEncoder(tiny_cross_encoder)
    sigmoid = __import__("torch").nn.Sigmoid()
    for a in answers:
        with_title = model.predict([("Does salt raise blood pressure?", "Salt\n" + a.data)], activation_fn=sigmoid)[0]
        alone = model.predict([("Does salt raise blood pressure?", a.data)], activation_fn=sigmoid)[0]
        assert a.score == pytest.approx(float(with_title), abs=1e-5) and a.score != pytest.approx(
            float(alone), abs=1e-5
        )
        assert a.document.id == "salt" and "title" in a.document.meta  # the answer's document is the source, unchanged
