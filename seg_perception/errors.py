"""Errors shared across the package."""


class SegPerceptionError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(SegPerceptionError):
    """A scenario configuration file is missing or invalid."""


class ModelFileError(SegPerceptionError):
    """A model file is missing, corrupt or inconsistent with the configuration."""


class ImageConversionError(SegPerceptionError):
    """An image (message or compressed payload) cannot be converted; ``reason`` is a short, countable label.

    Attributes:
        reason: Short machine-friendly label (``unknown_encoding``, ``bad_step``, ``too_large``, ...),
            used as the key of the node's rejected-frame counters.
        detail: Human-readable explanation for the log.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class MediaSourceError(SegPerceptionError):
    """A source of frames cannot be opened: missing, an unknown file type, a codec or camera OpenCV lacks."""
