"""The model registry: ``@register_model`` beside each architecture, ``build_model`` and ``list_models``.

An architecture registers itself where it is defined, as in timm::

    @register_model(HRNET_SPECS, family="hrnet")
    class HRNetV2(SegmentationModel):
        def __init__(self, spec, *, num_classes, activation="relu", ...): ...

Every key of the spec table becomes a model name built as ``HRNetV2(HRNET_SPECS[name], ...)``;
the options a name accepts are the keyword-only parameters of the constructor (besides
``num_classes``), documented in its docstring. The table below is filled by those decorators
when :mod:`seg_perception.models` is imported, so there is no central list of architectures.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from seg_perception.models.base import SegmentationModel
from seg_perception.models.errors import ModelOptionError, UnknownModelError


class _SpecModel(Protocol):
    """A model class constructed as ``cls(spec, num_classes=..., **options)``."""

    def __call__(self, spec: Any, /, *, num_classes: int, **options: Any) -> SegmentationModel: ...


ModelClass = TypeVar("ModelClass", bound=type[SegmentationModel])


@dataclass(frozen=True)
class ModelEntry:
    """How to build one registered name, and which options it accepts.

    Attributes:
        builder: ``builder(num_classes=..., **options)`` returns a fresh model.
        architecture: The registered class (its constructor documents the options).
        family: Architecture family (``icnet``, ``hrnet``).
        options: Keyword options the builder takes besides ``num_classes``.
        defaults: Default value of each option.
        doc: First line of the architecture's docstring.
    """

    builder: Callable[..., SegmentationModel]
    architecture: type[SegmentationModel]
    family: str
    options: tuple[str, ...]
    defaults: Mapping[str, Any]
    doc: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def _keyword_options(constructor: Callable[..., Any]) -> dict[str, Any]:
    """Keyword-only parameters of ``constructor`` with their defaults, ``num_classes`` left out."""
    parameters = inspect.signature(constructor).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "num_classes"
    }


def register_model(specs: Mapping[str, Any], *, family: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator: register one model name per entry of ``specs``.

    Args:
        specs: Name -> architecture spec, the first positional argument of the class.
        family: Architecture family shown in listings.

    Raises:
        ValueError: a name is registered twice.
    """

    def decorate(cls: ModelClass) -> ModelClass:
        options = _keyword_options(cls.__init__)
        doc = (inspect.getdoc(cls) or "").splitlines()[0] if cls.__doc__ else ""
        for name, spec in specs.items():
            if name in _REGISTRY:
                raise ValueError(f"model {name!r} is registered twice")
            _REGISTRY[name] = ModelEntry(
                builder=_bind(cls, spec),
                architecture=cls,
                family=family,
                options=tuple(options),
                defaults=dict(options),
                doc=doc,
            )
        return cls

    return decorate


def _bind(cls: type[SegmentationModel], spec: Any) -> Callable[..., SegmentationModel]:
    def build(**options: Any) -> SegmentationModel:
        constructor: _SpecModel = cls  # type: ignore[assignment]  # subclasses take the spec first
        return constructor(spec, **options)

    return build


def registered_models() -> Mapping[str, ModelEntry]:
    """The registry table (name -> entry), read-only."""
    return dict(_REGISTRY)


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises:
        UnknownModelError: ``name`` is not registered; the message lists the valid names.
    """
    try:
        return _REGISTRY[name]
    except KeyError as err:
        raise UnknownModelError(f"unknown model {name!r}; valid names: {', '.join(list_models())}") from err


def build_model(name: str, num_classes: int, **options: Any) -> SegmentationModel:
    """Build a registered model with freshly initialised weights.

    Args:
        name: A name from :func:`list_models`.
        num_classes: Number of output classes (>= 1).
        **options: The architecture's options (see its class: ``activation``, ``marking_points``
            and ``align_corners`` for every model; ``csp`` and ``csp_ratio`` for HRNet).

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
    return entry.builder(num_classes=int(num_classes), **options)
