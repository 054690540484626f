"""`adapt`: pseudo-queries, the teacher's lists and filters, and a few-step end-to-end run on real components."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fixtures_models import WORDS, tiny_cross_encoder  # noqa: F401

from haystack_rerank.adapt import AdaptConfig, adapt, pseudo_queries, selection
from haystack_rerank.adapt.stores import AdaptStores
from haystack_rerank.adapt.teacher import ScoredList, training_lists
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import output_dimension


def _corpus(count: int, seed: int = 0) -> dict[str, tuple[str, str]]:
    rng = random.Random(seed)
    corpus = {}
    for index in range(count):
        topic = rng.sample(WORDS, 4)
        sentences = [" ".join([*topic[:2], *rng.sample(WORDS, 8)]).capitalize() + "." for _ in range(rng.randint(2, 4))]
        corpus[f"d{index}"] = (" ".join(topic).title(), " ".join(sentences))
    return corpus


def _write_corpus(path: Path, corpus: dict[str, tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for doc_id, (title, text) in corpus.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    return path


class TestPseudoQueries:
    def test_seeded_every_strategy_and_held_out_sources_disjoint(self):
        corpus = _corpus(120)
        first = pseudo_queries.generate(corpus, count=200, seed=3)
        assert first == pseudo_queries.generate(corpus, count=200, seed=3)
        assert first != pseudo_queries.generate(corpus, count=200, seed=4)
        assert {q.strategy for q in first} == set(pseudo_queries.STRATEGIES)
        held = {q.source for q in first if q.held_out}
        trained = {q.source for q in first if not q.held_out}
        assert held and trained and not held & trained
        share = sum(q.held_out for q in first) / len(first)
        assert 0.05 <= share <= 0.15  # the held-out share of the queries, not of the corpus
        assert {q.strategy for q in first if q.held_out} == set(pseudo_queries.STRATEGIES)

    def test_sentence_queries_are_removed_from_their_source_and_titles_hidden(self):
        corpus = _corpus(80)
        made = pseudo_queries.generate(corpus, count=120, seed=0)
        sentence = next(q for q in made if q.strategy == "sentence")
        assert sentence.removed_sentence == sentence.text and sentence.text in corpus[sentence.source][1]
        assert all(q.hide_title for q in made if q.strategy == "title")

    def test_near_duplicates_dropped(self):
        seen = pseudo_queries._NearDuplicates()
        assert seen.add("effect of vitamin d on bone fractures")
        assert not seen.add("Effect of vitamin D on bone fractures?")
        assert seen.add("vitamin d and the immune response of the elderly")

    @pytest.mark.parametrize(
        ("kwargs", "named"),
        [({"count": 0}, "count"), ({"count": 5, "strategies": ["poems"]}, "strategies")],
    )
    def test_bad_arguments_are_named(self, kwargs, named):
        with pytest.raises(ConfigurationError, match=named):
            pseudo_queries.generate(_corpus(60), **kwargs)

    def test_empty_corpus_refused(self):
        with pytest.raises(ConfigurationError, match="empty corpus"):
            pseudo_queries.generate({}, count=5)


class TestTeacherLists:
    def _scored(self, positive_score: float) -> ScoredList:
        candidates = [("a", 0.95, 1.0), ("src", positive_score, 0.9), ("b", 0.5, 0.8), ("c", 0.3, 0.7), ("d", 0.1, 0.6)]
        candidates.sort(key=lambda item: -item[1])
        return ScoredList("q1", "query", ["src"], candidates, {d: f"text {d}" for d, _, _ in candidates})

    def test_candidate_scored_close_to_the_positive_is_not_a_negative(self):
        lists, report = training_lists([self._scored(0.93)], margin=0.05, max_positive_rank=5, list_size=8)
        docs = [doc for doc, _, _ in lists[0]["docs"]]
        assert docs[0] == "src" and "a" not in docs and docs[1:] == ["b", "c", "d"]
        assert report.false_negatives_removed == 1

    def test_teacher_scores_are_the_labels(self):
        lists, _ = training_lists([self._scored(0.97)], margin=0.0, max_positive_rank=5, list_size=3)
        assert lists[0]["docs"] == [("src", "text src", 0.97), ("a", "text a", 0.95), ("b", "text b", 0.5)]

    def test_query_whose_positive_the_teacher_ranks_low_is_dropped(self):
        lists, report = training_lists([self._scored(0.2)], margin=0.05, max_positive_rank=2, list_size=8)
        assert lists == [] and report.dropped_positive_rank == 1


def test_config_errors_name_the_field():
    with pytest.raises(ConfigurationError, match="students"):
        AdaptConfig(corpus="c", output_dir="o", students=("poet",))
    with pytest.raises(ConfigurationError, match="teacher_alpha"):
        AdaptConfig(corpus="c", output_dir="o", teacher_alpha=2.0)
    with pytest.raises(ConfigurationError, match="bi_encoder_ways"):
        AdaptConfig(corpus="c", output_dir="o", list_size=4, bi_encoder_ways=6)
    with pytest.raises(ConfigurationError, match="cross_encoder_learning_rate"):
        AdaptConfig(corpus="c", output_dir="o", cross_encoder_learning_rate=3.0)


def test_a_truncated_student_gets_its_own_learning_rate_unless_one_is_given():
    assert AdaptConfig(corpus="c", output_dir="o").cross_encoder_lr == 2e-5
    assert AdaptConfig(corpus="c", output_dir="o", student_layers=3).cross_encoder_lr == 2e-4
    given = AdaptConfig(corpus="c", output_dir="o", student_layers=3, cross_encoder_learning_rate=1e-4)
    assert given.cross_encoder_lr == 1e-4


def test_a_truncated_student_keeps_its_first_layers_and_trains_without_dropout(tiny_cross_encoder):  # noqa: F811
    import torch

    from haystack_rerank.adapt.students import load_cross_encoder

    full = load_cross_encoder(tiny_cross_encoder, max_length=32)
    small = load_cross_encoder(tiny_cross_encoder, max_length=32, layers=1)
    full_encoder = getattr(full.model, full.model.base_model_prefix).encoder
    small_encoder = getattr(small.model, small.model.base_model_prefix).encoder
    assert len(full_encoder.layer) > 1 and len(small_encoder.layer) == small.model.config.num_hidden_layers == 1
    assert torch.equal(small_encoder.layer[0].output.dense.weight, full_encoder.layer[0].output.dense.weight)
    dropouts = [m.p for m in small.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and set(dropouts) == {0.0}
    assert small.model.config.hidden_dropout_prob == 0.0
    assert any(m.p > 0 for m in full.model.modules() if isinstance(m, torch.nn.Dropout))  # the full one keeps it


def test_the_bi_encoder_student_learns_the_teachers_order(tmp_path):
    """A few steps on one batch must cut the KL to the teacher; with the library's T**2 factor it barely moved."""
    from haystack_rerank.adapt import students
    from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL

    corpus = list(_corpus(12, seed=3).values())
    # the teacher prefers the third passage of each row: an order the untrained student has no reason to share
    rows = [
        {
            "query": corpus[i][0],
            "text_0": corpus[i][1],
            "text_1": corpus[i + 4][1],
            "text_2": corpus[i + 8][1],
            "label": [0.1, 0.05, 0.95],
        }
        for i in range(4)
    ]
    model = students.load_bi_encoder(DEFAULT_EMBEDDING_MODEL, max_seq_length=32)
    loss = students.teacher_kl_loss(model, student_temperature=0.05, teacher_temperature=0.1)
    run = students.train(
        "bi-encoder",
        model,
        rows,
        loss,
        work_dir=tmp_path,
        output_dir=tmp_path / "student",
        steps=8,
        batch_size=4,
        learning_rate=1e-4,
        seed=0,
        progress_bar=False,
    )
    assert run.steps == 8 and run.first_loss > 0.5
    assert run.last_loss < 0.5 * run.first_loss, (run.first_loss, run.last_loss)
    assert (tmp_path / "student" / "modules.json").is_file()


