"""PyTorch checkpoints: model weights plus everything needed to rebuild and export the model.

Format (a ``torch.save`` dict): ``model_name``, ``model_options``, ``metadata``
(``dataclasses.asdict(ModelMetadata)``), ``state_dict``, and optionally training state
(``optimizer``, ``scheduler``, ``scaler``, ``step``, ``best_miou``, ``recipe``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seg_perception.errors import ModelFileError
from seg_perception.inference.metadata import ModelMetadata

REQUIRED_KEYS = ("model_name", "model_options", "metadata", "state_dict")


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    metadata: ModelMetadata,
    *,
    model_name: str | None = None,
    model_options: dict[str, Any] | None = None,
    **state: Any,
) -> Path:
    """Write a checkpoint atomically (temporary file, then rename) and return its path.

    Args:
        path: Destination ``.pt`` file; parent folders are created.
        model: The model whose ``state_dict`` is saved.
        metadata: Class map, input size and normalisation of the model.
        model_name: Registry name; defaults to ``metadata.model``.
        model_options: Keyword options given to ``build_model``.
        **state: Training state (``optimizer``, ``scheduler``, ``step``, ``best_miou``, ...).
    """
    payload = {
        "model_name": model_name or metadata.model,
        "model_options": dict(model_options or {}),
        "metadata": dataclasses.asdict(metadata),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        **state,
    }
    return _write(payload, path)


def _write(payload: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)
    return path


def metadata_from_dict(values: dict[str, Any], *, source: str = "checkpoint") -> ModelMetadata:
    """Rebuild :class:`ModelMetadata` from ``dataclasses.asdict`` output."""
    try:
        return ModelMetadata.from_dict(values)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ModelFileError(
            f"{source}: malformed metadata ({err}); re-save it with 'seg-perception train'"
        ) from err


def read_checkpoint(path: str | os.PathLike[str], *, map_location: str = "cpu") -> dict[str, Any]:
    """Load and validate the raw checkpoint dict.

    Raises:
        ModelFileError: missing, unreadable or not a seg_perception checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"checkpoint {path} does not exist; train one with 'seg-perception train --config ...'"
        )
    if path.suffix.lower() == ".onnx":
        raise ModelFileError(
            f"{path} is an ONNX model, not a training checkpoint: it is exported already; use it as it is "
            "(model_file:=..., 'seg-perception predict/eval'), or add metadata to a third-party ONNX file "
            "with 'seg-perception add-metadata'"
        )
    try:
        raw = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:
        raise ModelFileError(
            f"checkpoint {path} is unreadable or corrupt ({err}); retrain or re-copy it"
        ) from err
    if not isinstance(raw, dict) or any(key not in raw for key in REQUIRED_KEYS):
        missing = [key for key in REQUIRED_KEYS if not isinstance(raw, dict) or key not in raw]
        raise ModelFileError(
            f"{path} is not a seg_perception checkpoint (missing {missing}); "
            "checkpoints are written by 'seg-perception train'"
        )
    return raw


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str = "cpu"
) -> tuple[nn.Module, ModelMetadata, dict[str, Any]]:
    """Rebuild the model of a checkpoint, in eval mode.

    Returns:
        ``(model, metadata, raw)`` where ``raw`` is the whole checkpoint dict.

    Raises:
        ModelFileError: missing/corrupt file, unknown model, or weights that do not fit.
    """
    from seg_perception.models import build_model

    raw = read_checkpoint(path, map_location=map_location)
    metadata = metadata_from_dict(raw["metadata"], source=str(path))
    try:
        options = dict(raw["model_options"])
        if metadata.align_corners:  # the model's resizes follow its metadata
            options.setdefault("align_corners", True)
        model = build_model(raw["model_name"], metadata.num_classes, **options)
    except Exception as err:
        raise ModelFileError(f"{path}: cannot build model {raw['model_name']!r} ({err})") from err
    try:
        model.load_state_dict(raw["state_dict"])
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not fit model {raw['model_name']!r} ({err})") from err
    model.eval()
    # The marking-point channels are the built model's (a checkpoint saved by hand may not say).
    offsets = bool(getattr(model, "point_offsets", False))
    if metadata.marking_point_offsets != offsets:
        metadata = dataclasses.replace(metadata, marking_point_offsets=offsets)
    return model, metadata, raw


# Metadata chosen for one particular set of weights, not part of what the model is.
PER_WEIGHTS_SETTINGS = ("marking_point_threshold",)


def average_checkpoints(
    first: str | os.PathLike[str],
    second: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    weight: float = 0.5,
) -> Path:
    """Write ``(1 - weight) * first + weight * second``, tensor by tensor, as a new checkpoint.

    Meant for a fine-tune and the checkpoint it started from (``seg-perception recover``): the
    average of the two weight sets, batch-norm statistics included, lies between them and may keep
    more of the start's behaviour away from the fine-tune's data (measure it like any candidate).
    Integer buffers (batch-norm step counters) come from ``second``; model, options and metadata
    too, and they must match ``first``'s. Decoding settings chosen for one set of weights
    (``marking_point_threshold``: a recovered shipped file carries one, a fresh run none) need not
    match and are not carried over: the average is a new set of weights whose threshold is picked
    afresh (``seg-perception point-threshold``). No training state is carried over.

    Raises:
        ModelFileError: unreadable checkpoints, different models, class maps or input sizes, or
            weights of different names or shapes; ``weight`` outside [0, 1].
    """
    if not 0.0 <= weight <= 1.0:
        raise ModelFileError(f"weight {weight} is not in [0, 1] (0 keeps {first}, 1 keeps {second})")
    start, end = read_checkpoint(first), read_checkpoint(second)
    # the model, its options and every metadata field but the free-form training notes must agree
    differ = [key for key in ("model_name", "model_options") if start[key] != end[key]]
    differ += [
        f"metadata.{key}"
        for key in sorted(set(start["metadata"]) | set(end["metadata"]))
        if key not in ("extra", *PER_WEIGHTS_SETTINGS)
        and start["metadata"].get(key) != end["metadata"].get(key)
    ]
    if differ:
        raise ModelFileError(
            f"{first} and {second} differ in {', '.join(differ)}: only checkpoints of one model (a fine-tune "
            "and its start) can be averaged"
        )
    weights_start, weights_end = start["state_dict"], end["state_dict"]
    if weights_start.keys() != weights_end.keys():
        names = sorted(set(weights_start).symmetric_difference(weights_end))
        raise ModelFileError(f"{first} and {second} hold different weights: {names[:5]}")
    averaged: dict[str, torch.Tensor] = {}
    for name, value in weights_end.items():
        other = weights_start[name]
        if other.shape != value.shape:
            raise ModelFileError(
                f"{name} is {tuple(other.shape)} in {first} but {tuple(value.shape)} in {second}"
            )
        if value.is_floating_point():
            averaged[name] = torch.lerp(other.to(value.dtype), value, weight)
        else:
            averaged[name] = value.clone()
    origin = {"first": str(first), "second": str(second), "weight": float(weight)}
    metadata = dict(end["metadata"])
    metadata.update(dict.fromkeys(PER_WEIGHTS_SETTINGS))
    metadata["extra"] = {**dict(metadata.get("extra") or {}), "averaged_from": origin}
    payload = {
        "model_name": end["model_name"],
        "model_options": end["model_options"],
        "metadata": metadata,
        "state_dict": averaged,
    }
    return _write(payload, out)
