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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model_name": model_name or metadata.model,
        "model_options": dict(model_options or {}),
        "metadata": dataclasses.asdict(metadata),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        **state,
    }
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
