"""The ``basic`` sample transform: ``augment: {backend: basic}``, or when ``data.augment`` is absent.

``(image_bgr uint8 HWC, mask uint8 HW) -> (float32 CHW RGB normalised tensor, int64 HW tensor)``,
resizing to the model input size; in training, an optional random ``crop: [h, w]``, random
horizontal flip, brightness/contrast, noise and CLAHE with the recipe's probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch


class BasicTransform:
    """Deterministic given NumPy's global seed (seeded by the trainer and per DataLoader worker)."""

    def __init__(
        self,
        spec: Mapping[str, Any] | None,
        *,
        train: bool,
        size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        spec = dict(spec or {})
        self.train = train
        self.size = size
        self.hflip = float(spec.get("hflip", 0.0))
        self.brightness_contrast = float(spec.get("brightness_contrast", 0.0))
        self.noise = float(spec.get("noise", 0.0))
        self.clahe = float(spec.get("clahe", 0.0))
        crop = spec.get("crop")
        self.crop = (int(crop[0]), int(crop[1])) if crop else None
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = self.size
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        if self.train:
            rng = np.random
            if self.crop is not None:
                # Crops keep the pixel scale of thin markings while cutting the cost of a step.
                crop_h, crop_w = min(self.crop[0], height), min(self.crop[1], width)
                top = rng.randint(0, height - crop_h + 1)
                left = rng.randint(0, width - crop_w + 1)
                image = image[top : top + crop_h, left : left + crop_w]
                mask = mask[top : top + crop_h, left : left + crop_w]
            if rng.random() < self.hflip:
                image, mask = image[:, ::-1], mask[:, ::-1]
            if rng.random() < self.clahe:
                lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2LAB)
                lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[..., 0])
                image = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
            pixels = image.astype(np.float32)
            if rng.random() < self.brightness_contrast:
                contrast = rng.uniform(0.75, 1.25)
                brightness = rng.uniform(-30.0, 30.0)
                pixels = (pixels - 128.0) * contrast + 128.0 + brightness
            if rng.random() < self.noise:
                pixels = pixels + rng.normal(0.0, rng.uniform(2.0, 8.0), pixels.shape).astype(np.float32)
            pixels = np.clip(pixels, 0.0, 255.0)
        else:
            pixels = image.astype(np.float32)
        rgb = pixels[..., ::-1] / 255.0
        normalised = (rgb - self.mean) / self.std
        tensor = torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32))
        return tensor, torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64))
