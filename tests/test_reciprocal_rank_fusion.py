import pytest
from haystack import Document, Pipeline

from haystack_rerank.components.joiners import ReciprocalRankFusion
from haystack_rerank.errors import ConfigurationError


def docs(*ids, scores=None):
    return [Document(id=i, content=f"text {i}", score=(scores or {}).get(i)) for i in ids]


class TestInit:
    def test_defaults(self):
        rrf = ReciprocalRankFusion()
        assert (rrf.k, rrf.legs, rrf.weights, rrf.top_k) == (60, ["lexical", "dense"], {}, None)

    @pytest.mark.parametrize(
        ("kwargs", "fragment"),
        [
            ({"k": -1}, "k must be an integer >= 0, got -1"),
            ({"k": 1.5}, "k must be an integer"),
            ({"top_k": -3}, "top_k must be None or an integer >= 0, got -3"),
            ({"weights": {"lexical": -1}}, "weights['lexical'] must be a finite number >= 0, got -1"),
            ({"weights": {"lexical": float("nan")}}, "finite number"),
            ({"weights": {"bm42": 1.0}}, "weights name legs ['bm42']"),
            ({"legs": ["a", "a"]}, "distinct Python identifiers"),
            ({"legs": ["not valid"]}, "distinct Python identifiers"),
        ],
    )
    def test_invalid_parameters_are_named(self, kwargs, fragment):
        with pytest.raises(ConfigurationError) as err:
            ReciprocalRankFusion(**kwargs)
        assert fragment in str(err.value)


class TestScores:
    def test_hand_computed_scores_k60(self):
        rrf = ReciprocalRankFusion(legs=["a", "b"], k=60)
        out = rrf.run(a=docs("x", "y", "z"), b=docs("y", "w"))["documents"]
        expected = {"y": 1 / 62 + 1 / 61, "x": 1 / 61, "w": 1 / 62, "z": 1 / 63}
        assert [d.id for d in out] == ["y", "x", "w", "z"]
        for d in out:
            assert d.score == pytest.approx(expected[d.id], abs=1e-12)

    def test_weights_and_k(self):
        rrf = ReciprocalRankFusion(legs=["a", "b"], k=1, weights={"a": 2.0, "b": 0.5})
        out = {d.id: d.score for d in rrf.run(a=docs("x", "y"), b=docs("y", "x"))["documents"]}
        assert out["x"] == pytest.approx(2.0 / 2 + 0.5 / 3)
        assert out["y"] == pytest.approx(2.0 / 3 + 0.5 / 2)

    def test_zero_weight_leg_adds_nothing(self):
        rrf = ReciprocalRankFusion(legs=["a", "b"], weights={"b": 0.0})
        out = rrf.run(a=docs("x"), b=docs("y"))["documents"]
        assert [(d.id, d.score) for d in out] == [("x", pytest.approx(1 / 61)), ("y", 0.0)]

    def test_ties_break_on_best_rank_then_id(self):
        rrf = ReciprocalRankFusion(legs=["a", "b"])
        # p and q both score 1/61 + 1/62; r and s both 1/63: ties broken by best rank, then id
        out = rrf.run(a=docs("q", "p", "s"), b=docs("p", "q", "r"))["documents"]
        assert [d.id for d in out] == ["p", "q", "r", "s"]
        again = rrf.run(b=docs("p", "q", "r"), a=docs("q", "p", "s"))["documents"]
        assert [d.id for d in again] == [d.id for d in out]

    def test_duplicates_merge_keep_first_leg_content_and_provenance(self):
        rrf = ReciprocalRankFusion(legs=["lexical", "dense"])
        lexical = [Document(id="d", content="lexical copy", score=12.5)]
        dense = [Document(id="e", content="other", score=0.9), Document(id="d", content="dense copy", score=0.8)]
        out = rrf.run(lexical=lexical, dense=dense)["documents"]
        merged = next(d for d in out if d.id == "d")
        assert merged.content == "lexical copy"
        assert merged.meta["rrf"] == {"lexical": {"rank": 1, "score": 12.5}, "dense": {"rank": 2, "score": 0.8}}
        assert len(out) == 2

    def test_repeated_id_within_one_leg_keeps_best_rank(self):
        rrf = ReciprocalRankFusion(legs=["a"])
        out = rrf.run(a=docs("x", "y", "x"))["documents"]
        assert [d.id for d in out] == ["x", "y"]
        assert out[0].score == pytest.approx(1 / 61)

    def test_empty_and_missing_legs(self):
        rrf = ReciprocalRankFusion(legs=["a", "b"])
        assert rrf.run(a=[], b=[])["documents"] == []
        assert [d.id for d in rrf.run(a=docs("x"))["documents"]] == ["x"]

    def test_top_k_init_and_runtime_zero_is_honoured(self):
        rrf = ReciprocalRankFusion(legs=["a"], top_k=2)
        assert len(rrf.run(a=docs("x", "y", "z"))["documents"]) == 2
        assert rrf.run(a=docs("x", "y", "z"), top_k=0)["documents"] == []

    def test_inputs_not_mutated(self):
        original = docs("x", scores={"x": 3.0})
        ReciprocalRankFusion(legs=["a"]).run(a=original)
        assert original[0].score == 3.0 and "rrf" not in original[0].meta

    def test_unknown_leg_at_run_time(self):
        with pytest.raises(ConfigurationError, match="got inputs \\['c'\\]"):
            ReciprocalRankFusion(legs=["a"]).run(c=docs("x"))


class TestSerialization:
    def test_to_dict_from_dict(self):
        rrf = ReciprocalRankFusion(legs=["bm25", "dense"], k=10, weights={"bm25": 2.0}, top_k=5)
        data = rrf.to_dict()
        assert data == {
            "type": "haystack_rerank.components.joiners.reciprocal_rank_fusion.ReciprocalRankFusion",
            "init_parameters": {"legs": ["bm25", "dense"], "k": 10, "weights": {"bm25": 2.0}, "top_k": 5},
        }
        again = ReciprocalRankFusion.from_dict(data)
        assert (again.legs, again.k, again.weights, again.top_k) == (["bm25", "dense"], 10, {"bm25": 2.0}, 5)

    def test_yaml_round_trip_in_pipeline(self):
        pipeline = Pipeline()
        pipeline.add_component("rrf", ReciprocalRankFusion(legs=["bm25", "dense"], k=5))
        text = pipeline.dumps()
        loaded = Pipeline.loads(text)
        assert loaded.dumps() == text
        out = loaded.run({"rrf": {"bm25": docs("x"), "dense": docs("x", "y")}})["rrf"]["documents"]
        assert [d.id for d in out] == ["x", "y"]
        assert out[0].score == pytest.approx(2 / 6)
