"""Errors of the benchmark command."""

from seg_perception.errors import SegPerceptionError


class BenchError(SegPerceptionError):
    """A benchmark cannot run as asked (bad option, unusable model file)."""
