"""Errors raised by the ROS layer."""

from seg_perception.errors import ConfigError, SegPerceptionError

__all__ = ["ConfigError", "ImageConversionError", "NodeParameterError", "NodeStartError"]


class ImageConversionError(SegPerceptionError):
    """An image message cannot be converted; ``reason`` is a short, countable label.

    Attributes:
        reason: Short machine-friendly label (``unknown_encoding``, ``bad_step``, ...),
            used as the key of the node's rejected-frame counters.
        detail: Human-readable explanation for the log.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class NodeParameterError(ConfigError):
    """A node parameter has a value outside what is allowed."""


class NodeStartError(SegPerceptionError):
    """A node could not reach its running state (e.g. a lifecycle autostart transition failed)."""
