"""
A small cross-encoder for the cascade made from the full one's lower layers (no training): keep the first
--layers transformer layers and the classifier head, save as a sentence-transformers folder.

    python benchmarks/make_truncated_cross_encoder.py --layers 2 --output /tmp/models/starter-l2
"""

from __future__ import annotations

import argparse
from pathlib import Path


def truncate(model: str, layers: int, output: Path) -> Path:
    from sentence_transformers import CrossEncoder

    import haystack_rerank  # noqa: F401  (registers the starter model name)
    from haystack_rerank.models import resolve_model

    cross_encoder = CrossEncoder(resolve_model(model), device="cpu")
    encoder = cross_encoder.model.base_model.encoder
    encoder.layer = encoder.layer[:layers]
    cross_encoder.model.config.num_hidden_layers = layers
    cross_encoder.save_pretrained(str(output))
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="haystack-rerank/scifact-minilm-l6-ce")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    print(truncate(args.model, args.layers, args.output))


if __name__ == "__main__":
    main()
