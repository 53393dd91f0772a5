"""The project's error types for mistakes a user can fix (bad input, an option out of range, a missing file): the
command line reports them in one line with exit status 2. Any other exception is a bug, reported with its
traceback (exit status 1), so the two cannot be confused. Both are ``ValueError``s (the missing input a
``FileNotFoundError`` too), so Python callers that catch those keep working."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input or settings: the message names the input, the value and what is allowed."""


class MissingInputError(InputError, FileNotFoundError):
    """A named input file or folder that is not there."""
