"""One exception tree for the package: catch `HaystackRerankError` to catch them all."""


class HaystackRerankError(Exception):
    """Base class of every error raised by haystack-rerank."""


class ConfigurationError(HaystackRerankError, ValueError):
    """A parameter, environment variable or file has a value that cannot work; the message names the fix."""


class ServiceUnavailableError(HaystackRerankError, RuntimeError):
    """A backing service (OpenSearch, Qdrant, Redis) could not be reached or answered with an error."""


class MissingIndexError(HaystackRerankError, LookupError):
    """A query reached an index, collection or store file that does not exist or holds no document."""


class RetrievalLegError(ServiceUnavailableError):
    """A leg of the hybrid retriever failed and `on_leg_failure="raise"` was set."""

    def __init__(self, leg: str, cause: BaseException) -> None:
        self.leg = leg
        self.cause = cause
        if isinstance(cause, (MissingIndexError, ConfigurationError)):
            hint = "Fix what the error names"  # its message holds the fix
        elif isinstance(cause, ServiceUnavailableError):
            hint = "Check that its service is running"
        else:
            hint = "See the cause above"
        super().__init__(
            f"The {leg} leg of HybridRetriever failed: {type(cause).__name__}: {cause}. "
            f"{hint}, or set on_leg_failure='degrade' to answer from the other leg."
        )


class IndexConsistencyError(HaystackRerankError, RuntimeError):
    """After indexing, the lexical and vector stores do not hold the same documents."""
