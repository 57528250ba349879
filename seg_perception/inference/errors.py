"""Errors raised by the inference layer."""

from seg_perception.errors import ModelFileError, SegPerceptionError

__all__ = ["EngineError", "InvalidImageError", "ModelFileError", "QuantizationError"]


class EngineError(SegPerceptionError):
    """An inference engine cannot run as configured (unknown engine, providers absent, ...)."""


class InvalidImageError(SegPerceptionError, ValueError):
    """A frame handed to an engine is not a usable (H, W, 3) uint8 image."""


class QuantizationError(SegPerceptionError):
    """A model cannot be quantized, or its quantized copy does not follow the float model closely enough."""
