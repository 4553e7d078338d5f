"""The omnivec error tree.

Every error a user can see is an :class:`OmnivecError`. Mistakes in input are
:class:`InvalidInputError` (also a :class:`ValueError`), unknown ids or names are
:class:`NotFoundError` (also a :class:`KeyError`), so code written against the
standard exceptions keeps working.
"""

from __future__ import annotations

__all__ = [
    "DimensionMismatchError",
    "EncoderError",
    "InvalidInputError",
    "LLMError",
    "NotFoundError",
    "OmnivecError",
    "SpaceMismatchError",
    "StoreError",
    "StoreUnavailableError",
]


class OmnivecError(Exception):
    """Root of every error omnivec raises on purpose."""


class InvalidInputError(OmnivecError, ValueError):
    """The caller passed something omnivec cannot accept (bad k, NaN, empty batch, ...)."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the collection's dimension."""


class SpaceMismatchError(InvalidInputError):
    """A query, reference or encoder belongs to another vector space than the collection."""


class NotFoundError(OmnivecError, KeyError):
    """An id, collection, recommender or encoder does not exist."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better without the quotes.
        return str(self.args[0]) if self.args else ""


class EncoderError(OmnivecError):
    """An encoder could not be created, loaded, trained or run."""


class StoreError(OmnivecError):
    """The vector store refused or failed an operation."""


class StoreUnavailableError(StoreError):
    """The vector store cannot be reached (server down, wrong URI, file locked)."""


class LLMError(OmnivecError):
    """A language model (an OpenAI-compatible chat endpoint used by ``ask``) could not be
    reached, refused the request (a bad key, an unknown model, a prompt over its context) or
    timed out. The message names the URL and what to do; it never contains the API key."""
