"""Fine-tune cross-encoders for CrossEncoderRanker: hard negatives, training, model card."""

from haystack_rerank.finetune.card import add_card_section, read_training_queries, write_model_card
from haystack_rerank.finetune.data import lexical_neighbours, mine_hard_negatives, title_queries
from haystack_rerank.finetune.train import FinetuneConfig, FinetuneResult, finetune

__all__ = [
    "FinetuneConfig",
    "FinetuneResult",
    "add_card_section",
    "finetune",
    "lexical_neighbours",
    "mine_hard_negatives",
    "read_training_queries",
    "title_queries",
    "write_model_card",
]
