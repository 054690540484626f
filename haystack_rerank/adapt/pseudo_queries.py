"""
Pseudo-queries from a corpus, without labels: each one is written from a passage (its *source*).

Strategies (all seeded, all documented in the model card):

- ``title``: the passage's title; the source is then shown without its title (else the query is in it).
- ``sentence``: one sentence of the passage (8-40 words); the source is shown without that sentence
  (inverse cloze task), so the query has to be matched on meaning, not copied words.
- ``keywords``: 3-5 of the passage's most distinctive terms (TF-IDF over the corpus), in passage order:
  the short keyword queries people type into search boxes.
- ``question``: a question built from those terms ("how does X affect Y?", "what is known about X?"):
  the question style of help desks and library catalogues. Template-made, so crude, but it gives the
  student question-shaped inputs that claims and titles lack.

Near-duplicates (the same content words, Jaccard >= 0.8) are dropped, and the queries of a seeded slice
of *source passages* are held out: no held-out source is ever a training positive.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from haystack_rerank.errors import ConfigurationError

STRATEGIES = ("title", "sentence", "keywords", "question")
QUESTION_TEMPLATES = (
    "what is known about {a} and {b}?",
    "how does {a} affect {b}?",
    "what is the role of {a} in {b}?",
    "what are the methods for {a} in {b}?",
    "is there evidence on {a} and {b}?",
)
SENTENCE_WORDS = (8, 40)
NEAR_DUPLICATE_JACCARD = 0.8

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "being",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "may",
        "might",
        "more",
        "most",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "his",
        "her",
        "him",
        "she",
        "he",
        "i",
        "me",
        "my",
        "its",
        "also",
        "one",
        "two",
        "new",
        "also",
        "between",
        "both",
        "each",
        "other",
        "over",
        "under",
        "after",
        "before",
        "about",
        "against",
        "during",
        "through",
        "very",
        "using",
        "used",
        "use",
        "based",
    ]
)


@dataclass(frozen=True)
class PseudoQuery:
    """A query written from `source` (a document id); `held_out` ones are only used to measure."""

    id: str
    text: str
    strategy: str
    source: str
    held_out: bool = False
    hide_title: bool = False
    removed_sentence: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def content_words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS and len(word) > 2]


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text or "") if part.strip()]


def generate(
    corpus: Mapping[str, tuple[str, str]],
    *,
    count: int,
    strategies: Sequence[str] = STRATEGIES,
    held_out_fraction: float = 0.1,
    seed: int = 42,
) -> list[PseudoQuery]:
    """
    About `count` pseudo-queries from `corpus` (id -> (title, text)), spread evenly over `strategies`
    and over seeded source passages (one query per passage while passages last).
    """
    _validate(corpus, count, strategies, held_out_fraction)
    rng = random.Random(seed)
    doc_ids = sorted(d for d, (_, text) in corpus.items() if len(content_words(text)) >= 5)
    if not doc_ids:
        msg = "adapt: no document has 5 or more content words to write a query from; check the corpus text field."
        raise ConfigurationError(msg)
    rng.shuffle(doc_ids)
    # each passage is held out by a seeded draw of its own, independent of its position (and so of the
    # strategy it gets): the held-out share holds however many passages are used, for every strategy
    held_out_sources = {doc for doc in doc_ids if random.Random(f"{seed}:{doc}").random() < held_out_fraction}
    terms = _distinctive_terms(corpus, doc_ids)

    queries: list[PseudoQuery] = []
    seen: _NearDuplicates = _NearDuplicates()
    attempts = 0
    order = list(doc_ids)
    while len(queries) < count and attempts < 4 * count + len(order):
        source = order[attempts % len(order)]
        strategy = strategies[(attempts + attempts // len(order)) % len(strategies)]
        attempts += 1
        made = _write(strategy, source, corpus[source], terms.get(source, []), rng)
        if made is None or not seen.add(made["text"]):
            continue
        queries.append(
            PseudoQuery(
                id=f"pq-{strategy}-{source}-{attempts}",
                source=source,
                strategy=strategy,
                held_out=source in held_out_sources,
                **made,
            )
        )
    return queries


def _validate(
    corpus: Mapping[str, tuple[str, str]], count: int, strategies: Sequence[str], held_out_fraction: float
) -> None:
    unknown = [s for s in strategies if s not in STRATEGIES]
    if not strategies or unknown:
        msg = f"adapt strategies got {list(strategies)!r}; choose one or more of {', '.join(STRATEGIES)}."
        raise ConfigurationError(msg)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        msg = f"adapt pseudo-query count got {count!r}; it must be a positive integer, e.g. 2000."
        raise ConfigurationError(msg)
    if not 0.0 <= held_out_fraction < 0.5:
        msg = f"adapt held_out_fraction got {held_out_fraction!r}; use a fraction in [0, 0.5), e.g. 0.1."
        raise ConfigurationError(msg)
    if not corpus:
        raise ConfigurationError("adapt got an empty corpus: there is nothing to write queries from.")


def _write(strategy: str, source: str, document: tuple[str, str], terms: list[str], rng: random.Random) -> dict | None:
    title, text = document
    if strategy == "title":
        if len(content_words(title)) < 3:
            return None
        return {"text": title.strip(), "hide_title": True}
    if strategy == "sentence":
        candidates = [s for s in sentences(text) if SENTENCE_WORDS[0] <= len(s.split()) <= SENTENCE_WORDS[1]]
        if len(sentences(text)) < 2 or not candidates:
            return None
        chosen = rng.choice(candidates)
        return {"text": chosen, "removed_sentence": chosen}
    if len(terms) < 3:
        return None
    if strategy == "keywords":
        picked = rng.sample(terms[:8], min(len(terms[:8]), rng.randint(3, 5)))
        position = {term: index for index, term in enumerate(content_words(f"{title} {text}"))}
        words = " ".join(sorted(picked, key=lambda t: position.get(t.split()[0], 0))).split()
        return {"text": " ".join(dict.fromkeys(words))}  # a word shared by two phrases once
    first, second = rng.sample(terms[:6], 2)
    return {"text": rng.choice(QUESTION_TEMPLATES).format(a=first, b=second)}


def _distinctive_terms(corpus: Mapping[str, tuple[str, str]], doc_ids: list[str]) -> dict[str, list[str]]:
    """
    Each document's distinctive terms, best first: content words and two-word phrases weighted by TF-IDF
    over the corpus (sklearn), keeping those in the title or repeated in the passage (a word used once in
    passing is rarely what the passage is about).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        sublinear_tf=True,
        tokenizer=content_words,
        lowercase=False,
        token_pattern=None,
        ngram_range=(1, 2),
        max_df=0.2,
        min_df=2,
    )
    texts = [f"{corpus[d][0]} {corpus[d][1]}" for d in doc_ids]
    matrix = vectorizer.fit_transform(texts).tocsr()
    vocabulary = vectorizer.get_feature_names_out()
    best: dict[str, list[str]] = {}
    for row, doc_id in enumerate(doc_ids):
        title = " ".join(content_words(corpus[doc_id][0]))
        body = " ".join(content_words(corpus[doc_id][1]))
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        weights = sorted(zip(matrix.data[start:end], matrix.indices[start:end], strict=True), reverse=True)
        terms = [str(vocabulary[index]) for _, index in weights]
        salient = [t for t in terms if f" {t} " in f" {title} " or f" {body} ".count(f" {t} ") >= 2]
        chosen: list[str] = []
        for term in salient:  # a phrase and its own words are one idea: keep the first of them
            if not any(term in other or other in term for other in chosen):
                chosen.append(term)
        best[doc_id] = chosen[:10]
    return best


class _NearDuplicates:
    """Token-set Jaccard against earlier queries that share a content word (an inverted index keeps it fast)."""

    def __init__(self) -> None:
        self._sets: list[frozenset[str]] = []
        self._postings: dict[str, list[int]] = {}

    def add(self, text: str) -> bool:
        words = frozenset(content_words(text))
        if not words:
            return False
        candidates = {index for word in words for index in self._postings.get(word, ())}
        for index in candidates:
            other = self._sets[index]
            if len(words & other) / len(words | other) >= NEAR_DUPLICATE_JACCARD:
                return False
        for word in words:
            self._postings.setdefault(word, []).append(len(self._sets))
        self._sets.append(words)
        return True
