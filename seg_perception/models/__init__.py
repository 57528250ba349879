"""Segmentation models: ICNet and HRNetV2 behind one registry.

``build_model(name, num_classes, **options)`` builds any name of ``list_models()``. Every model
takes float32 NCHW RGB input of any size; eval mode returns ``(N, C, H, W)`` logits, train mode a
list of logits (main first) matching ``model.loss_weights``.
"""

from seg_perception.models.base import SegmentationModel
from seg_perception.models.errors import ModelOptionError, StateDictMismatchError, UnknownModelError
from seg_perception.models.hrnet.official import LoadReport, load_official_hrnet_state_dict
from seg_perception.models.registry import build_model, list_models

__all__ = [
    "LoadReport",
    "ModelOptionError",
    "SegmentationModel",
    "StateDictMismatchError",
    "UnknownModelError",
    "build_model",
    "list_models",
    "load_official_hrnet_state_dict",
]
