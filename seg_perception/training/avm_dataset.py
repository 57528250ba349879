"""Real AVM images with marking-point labels, as training samples for a parking model's point head.

For fine-tuning on a user's own labelled bird's-eye images: ps2.0 in the DMPR-PS JSON form (``marks``
with a direction each), or any folder ``seg-perception eval --avm`` reads whose labels give directions.
Each image is rescaled from its ground resolution to the model's and centred in a black canvas of the
model's input size, exactly as the pipeline does at run time
(:class:`~seg_perception.inference.avm_scale.AvmScaler`), and its marks move with it. The labels
hold marking points, no class masks: a sample's mask is background over the image and ignored over
the canvas around it, so the point loss counts the image's cells only, and the trainer leaves the
segmentation loss out (:attr:`Recipe.trains_segmentation`).

Ground resolution of an image: the recipe's ``data.options.metres_per_pixel`` (of the label frame),
else its label's own (``metres_per_pixel`` in the package's DMPR-PS extension), else ps2.0's
convention of 10 m across the image: as ``eval --avm`` with and without ``--metres-per-pixel``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from seg_perception.data.datasets import read_image
from seg_perception.data.errors import DatasetError
from seg_perception.data.marking_points import marking_point_target
from seg_perception.data.parking_labels import read_parking_label
from seg_perception.errors import ConfigError
from seg_perception.inference.avm_scale import AvmScaler, check_metres_per_pixel
from seg_perception.metrics.parking import ps2_metres_per_pixel

#: Mask value of the canvas around the image: no label there (the training loss's ignore index).
IGNORED = 255
#: Mask value over the image: class 0 (background); unused by the loss, which this source leaves out.
IMAGE = 0


class AvmPointDataset(Dataset[Any]):
    """Labelled AVM images as ``(image, mask, marking-point target)`` samples at the model's scale.

    Args:
        samples: ``(image, label file)`` pairs.
        input_size: (height, width) of the model's input canvas.
        model_metres_per_pixel: The model's ground resolution; a ``(low, high)`` range draws one per
            sample (log-uniform), the scale augmentation synthetic training uses.
        transform: A :class:`~seg_perception.data.augment.SegmentationTransform` built with keypoints.
        point_target: ``(stride, sigma_px, offsets)`` of
            :func:`~seg_perception.data.marking_points.marking_point_target`.
        label_metres_per_pixel: Ground resolution of the label frames, in place of the labels' own
            (see the module docstring).
        seed: Seed of the scale draws.

    Raises:
        DatasetError: no samples, or an implausible ``label_metres_per_pixel`` or model scale.
    """

    def __init__(
        self,
        samples: Sequence[tuple[Path, Path]],
        *,
        input_size: tuple[int, int],
        model_metres_per_pixel: float | tuple[float, float],
        transform: Any,
        point_target: tuple[int, float, bool],
        label_metres_per_pixel: float | None = None,
        seed: int = 0,
    ) -> None:
        if not samples:
            raise DatasetError("no labelled AVM images to train on")
        try:
            scales = (
                model_metres_per_pixel
                if isinstance(model_metres_per_pixel, (tuple, list))
                else (model_metres_per_pixel, model_metres_per_pixel)
            )
            self.model_range = tuple(
                check_metres_per_pixel(value, what="the model's metres_per_pixel") for value in scales
            )
            self.label_metres_per_pixel = (
                None
                if label_metres_per_pixel is None
                else check_metres_per_pixel(label_metres_per_pixel, what="data.options.metres_per_pixel")
            )
        except ConfigError as err:
            raise DatasetError(str(err)) from err
        self.samples = list(samples)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.transform = transform
        self.point_target = point_target
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def reseed(self, seed: int) -> None:
        """Restart the scale draws from ``seed`` (each DataLoader worker needs its own stream)."""
        self._rng = np.random.default_rng(seed)

    def _model_metres_per_pixel(self) -> float:
        low, high = self.model_range
        if low == high:
            return low
        return float(math.exp(self._rng.uniform(math.log(low), math.log(high))))

    def canvas(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample ``index`` before augmentation: ``(canvas BGR, mask, (K, 4) marks x, y, dx, dy)``.

        Raises:
            DatasetError: an unreadable image or label, or a label without a direction per mark.
        """
        image_path, label_path = self.samples[index]
        image = read_image(Path(image_path))
        raw = read_parking_label(label_path)
        label = raw.scaled_to(image.shape[:2])
        if label.directions is None or (len(label.points) and np.isnan(label.directions).any()):
            raise DatasetError(
                f"{label_path}: training the marking-point head needs a direction for every mark "
                "(DMPR-PS JSON rows [x, y, x2, y2, shape]); point lists and ps2.0's two-column .mat "
                "marks carry none"
            )
        frame_mpp = raw.image_metres_per_pixel(image.shape[1], given=self.label_metres_per_pixel)
        if frame_mpp is None:
            frame_mpp = ps2_metres_per_pixel(image.shape[1])
        scaler = AvmScaler(frame_mpp, self._model_metres_per_pixel(), self.input_size)
        fit = scaler.fit(image.shape[:2])
        canvas = scaler.to_canvas(image, fit)
        mask = np.full(self.input_size, IGNORED, np.uint8)
        ox, oy = fit.offset
        height, width = fit.resized
        mask[max(oy, 0) : max(oy + height, 0), max(ox, 0) : max(ox + width, 0)] = IMAGE
        sx, sy = fit.scale
        xy = (label.points + 0.5) * np.array([sx, sy]) - 0.5 + np.array([ox, oy])
        directions = np.asarray(label.directions, np.float64).reshape(-1)
        # a mark's direction turns only where the rescale differs in x and y (rounded sizes)
        directions = np.arctan2(np.sin(directions) * sy, np.cos(directions) * sx)
        marks = np.column_stack([xy, np.cos(directions), np.sin(directions)]).reshape(-1, 4)
        canvas_h, canvas_w = self.input_size
        inside = (marks[:, 0] >= 0) & (marks[:, 0] <= canvas_w - 1)
        inside &= (marks[:, 1] >= 0) & (marks[:, 1] <= canvas_h - 1)
        return canvas, mask, marks[inside].astype(np.float32)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        canvas, mask, marks = self.canvas(index)
        image, mask_tensor, moved = self.transform.with_points(canvas, mask, marks)
        stride, sigma, offsets = self.point_target
        target = marking_point_target(
            moved, tuple(mask_tensor.shape), stride=stride, sigma_px=sigma, offsets=offsets
        )
        return image, mask_tensor, torch.from_numpy(target)
