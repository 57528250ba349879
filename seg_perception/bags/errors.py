"""Errors of the rosbag tools."""

from seg_perception.errors import SegPerceptionError


class BagError(SegPerceptionError):
    """A bag cannot be read or written, or a topic selection does not fit it."""


class FrameRejectedError(BagError):
    """One image message of a bag cannot be decoded (the live node would reject it too).

    Attributes:
        reason: The node's rejection label (``too_large``, ``bad_header``, ``truncated``, ...).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
