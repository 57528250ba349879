"""The model registry: ``build_model(name, num_classes, **options)`` and ``list_models()``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seg_perception.models.base import SegmentationModel
from seg_perception.models.errors import ModelOptionError, UnknownModelError
from seg_perception.models.hrnet.model import HRNET_SPECS, build_hrnet
from seg_perception.models.icnet.model import ICNET_SPECS, build_icnet


@dataclass(frozen=True)
class ModelEntry:
    """How to build one registered name, and which options it accepts."""

    builder: Callable[..., SegmentationModel]
    family: str
    options: tuple[str, ...]


_ICNET_OPTIONS = ("activation", "marking_points")
_HRNET_OPTIONS = ("activation", "csp", "csp_ratio", "marking_points")

REGISTRY: dict[str, ModelEntry] = {
    **{name: ModelEntry(build_icnet, "icnet", _ICNET_OPTIONS) for name in ICNET_SPECS},
    **{name: ModelEntry(build_hrnet, "hrnet", _HRNET_OPTIONS) for name in HRNET_SPECS},
}


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(REGISTRY)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises:
        UnknownModelError: ``name`` is not registered; the message lists the valid names.
    """
    try:
        return REGISTRY[name]
    except KeyError as err:
        raise UnknownModelError(f"unknown model {name!r}; valid names: {', '.join(list_models())}") from err


def build_model(name: str, num_classes: int, **options: Any) -> SegmentationModel:
    """Build a registered model with freshly initialised weights.

    Args:
        name: A name from :func:`list_models`.
        num_classes: Number of output classes (>= 1).
        **options: ``activation`` (``relu``/``mish``) and ``marking_points`` (add the
            marking-point head, see :class:`~seg_perception.models.base.MarkingPointHead`) for
            every model; ``csp`` and ``csp_ratio`` for HRNet.

    Raises:
        UnknownModelError: unknown ``name`` (the message lists the valid names).
        ModelOptionError: an option this model does not take, or a bad value.
    """
    entry = model_entry(name)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise ModelOptionError(
            f"{name} does not take option(s) {', '.join(unknown)}; it takes {', '.join(entry.options)}"
        )
    if int(num_classes) < 1:
        raise ModelOptionError(f"num_classes must be >= 1, got {num_classes}")
    return entry.builder(name, num_classes=int(num_classes), **options)
