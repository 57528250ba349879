"""Errors of the reporting helpers."""

from seg_perception.errors import SegPerceptionError


class ReportingError(SegPerceptionError):
    """A report, image or animation cannot be produced (no frames, unwritable path, ...)."""
