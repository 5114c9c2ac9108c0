"""The one error type of ``genae.data``: bad input data, always named in the message."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset that cannot be opened or read: a missing, empty, corrupt or unsupported source."""
