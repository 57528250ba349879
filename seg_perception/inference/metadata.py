"""Model metadata carried inside the ONNX file, so a consumer needs nothing but the file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from seg_perception.errors import ModelFileError

METADATA_PREFIX = "seg_perception."
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
#: Second output of models with a marking-point head: (N, 3, H/stride, W/stride) heat + unit direction
#: (N, 5, ...) with the sub-cell offsets (ox, oy) in cells when ``marking_point_offsets``).
MARKING_POINTS_NAME = "marking_points"


@dataclass(frozen=True)
class ModelMetadata:
    """What an engine needs to run a model and a user needs to trust it.

    Attributes:
        model: Registry name (e.g. ``icnet_lite``).
        scenario: Scenario the model was trained for.
        classes: Class names, index = class id.
        colors: ``#RRGGBB`` per class.
        input_size: (height, width) the model expects.
        mean: Per-channel mean, RGB order, on 0..1 pixel values.
        std: Per-channel standard deviation, RGB order, on 0..1 pixel values.
        channel_order: ``RGB``; frames are converted to it before normalisation.
        extra: Free-form provenance (training command, metrics, version).
        marking_point_stride: Stride of the ``marking_points`` output (0: the model has none).
        marking_point_offsets: The ``marking_points`` output has two more channels, each
            point's sub-cell offset from its cell's centre in cells (model option ``point_offsets``).
        metres_per_pixel: Ground resolution of the bird's-eye images the model was trained
            on (None for perspective cameras); the pipeline rescales AVM frames to it.
        align_corners: ``align_corners`` of the model's bilinear resizes, logits included
            (the ``align_corners`` model option; True for official HRNet-OCR / ADE20K
            checkpoints). The exported graph already resizes that way; a consumer that
            resizes this model's logits itself must use the same value.
        mirror_averaged: The graph averages the logits of each frame and of its left-right
            mirror (flipped back), at about twice the cost (``seg-perception export
            --mirror-average``; :mod:`~seg_perception.inference.mirror`). The training
            checkpoint behind the file does not: run it through ``MirrorAveraged`` to match.
        quantization: Empty for a float model; for a file written by ``seg-perception quantize``
            the method, the source file and the calibration frames
            (:mod:`~seg_perception.inference.quantize`).
        marking_point_threshold: The least marking-point heat this file's points were judged at
            (``seg-perception quantize --marking-point-threshold``); the pipeline uses it where the
            scenario sets no ``slots.point_threshold``. None: the scenario's value or the default.
    """

    model: str
    scenario: str
    classes: tuple[str, ...]
    colors: tuple[str, ...]
    input_size: tuple[int, int]
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    channel_order: str = "RGB"
    extra: dict[str, Any] = field(default_factory=dict)
    marking_point_stride: int = 0
    marking_point_offsets: bool = False
    metres_per_pixel: float | None = None
    align_corners: bool = False
    mirror_averaged: bool = False
    quantization: dict[str, Any] = field(default_factory=dict)
    marking_point_threshold: float | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_marking_points(self) -> bool:
        return self.marking_point_stride > 0

    @property
    def marking_point_channels(self) -> int:
        """Channels of the ``marking_points`` output: heat, direction (2), offsets (2) if any."""
        return 5 if self.marking_point_offsets else 3

    @property
    def output_names(self) -> tuple[str, ...]:
        """Graph outputs in order: ``logits`` and, with the head, ``marking_points``."""
        return (OUTPUT_NAME, MARKING_POINTS_NAME) if self.has_marking_points else (OUTPUT_NAME,)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelMetadata:
        """Rebuild from ``dataclasses.asdict`` output (or parsed props); optional keys default.

        Raises:
            KeyError, ValueError, TypeError, IndexError: a required key is missing or malformed.
        """
        mpp = values.get("metres_per_pixel")
        threshold = values.get("marking_point_threshold")
        return cls(
            model=str(values["model"]),
            scenario=str(values["scenario"]),
            classes=tuple(values["classes"]),
            colors=tuple(values["colors"]),
            input_size=(int(values["input_size"][0]), int(values["input_size"][1])),
            mean=tuple(float(v) for v in values.get("mean", cls.mean)),  # type: ignore[arg-type]
            std=tuple(float(v) for v in values.get("std", cls.std)),  # type: ignore[arg-type]
            channel_order=str(values.get("channel_order", "RGB")),
            extra=dict(values.get("extra", {})),
            marking_point_stride=int(values.get("marking_point_stride", 0)),
            marking_point_offsets=bool(values.get("marking_point_offsets", False)),
            metres_per_pixel=None if mpp is None else float(mpp),
            align_corners=bool(values.get("align_corners", False)),
            mirror_averaged=bool(values.get("mirror_averaged", False)),
            quantization=dict(values.get("quantization") or {}),
            marking_point_threshold=None if threshold is None else float(threshold),
        )

    def to_props(self) -> dict[str, str]:
        """Flatten into ONNX ``metadata_props`` (string keys and values)."""
        return {METADATA_PREFIX + key: json.dumps(value) for key, value in asdict(self).items()}

    @classmethod
    def from_props(cls, props: dict[str, str], *, source: str = "model") -> ModelMetadata:
        """Rebuild from ONNX ``metadata_props``.

        Raises:
            ModelFileError: keys are missing or malformed.
        """
        values: dict[str, Any] = {}
        try:
            for key, text in props.items():
                if key.startswith(METADATA_PREFIX):
                    values[key[len(METADATA_PREFIX) :]] = json.loads(text)
            return cls.from_dict(values)
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise ModelFileError(
                f"{source} lacks seg_perception metadata ({err}); export it with "
                "'seg-perception export', which embeds classes, colours, input size and mean/std"
            ) from err
