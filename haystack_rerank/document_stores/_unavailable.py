"""
How the stores wrap the integrations' methods, sync and async alike: a service that does not answer (or an index
that does not exist) raises the package's clear error, and a client that failed while it was set up is not kept
half-made.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
# the error to raise instead of `error` (from it), or None: raise `error` as it is
Translate = Callable[[Any, Exception], "Exception | None"]


def _around(method: F, on_error: Translate) -> F:
    """`method` (sync or async) with `on_error(self, error)` deciding what each exception it raises becomes."""
    if inspect.iscoroutinefunction(method):

        async def wrapper_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await method(self, *args, **kwargs)
            except Exception as err:
                if (clear := on_error(self, err)) is None:
                    raise
                raise clear from err

        return functools.wraps(method)(wrapper_async)  # type: ignore[return-value]

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            if (clear := on_error(self, err)) is None:
                raise
            raise clear from err

    return functools.wraps(method)(wrapper)  # type: ignore[return-value]


def clear_errors(translate: Translate) -> Callable[[F], F]:
    """Decorator for a store method, sync or async: `translate(store, error)` names the clear error, or None."""
    return lambda method: _around(method, translate)


def forgets_on_failure(attribute: str) -> Callable[[F], F]:
    """A client set-up that failed leaves `attribute` None, so the next call sets it up again (index, collection)."""

    def on_error(store: Any, _err: Exception) -> None:
        setattr(store, attribute, None)

    return lambda method: _around(method, on_error)
