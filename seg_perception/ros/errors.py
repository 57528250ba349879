"""Errors raised by the ROS layer."""

from seg_perception.errors import ConfigError, ImageConversionError, SegPerceptionError

__all__ = ["ConfigError", "ImageConversionError", "NodeParameterError", "NodeStartError"]


class NodeParameterError(ConfigError):
    """A node parameter has a value outside what is allowed."""


class NodeStartError(SegPerceptionError):
    """A node could not reach its running state (e.g. a lifecycle autostart transition failed)."""
