"""Segmentation models: ICNet and HRNetV2 behind one registry.

Each architecture registers its names where it is defined (``@register_model``, see
:mod:`seg_perception.models.registry`); importing this package imports them all.
``build_model(name, num_classes, **options)`` builds any name of ``list_models()``. Every model
takes float32 NCHW RGB input of any size; eval mode returns ``(N, C, H, W)`` logits, train mode a
list of logits (main first) matching ``model.loss_weights``.
"""

# Importing the architectures registers their names (``@register_model`` beside each class).
from seg_perception.models import hrnet, icnet
from seg_perception.models.base import SegmentationModel
from seg_perception.models.errors import ModelOptionError, StateDictMismatchError, UnknownModelError
from seg_perception.models.hrnet.official import LoadReport, load_official_hrnet_state_dict
from seg_perception.models.registry import build_model, list_models, register_model, registered_models

__all__ = [
    "LoadReport",
    "ModelOptionError",
    "SegmentationModel",
    "StateDictMismatchError",
    "UnknownModelError",
    "build_model",
    "hrnet",
    "icnet",
    "list_models",
    "load_official_hrnet_state_dict",
    "register_model",
    "registered_models",
]
