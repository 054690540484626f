"""Run a pipeline YAML file for `ask --pipeline`, with errors that name the file and what is wrong in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from haystack_rerank.errors import ConfigurationError

EXAMPLE = "`inputs: {query: [retriever.query, ranker.query]}` (see pipelines/hybrid_rerank.yaml)"


def _refuse(path: Path, problem: str, err: Exception | None = None) -> ConfigurationError:
    cause = f" ({type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''})" if err else ""
    return ConfigurationError(f"--pipeline {path}: {problem}{cause}.")


def query_targets(path: Path, text: str) -> list[tuple[str, str]]:
    """The (component, socket) pairs the file's Hayhooks `inputs.query` names."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise _refuse(path, "is not valid YAML; fix the line the parser names", err) from err
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise _refuse(path, f"is {kind}; a pipeline file maps components, connections and {EXAMPLE}")
    inputs = data.get("inputs")
    targets = inputs.get("query") if isinstance(inputs, dict) else None
    if not targets:
        raise _refuse(path, f"the file declares no `inputs: query:` targets; add e.g. {EXAMPLE}")
    targets = [targets] if isinstance(targets, str) else targets
    if not isinstance(targets, list) or not all(isinstance(t, str) and "." in t.strip(".") for t in targets):
        raise _refuse(path, f"`inputs: query:` got {targets!r}; name component.socket pairs, e.g. {EXAMPLE}")
    return [tuple(target.split(".", 1)) for target in targets]  # type: ignore[misc]


def run_pipeline_file(path: Path, question: str) -> dict[str, Any]:
    """Run the pipeline in `path`, sending `question` to every socket its `inputs.query` names."""
    from haystack import Pipeline

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise _refuse(path, "cannot be read as UTF-8 text", err) from err
    targets = query_targets(path, text)
    try:
        pipeline = Pipeline.loads(text)
    except Exception as err:  # Haystack's DeserializationError, PipelineError, and the components' own errors
        raise _refuse(path, "is not a pipeline Haystack can load", err) from err
    inputs: dict[str, dict[str, Any]] = {}
    for component_name, socket in targets:
        if component_name not in dict(pipeline.graph.nodes):
            raise _refuse(path, f"`inputs: query:` names {component_name!r}, which is not a component of the file")
        inputs.setdefault(component_name, {})[socket] = question
    out = pipeline.run(inputs)
    return {name: dict(result.items()) for name, result in out.items()}
