"""Errors raised by the inference layer."""

from seg_perception.errors import ModelFileError, SegPerceptionError

__all__ = ["EngineError", "InvalidImageError", "ModelFileError"]


class EngineError(SegPerceptionError):
    """An inference engine cannot run as configured (unknown engine, providers absent, ...)."""


class InvalidImageError(SegPerceptionError, ValueError):
    """A frame handed to an engine is not a usable (H, W, 3) uint8 image."""
