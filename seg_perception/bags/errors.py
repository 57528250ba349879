"""Errors of the rosbag tools."""

from seg_perception.errors import SegPerceptionError


class BagError(SegPerceptionError):
    """A bag cannot be read or written, or a topic selection does not fit it."""
