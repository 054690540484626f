"""Build a trainable cross-encoder from a bi-encoder checkpoint, as a standard classification model."""

from __future__ import annotations

from typing import Any

from torch import nn


def build_cross_encoder(base_model: str, *, max_length: int, reinit_pooler: bool = True, seed: int = 42) -> Any:
    """
    `CrossEncoder(base_model, num_labels=1)` with a head that can learn quickly.

    A bi-encoder such as all-MiniLM-L6-v2 was trained through mean pooling: its checkpoint pooler
    (dense + tanh on [CLS]) was never trained and outputs nearly constant, tiny values, which is why a
    naive fine-tune learns only the class prior. With `reinit_pooler` the pooler becomes the identity
    (pooled = tanh(h_[CLS]), which varies with the input from step one) and the classifier gets a
    seeded small init. The result stays a plain `BertForSequenceClassification`-style model, so the saved
    folder loads with `CrossEncoder(folder)`.
    """
    import torch
    from sentence_transformers import CrossEncoder

    from haystack_rerank.models import resolve_model

    torch.manual_seed(seed)
    model = CrossEncoder(resolve_model(base_model), num_labels=1, max_length=max_length)
    if reinit_pooler:
        reinitialise_head(model.model, seed=seed)
    return model


def reinitialise_head(hf_model: Any, *, seed: int = 42) -> None:
    """Identity pooler dense layer (zero bias) and a seeded N(0, 0.02) classifier with zero bias."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        base = getattr(hf_model, hf_model.base_model_prefix, None)
        pooler = getattr(base, "pooler", None)
        if pooler is not None and hasattr(pooler, "dense"):
            pooler.dense.weight.copy_(torch.eye(pooler.dense.weight.shape[0], dtype=pooler.dense.weight.dtype))
            pooler.dense.bias.zero_()
        classifier = hf_model.classifier
        linear = classifier if isinstance(classifier, nn.Linear) else classifier.out_proj
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.02)
        linear.bias.zero_()


def head_parameter_names(hf_model: Any) -> list[str]:
    """Names (as in `named_parameters()`) of the pooler and classifier parameters: the new head."""
    return [
        name for name, _ in hf_model.named_parameters() if ".pooler." in f".{name}" or name.startswith("classifier")
    ]


def listwise_loss(model: Any, *, in_batch_negatives: int = 0) -> nn.Module:
    """
    Softmax cross-entropy over (positive, hard negatives[, in-batch negatives]) on the raw logits.

    sentence-transformers' MultipleNegativesRankingLoss with identity activation and scale 1; with
    `in_batch_negatives=0` it scores only each row's own columns (in a cross-encoder every in-batch
    negative costs a full forward pass).
    """
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss

    class HardNegativesRankingLoss(MultipleNegativesRankingLoss):
        def get_in_batch_negatives(self, anchors: list[str], candidates: list[list[str]]):  # type: ignore[override]
            if not self.num_negatives:
                return iter(())
            return super().get_in_batch_negatives(anchors, candidates)

    return HardNegativesRankingLoss(model, num_negatives=in_batch_negatives, scale=1.0, activation_fn=nn.Identity())
