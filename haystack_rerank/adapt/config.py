"""Every knob of `haystack-rerank adapt`, with its default, in one dataclass (written to the model cards)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from haystack_rerank.adapt.interpolation import check_weight
from haystack_rerank.adapt.pseudo_queries import STRATEGIES
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, STARTER_RERANK_MODEL

STUDENTS = ("cross-encoder", "bi-encoder")
MIN_DOCUMENTS = 50  # fewer passages than this cannot give a held-out slice and enough distinct queries


@dataclass
class AdaptConfig:
    """
    Knobs of `adapt`. The defaults were set before looking at any evaluation split: temperature, margin and
    list size follow the distillation literature (listwise KD over ~8 candidates); the query count and step
    counts fit the whole adaptation of a 5,000-passage corpus into an hour on 2 cores (measured: 48 min on SciFact,
    ~4 s a cross-encoder step, ~8-9 s a bi-encoder step, on a CPU with bf16 units; 104 min on one without them:
    BENCHMARKS "The whole adaptation on 5,183 passages" and "`adapt` chooses on held-out pseudo-queries").
    """

    corpus: str
    output_dir: str
    teacher_model: str = STARTER_RERANK_MODEL
    # the teacher ensemble: alpha * sigmoid(cross-encoder) + (1 - alpha) * min-max(first stage); None = alone
    teacher_alpha: float | None = 0.5
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    pseudo_queries: int = 600
    strategies: tuple[str, ...] = STRATEGIES
    held_out_fraction: float = 0.1
    labelled_dataset: str | None = None  # a BEIR folder whose qrels/<labelled_split>.tsv labels some queries
    labelled_split: str = "train"
    eval_dataset: str | None = None  # a BEIR folder and split used only to report before/after
    eval_split: str = "dev"
    depth: int = 20  # hybrid candidates per query, scored by the teacher
    list_size: int = 8  # positive + negatives per training list
    temperature: float = 0.1  # teacher scores (in [0, 1]) / temperature = the student's target logits
    margin: float = 0.05  # a non-positive scored within this of the positive is a suspected false negative
    max_positive_rank: int = 5  # drop a query whose positive the teacher ranks below this
    students: tuple[str, ...] = STUDENTS
    student_layers: int | None = None  # keep only the first n layers of the cross-encoder student (cascade)
    cross_encoder_steps: int = 200
    cross_encoder_batch_size: int = 4
    # None: 2e-5 for the full student; 2e-4 for a truncated one (student_layers), which starts from a near-constant
    # output and needs the larger steps to leave it (measured: see BENCHMARKS "Cascade and gating")
    cross_encoder_learning_rate: float | None = None
    bi_encoder_steps: int = 150
    bi_encoder_batch_size: int = 16
    bi_encoder_learning_rate: float = 2e-5
    bi_encoder_ways: int = 4  # positive + 3 negatives per KL row
    # cosine / 0.05 against teacher score / temperature: both spread over a few logits, like MNRL's scale 20
    bi_encoder_temperature: float = 0.05
    # weight of in-batch negatives (MNRL) added to the KL; 0 = KL alone. 1.0 chosen on a 150-claim train slice
    # (dense nDCG@10 0.729 -> 0.739 vs KL alone, p=0.023; BENCHMARKS "In-batch negatives for the bi-encoder student")
    bi_encoder_in_batch_weight: float = 1.0
    # WiSE-FT: the trained bi-encoder averaged with its start, weight * student + (1 - weight) * start; 1 = the
    # student as trained (BENCHMARKS "The bi-encoder student averaged with its start": 0.5 measured there).
    bi_encoder_interpolation: float = 1.0
    max_length: int = 192
    eval_depth: int = 50
    seed: int = 42
    threads: int | None = None
    progress_bar: bool = True
    command: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.strategies = tuple(self.strategies)
        self.students = tuple(self.students)
        unknown = [s for s in self.students if s not in STUDENTS]
        if unknown:
            msg = f"adapt students got {unknown!r}; choose from {', '.join(STUDENTS)}."
            raise ConfigurationError(msg)
        positive = (
            "pseudo_queries",
            "depth",
            "list_size",
            "max_positive_rank",
            "cross_encoder_steps",
            "cross_encoder_batch_size",
            "bi_encoder_steps",
            "bi_encoder_batch_size",
            "max_length",
            "eval_depth",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"adapt {name} got {value!r}; it must be a positive integer."
                raise ConfigurationError(msg)
        if self.list_size < 3 or self.bi_encoder_ways < 3 or self.bi_encoder_ways > self.list_size:
            msg = (
                f"adapt list_size={self.list_size}, bi_encoder_ways={self.bi_encoder_ways}: a list needs a positive "
                "and at least 2 negatives (>= 3), and bi_encoder_ways must be in 3..list_size."
            )
            raise ConfigurationError(msg)
        if self.teacher_alpha is not None and not 0.0 <= self.teacher_alpha <= 1.0:
            msg = f"adapt teacher_alpha got {self.teacher_alpha!r}; use a weight in [0, 1], or None for the CE alone."
            raise ConfigurationError(msg)
        rate = self.cross_encoder_learning_rate
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1):
            msg = f"adapt cross_encoder_learning_rate got {rate!r}; use a rate in (0, 1), e.g. 2e-5, or None."
            raise ConfigurationError(msg)
        if self.bi_encoder_in_batch_weight < 0:
            msg = f"adapt bi_encoder_in_batch_weight got {self.bi_encoder_in_batch_weight!r}; use a weight >= 0."
            raise ConfigurationError(msg)
        check_weight(self.bi_encoder_interpolation)
        for name in ("temperature", "bi_encoder_temperature", "margin"):
            if getattr(self, name) < 0 or (name != "margin" and getattr(self, name) == 0):
                msg = f"adapt {name} got {getattr(self, name)!r}; it must be > 0 (temperatures) or >= 0 (margin)."
                raise ConfigurationError(msg)

    @property
    def cross_encoder_lr(self) -> float:
        if self.cross_encoder_learning_rate is not None:
            return self.cross_encoder_learning_rate
        return 2e-4 if self.student_layers else 2e-5

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
