"""An offline answer stage: sentences of the top reranked documents, scored by the cross-encoder."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from haystack import Document, component, default_to_dict
from haystack.core.serialization import import_class_by_name
from haystack.dataclasses import ExtractedAnswer
from haystack.utils.deserialization import deserialize_component_inplace

from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.rankers._shared import answerer_ranker_from_dict as shared_ranker
from haystack_rerank.errors import ConfigurationError

# Sentences read per document: bounds the cost of a huge document (a 1 MB text has ~10,000 sentences).
MAX_SENTENCES_PER_DOCUMENT = 100
# A sentence ends at . ! or ? followed by whitespace and an upper-case letter, digit, quote or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (whitespace-trimmed, empty ones dropped)."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for begin, end in spans:
        piece = text[begin:end]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            trimmed.append((begin + left, begin + right))
    return trimmed


@component
class ExtractiveAnswerer:
    """
    Answers without an LLM: splits the top `documents_to_read` reranked documents into sentences, scores every
    (query, sentence) pair with a `CrossEncoderRanker` (batched and cached like any rerank), and returns the
    best sentences as `ExtractedAnswer`s with their source document, character span and a context window.
    The first answer quotes the top-ranked document (`quote_top_document`): the ranker read that document whole,
    while a sentence scored alone has lost its context; the other answers follow by sentence score.

    When the upstream ranker flagged low confidence (`meta["low_confidence"]`), or the quoted sentence scores
    under `low_confidence_threshold`, the first answer is a no-answer (`data=None`) saying so: the pipeline
    then says "I don't know" instead of quoting a weak sentence.

    Usage example:
    ```python
    from haystack import Document
    from haystack_rerank.components.rankers import CrossEncoderRanker
    from haystack_rerank.components.readers import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(ranker=CrossEncoderRanker(model="haystack-rerank/scifact-minilm-l6-ce"))
    answerer.warm_up()
    docs = [Document(id="1", content="Salt raises blood pressure. Cats sleep a lot.")]
    print(answerer.run(query="What raises blood pressure?", documents=docs)["answers"][0].data)
    ```
    """

    def __init__(
        self,
        *,
        ranker: CrossEncoderRanker,
        documents_to_read: int = 3,
        top_k: int = 3,
        context_sentences: int = 1,
        min_sentence_chars: int = 15,
        low_confidence_threshold: float | None = None,
        quote_top_document: bool = True,
    ) -> None:
        """
        :param ranker: The cross-encoder that scores (query, sentence) pairs, by its own score (no `alpha`
            interpolation, no `score_threshold`); usually the pipeline's ranker itself, so both stages share one
            model and one cache. Rebuilt from YAML, it is the pipeline's ranker again when both carry the same
            configuration (as `pipelines.rag_extractive` writes them).
        :param documents_to_read: How many of the top documents are split into sentences.
        :param top_k: How many answers to return.
        :param context_sentences: Sentences on each side of the answer included in `context`.
        :param min_sentence_chars: Shorter fragments (headings, numbers) are not candidates.
        :param low_confidence_threshold: Score of the quoted sentence under which the answer is "not confident".
        :param quote_top_document: The first answer is the best sentence of the first document given (the
            ranker's top one); False: the best-scored sentence of any document read (measured in BENCHMARKS.md,
            "Which document the answer quotes").
        """
        for name, value, minimum in (
            ("documents_to_read", documents_to_read, 1),
            ("top_k", top_k, 0),
            ("context_sentences", context_sentences, 0),
            ("min_sentence_chars", min_sentence_chars, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                msg = f"ExtractiveAnswerer: {name} must be an integer >= {minimum}, got {value!r}."
                raise ConfigurationError(msg)
        if not isinstance(ranker, CrossEncoderRanker):
            msg = f"ExtractiveAnswerer: ranker must be a CrossEncoderRanker, got {type(ranker).__name__}."
            raise ConfigurationError(msg)
        if not isinstance(quote_top_document, bool):
            msg = f"ExtractiveAnswerer: quote_top_document must be true or false, got {quote_top_document!r}."
            raise ConfigurationError(msg)
        self.ranker = ranker
        self.documents_to_read = documents_to_read
        self.top_k = top_k
        self.context_sentences = context_sentences
        self.min_sentence_chars = min_sentence_chars
        self.low_confidence_threshold = low_confidence_threshold
        self.quote_top_document = quote_top_document

    def warm_up(self) -> None:
        self.ranker.warm_up()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            ranker=self.ranker.to_dict(),
            documents_to_read=self.documents_to_read,
            top_k=self.top_k,
            context_sentences=self.context_sentences,
            min_sentence_chars=self.min_sentence_chars,
            low_confidence_threshold=self.low_confidence_threshold,
            quote_top_document=self.quote_top_document,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractiveAnswerer:
        init_parameters = dict(data.get("init_parameters", {}))
        ranker_data = init_parameters.get("ranker")
        ranker_class = import_class_by_name(ranker_data["type"]) if isinstance(ranker_data, dict) else None
        if isinstance(ranker_class, type) and issubclass(ranker_class, CrossEncoderRanker):  # the allowlist checked it
            init_parameters["ranker"] = shared_ranker(ranker_data, lambda: ranker_class.from_dict_unshared(ranker_data))
        else:
            deserialize_component_inplace(init_parameters, key="ranker")
        return cls(**init_parameters)

    @component.output_types(answers=list[ExtractedAnswer], meta=dict[str, Any])
    def run(self, query: str, documents: list[Document], meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """
        :param query: The question.
        :param documents: Reranked documents, best first.
        :param meta: The upstream ranker's `meta`; its `low_confidence` flag is honoured.
        :returns: `answers` (best first; a no-answer first when not confident) and `meta` with
            `low_confidence`, `sentences_scored`, `sentences_not_read` (beyond the first
            `MAX_SENTENCES_PER_DOCUMENT` of a document) and the scoring ranker's cache and timing figures.
        :raises ConfigurationError: the query is empty or not a string, or `documents` is not a list of Documents.
        """
        if not isinstance(query, str) or not query.strip():
            msg = f"ExtractiveAnswerer query got {query!r}; pass the user's question as a non-empty string."
            raise ConfigurationError(msg)
        if not isinstance(documents, list) or not all(isinstance(doc, Document) for doc in documents):
            msg = f"ExtractiveAnswerer documents got {type(documents).__name__}; pass a list of Document objects."
            raise ConfigurationError(msg)
        candidates: list[Document] = []
        sources: dict[str, tuple[Document, list[tuple[int, int]], int]] = {}
        readable: dict[str, Document] = {}  # documents with text, the first copy of a repeated id
        for doc in documents:
            if (doc.content or "").strip():
                readable.setdefault(doc.id, doc)
        not_read = 0
        for doc in list(readable.values())[: self.documents_to_read]:
            spans = split_sentences(doc.content or "")
            not_read += max(0, len(spans) - MAX_SENTENCES_PER_DOCUMENT)
            spans = spans[:MAX_SENTENCES_PER_DOCUMENT]
            for index, (start, end) in enumerate(spans):
                if end - start < self.min_sentence_chars:
                    continue
                sentence_id = f"{doc.id}#s{index}"
                sources[sentence_id] = (doc, spans, index)
                # the sentence keeps its document's meta: a ranker embedding the title reads it in its context
                sentence = Document(id=sentence_id, content=doc.content[start:end], meta=dict(doc.meta or {}))  # type: ignore[index]
                candidates.append(sentence)
        scored = self.ranker.rank_by_model(query, candidates, top_k=len(candidates))
        sentences = scored["documents"]
        if self.quote_top_document and sentences:
            # the top document's best sentence first; a top document without one leaves the best sentence first
            top_id = next(iter(readable))
            first = next((i for i, sentence in enumerate(sentences) if sources[sentence.id][0].id == top_id), 0)
            sentences = [sentences[first], *sentences[:first], *sentences[first + 1 :]]
        answers = [self._answer(query, sentence, *sources[sentence.id]) for sentence in sentences]
        answers = answers[: self.top_k]

        best = answers[0].score if answers else None  # the quoted sentence's score
        upstream_low = bool((meta or {}).get("low_confidence"))
        below = best is None or (self.low_confidence_threshold is not None and best < self.low_confidence_threshold)
        low_confidence = upstream_low or below
        if low_confidence:
            reason = (
                "no candidate sentence"
                if best is None
                else (
                    "the reranker's best document scored under its threshold"
                    if upstream_low
                    else "the quoted sentence scored under low_confidence_threshold"
                )
            )
            answers.insert(
                0,
                ExtractedAnswer(
                    query=query, score=1.0 - (best or 0.0), data=None, meta={"low_confidence": True, "reason": reason}
                ),
            )
        out_meta = {
            "low_confidence": low_confidence,
            "sentences_scored": len(candidates),
            "sentences_not_read": not_read,
            "scoring": scored["meta"],
        }
        return {"answers": answers, "meta": out_meta}

    @component.output_types(answers=list[ExtractedAnswer], meta=dict[str, Any])
    async def run_async(
        self, query: str, documents: list[Document], meta: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Same as `run`, on a worker thread."""
        return await asyncio.to_thread(self.run, query, documents, meta)

    def _answer(
        self, query: str, sentence: Document, doc: Document, spans: list[tuple[int, int]], index: int
    ) -> ExtractedAnswer:
        start, end = spans[index]
        first = spans[max(0, index - self.context_sentences)][0]
        last = spans[min(len(spans) - 1, index + self.context_sentences)][1]
        content = doc.content or ""
        return ExtractedAnswer(
            query=query,
            score=float(sentence.score or 0.0),
            data=content[start:end],
            document=doc,
            context=content[first:last],
            document_offset=ExtractedAnswer.Span(start, end),
            context_offset=ExtractedAnswer.Span(start - first, end - first),
            meta={"source_id": doc.id, "sentence": index},
        )
