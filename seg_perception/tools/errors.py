"""Errors of the ROS-free tools."""

from seg_perception.errors import SegPerceptionError


class PredictError(SegPerceptionError):
    """An input of ``seg-perception predict`` cannot be read or an output cannot be written."""


class PointThresholdError(SegPerceptionError):
    """``seg-perception point-threshold`` was given a model without marking points or unusable candidates."""
