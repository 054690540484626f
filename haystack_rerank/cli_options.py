"""
The command line's shared options. The connection options are declared once, on the app: they build the
`Settings` every command reads (`settings_of`). They may stand before or after the command name
(`haystack-rerank --lexical memory index ...` or `haystack-rerank index ... --lexical memory`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from haystack_rerank.config import VARIABLES, Settings


class Lexical(str, Enum):
    opensearch = "opensearch"
    memory = "memory"


class OnBadLine(str, Enum):
    error = "error"
    skip = "skip"


def _env_help(text: str, variable: str) -> str:
    return f"{text} (env: {variable}; default: {VARIABLES[variable].shown_default.replace('`', '')})"


def connection_options(
    ctx: typer.Context,
    lexical: Annotated[
        Lexical | None,
        typer.Option(help="BM25 backend: a real OpenSearch node, or in-process (embedded). (default: opensearch)"),
    ] = None,
    opensearch_hosts: Annotated[
        str | None, typer.Option(help=_env_help("OpenSearch URL(s), comma-separated.", "OPENSEARCH_HOSTS"))
    ] = None,
    index: Annotated[
        str | None, typer.Option(help=_env_help("OpenSearch index / BM25 store name.", "OPENSEARCH_INDEX"))
    ] = None,
    qdrant_url: Annotated[
        str | None, typer.Option(help=_env_help("Qdrant server URL; unset = embedded Qdrant.", "QDRANT_URL"))
    ] = None,
    qdrant_path: Annotated[str | None, typer.Option(help=_env_help("Embedded Qdrant folder.", "QDRANT_PATH"))] = None,
    collection: Annotated[str | None, typer.Option(help=_env_help("Qdrant collection.", "QDRANT_COLLECTION"))] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help=_env_help("Folder for embedded stores.", "HAYSTACK_RERANK_DATA"))
    ] = None,
) -> None:
    """Hybrid retrieval and cross-encoder reranking for Haystack. Connection options: flag > environment > default."""
    given = {
        "lexical": lexical.value if lexical else None,
        "opensearch_hosts": opensearch_hosts,
        "index": index,
        "qdrant_url": qdrant_url,
        "qdrant_path": qdrant_path,
        "collection": collection,
        "data_dir": data_dir,
    }
    ctx.obj = {"given": given}


def report(summary: dict[str, Any], as_json: bool, as_text: Callable[[dict[str, Any]], str] | None = None) -> None:
    """Print a command's summary: JSON, else `as_text(summary)` (by default one `key: value` line each)."""
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    elif as_text is not None:
        typer.echo(as_text(summary))
    else:
        for key, value in summary.items():
            typer.echo(f"{key}: {value}")


def settings_of(ctx: typer.Context) -> Settings:
    """The settings of this invocation (built when a command first needs them)."""
    state: dict[str, Any] = ctx.find_root().obj
    if "settings" not in state:
        state["settings"] = Settings.given(**state["given"])
    return state["settings"]


CONNECTION_OPTIONS = ("--lexical", "--opensearch-hosts", "--index", "--qdrant-url", "--qdrant-path", "--collection",
                      "--data-dir")  # fmt: skip


class ConnectionGroup(TyperGroup):
    """Accepts the app's connection options after the command name too, as every command always has."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        head, rest = [], list(args)
        while rest and rest[0].startswith("-"):  # options before the command name: each takes a value
            head.append(rest.pop(0))
            if rest and "=" not in head[-1] and head[-1] in CONNECTION_OPTIONS:
                head.append(rest.pop(0))
        if not rest:
            return super().parse_args(ctx, head)
        command, rest = rest[0], rest[1:]
        moved, kept = [], []
        while rest:
            arg = rest.pop(0)
            if arg.split("=", 1)[0] in CONNECTION_OPTIONS:
                moved.append(arg)
                if "=" not in arg and rest:
                    moved.append(rest.pop(0))
            else:
                kept.append(arg)
        return super().parse_args(ctx, [*head, *moved, command, *kept])


OnBadLineOpt = Annotated[
    OnBadLine,
    typer.Option(help="A malformed JSONL line: stop with its file and line number (error), or skip and count it."),
]
SkipMalformedOpt = Annotated[bool, typer.Option(hidden=True, help="Same as --on-bad-line skip (older spelling).")]
RerankerModelOpt = Annotated[
    str, typer.Option(help="Cross-encoder: hub name or local folder (default: the bundled SciFact starter model).")
]
AlphaOpt = Annotated[
    float,
    typer.Option(
        min=0.0, max=1.0, help="Final score = alpha * cross-encoder + (1 - alpha) * fused score; 1 = CE only."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of text.")]
