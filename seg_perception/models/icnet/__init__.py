"""ICNet: image cascade network for real-time segmentation of high-resolution images."""

from seg_perception.models.icnet.model import ICNET_SPECS, ICNet, ICNetSpec

__all__ = ["ICNET_SPECS", "ICNet", "ICNetSpec"]
