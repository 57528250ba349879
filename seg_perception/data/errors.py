"""Errors of the data subpackage."""

from seg_perception.errors import SegPerceptionError


class DatasetError(SegPerceptionError):
    """A dataset folder or annotation file is missing, empty, unpaired or unreadable."""


class AugmentationError(SegPerceptionError):
    """An augmentation spec (from a training recipe) is invalid."""