def test_in_batch_negatives_add_mnrl_on_the_same_embeddings():
    """KL + w * MNRL over one batch's embeddings: every query also against the other rows' passages."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from haystack_rerank.adapt import students
    from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL

    model = students.load_bi_encoder(DEFAULT_EMBEDDING_MODEL, max_seq_length=32)
    generator = torch.Generator().manual_seed(0)
    embeddings = [torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=1) for _ in range(4)]
    labels = torch.tensor([[0.9, 0.2, 0.1]] * 4)
    kl = students.teacher_kl_loss(model, student_temperature=0.05, teacher_temperature=0.1)
    mixed = students.teacher_kl_loss(model, student_temperature=0.05, teacher_temperature=0.1, in_batch_weight=0.5)
    in_batch = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings(embeddings, labels)
    assert in_batch > 0.1
    combined = mixed.compute_loss_from_embeddings(embeddings, labels)
    assert torch.allclose(combined, kl.compute_loss_from_embeddings(embeddings, labels) + 0.5 * in_batch)
    with pytest.raises(ConfigurationError, match="bi_encoder_in_batch_weight"):
        AdaptConfig(corpus="c", output_dir="o", bi_encoder_in_batch_weight=-1.0)


def test_interpolation_averages_the_student_with_its_start(tmp_path, tiny_cross_encoder):  # noqa: F811
    """WiSE-FT: weight * student + (1 - weight) * start, tensor by tensor; another architecture is refused."""
    import torch
    from sentence_transformers import SentenceTransformer

    from haystack_rerank.adapt.interpolation import interpolate_bi_encoder
    from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, resolve_model

    start = SentenceTransformer(resolve_model(DEFAULT_EMBEDDING_MODEL), device="cpu")
    student = SentenceTransformer(resolve_model(DEFAULT_EMBEDDING_MODEL), device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in student.parameters():
            tensor.add_(torch.randn(tensor.shape, generator=generator))
    folder = tmp_path / "student"
    student.save_pretrained(str(folder))
    interpolate_bi_encoder(DEFAULT_EMBEDDING_MODEL, folder, 0.25)

    mixed = SentenceTransformer(str(folder), device="cpu").state_dict()
    before, trained = start.state_dict(), student.state_dict()
    for name, tensor in mixed.items():
        assert torch.allclose(tensor.float(), 0.25 * trained[name].float() + 0.75 * before[name].float(), atol=1e-5)
    words = next(name for name in mixed if name.endswith("word_embeddings.weight"))
    assert not torch.allclose(mixed[words], trained[words]) and not torch.allclose(mixed[words], before[words])
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ConfigurationError, match="tensors differ"):
        interpolate_bi_encoder(tiny_cross_encoder, folder, 0.5)
    for weight in (0.0, 1.5, -0.1):
        with pytest.raises(ConfigurationError, match="bi_encoder_interpolation"):
            AdaptConfig(corpus="c", output_dir="o", bi_encoder_interpolation=weight)


class TestSelection:
    QRELS = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    FIRST = {"q1": {"a": 2.0, "x": 1.0}, "q2": {"b": 2.0, "x": 1.0}, "q3": {"c": 2.0, "x": 1.0}}
    SECOND = {"q1": {"x": 2.0, "a": 1.0}, "q2": {"x": 2.0, "b": 1.0}, "q3": {"x": 2.0, "c": 1.0}}

    def test_a_student_better_on_held_out_queries_is_chosen(self):
        doubled = "hybrid-student-bi (dense weight 2)"
        runs = {"hybrid": self.SECOND, "hybrid-student-bi": self.SECOND, doubled: self.FIRST}
        choice = selection.pick(self.QRELS, runs, "hybrid", ["hybrid-student-bi", doubled])
        assert choice["chosen"] == choice["best_candidate"] == doubled
        assert choice["scores"]["hybrid"] < choice["scores"][doubled]
        assert choice["test"]["improved"] == 3 and choice["test"]["hurt"] == 0
        assert selection.stage_weight(choice["chosen"]) == 2.0

    def test_the_baseline_is_kept_unless_a_candidate_is_strictly_better(self):
        tied = selection.pick(self.QRELS, {"teacher": self.FIRST, "student": self.FIRST}, "teacher", ["student"])
        assert tied["chosen"] == "teacher" and tied["best_candidate"] == "student"
        worse = selection.pick(self.QRELS, {"teacher": self.FIRST, "student": self.SECOND}, "teacher", ["student"])
        assert worse["chosen"] == "teacher" and worse["test"]["hurt"] == 3

    def test_stage_names_carry_the_weight(self):
        assert [selection.stage_weight(selection.student_stage(w)) for w in selection.DENSE_WEIGHTS] == list(
            selection.DENSE_WEIGHTS
        )
        assert selection.student_stage(1.0) == "hybrid-student-bi"


def _config(tmp_path: Path, corpus_file: Path, teacher: str, **overrides) -> AdaptConfig:
    options = {
        "corpus": str(corpus_file),
        "output_dir": str(tmp_path / "adapted"),
        "teacher_model": teacher,
        "pseudo_queries": 60,
        "held_out_fraction": 0.3,
        "depth": 8,
        "list_size": 4,
        "bi_encoder_ways": 3,
        "cross_encoder_steps": 2,
        "cross_encoder_batch_size": 2,
        "bi_encoder_steps": 2,
        "bi_encoder_batch_size": 2,
        "max_length": 64,
        "eval_depth": 5,
        "max_positive_rank": 8,
        "margin": 0.0,
        "progress_bar": False,
        "threads": 1,
    }
    return AdaptConfig(**{**options, **overrides})


def _stores(tmp_path: Path) -> AdaptStores:
    from haystack_rerank.config import Settings

    settings = Settings(
        lexical="memory", index="adapt", collection="adapt", data_dir=tmp_path / "data", embedding_dtype="float32"
    )
    return AdaptStores(settings, progress_bar=False)


@pytest.mark.slow
def test_adapt_end_to_end_then_rerun_is_free(tmp_path, tiny_cross_encoder):  # noqa: F811
    from haystack import Pipeline
    from sentence_transformers import CrossEncoder, SentenceTransformer

    corpus_file = _write_corpus(tmp_path / "corpus.jsonl", _corpus(60))
    config = _config(tmp_path, corpus_file, tiny_cross_encoder, bi_encoder_interpolation=0.5)
    summary = adapt(config, _stores(tmp_path))

    out = Path(config.output_dir)
    ce, bi = summary["students"]["cross-encoder"], summary["students"]["bi-encoder"]
    assert ce["steps"] == 2 and bi["steps"] == 2
    assert (
        ce["learning_rate"] == config.cross_encoder_lr == 2e-5
        and bi["learning_rate"] == config.bi_encoder_learning_rate
    )
    CrossEncoder(str(out / "cross-encoder"))  # the folders load as what they claim to be
    assert output_dimension(SentenceTransformer(str(out / "bi-encoder"))) == 384
    assert bi["collection"].startswith("adapt-bi-") and bi["collection"] != "adapt"
    assert "0.5 x the trained student + 0.5 x" in (out / "bi-encoder" / "README.md").read_text()
    card = (out / "cross-encoder" / "README.md").read_text()
    for fact in ("Pseudo-queries", "Teacher", "Steps: 2", "learning rate 2e-05", "held out", "Before / after"):
        assert fact in card
    held_out = summary["evaluation"]["held-out pseudo-queries"]["rows"]
    chosen = summary["selection"]
    best = chosen["first_stage"]["best_candidate"]
    assert {
        "hybrid",
        "dense",
        "teacher@5",
        "student-ce@5",
        "dense-student-bi",
        f"teacher@5 on {best}",
        f"student-ce+fs@5 on {best}",
        *(selection.student_stage(weight) for weight in selection.DENSE_WEIGHTS),
    } <= set(held_out)
    assert "vs_hybrid" in held_out["student-ce@5"] and "improved" in held_out["student-ce@5"]["vs_hybrid"]
    # the choices are the held-out rows' best, and the written pipeline is what they chose
    scores = chosen["first_stage"]["scores"]
    assert scores == {row: round(held_out[row]["ndcg@10"], 4) for row in scores}
    student_first = chosen["first_stage"]["chosen"] != "hybrid"
    assert student_first == (max(scores.values()) > scores["hybrid"])
    assert chosen["reranker"]["baseline"].startswith("teacher@5")
    pipeline_text = (out / "pipelines" / "hybrid_rerank.yaml").read_text()
    pipeline = Pipeline.loads(pipeline_text)
    assert pipeline.get_component("retriever").weights.get("dense", 1.0) == chosen["dense_weight"]
    assert (bi["collection"] in pipeline_text) == student_first == (str(out / "bi-encoder") in pipeline_text)
    assert pipeline.get_component("ranker").model == chosen["reranker_model"]
    assert chosen["reranker_model"] in (str(out / "cross-encoder"), config.teacher_model)
    assert "What pipelines/hybrid_rerank.yaml uses" in (out / "report.md").read_text()

    # a second run re-uses every phase: same queries, teacher lists from disk, no new training
    trained = (out / "cross-encoder" / "model.safetensors").stat().st_mtime_ns
    again = adapt(config, _stores(tmp_path))
    assert (out / "cross-encoder" / "model.safetensors").stat().st_mtime_ns == trained
    assert again["teacher_pairs"] == summary["teacher_pairs"]
    assert not list(out.glob("**/*.tmp"))


@pytest.mark.slow
def test_adapt_refuses_bad_input_before_writing(tmp_path, tiny_cross_encoder):  # noqa: F811
    small = _write_corpus(tmp_path / "small.jsonl", _corpus(10))
    with pytest.raises(ConfigurationError, match="at least 50"):
        adapt(_config(tmp_path, small, tiny_cross_encoder), _stores(tmp_path))
    corpus_file = _write_corpus(tmp_path / "corpus.jsonl", _corpus(60))
    from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, resolve_model

    with pytest.raises(ConfigurationError, match="not a cross-encoder"):
        adapt(_config(tmp_path, corpus_file, resolve_model(DEFAULT_EMBEDDING_MODEL)), _stores(tmp_path))
    with pytest.raises(ConfigurationError, match="not a bi-encoder"):
        adapt(_config(tmp_path, corpus_file, tiny_cross_encoder, embedding_model=tiny_cross_encoder), _stores(tmp_path))
    with pytest.raises(ConfigurationError, match="qrels"):
        adapt(_config(tmp_path, corpus_file, tiny_cross_encoder, labelled_dataset=str(tmp_path)), _stores(tmp_path))
    assert not (tmp_path / "adapted" / "work" / "teacher_lists.json").exists()
