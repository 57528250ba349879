"""Pre- and post-processing maths shared by the engines, evaluation and export parity checks.

A frame is a (H, W, 3) uint8 BGR image (OpenCV order). The model wants
``(1, 3, h, w)`` float32 RGB with ``(x / 255 - mean) / std`` per channel, at its
metadata input size. Normalisation is folded into one multiply-add per pixel:
``x * scale + offset`` with ``scale = 1 / (255 std)`` and ``offset = -mean / std``.

The NumPy/OpenCV functions serve the CPU paths; the ``*_torch`` functions do the
same maths on a torch device (the CUDA path of the torch engine) and are tested
against the NumPy ones on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from seg_perception.inference.errors import InvalidImageError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``scale`` and ``offset`` in RGB order, so that ``normalised = pixel * scale + offset``."""

    scale: tuple[float, float, float]
    offset: tuple[float, float, float]

    @classmethod
    def from_mean_std(cls, mean: Sequence[float], std: Sequence[float]) -> Normalization:
        """Fold ``(x / 255 - mean) / std`` into a scale and an offset.

        Raises:
            ValueError: not three channels, or a non-positive std.
        """
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need three values (RGB), got {list(mean)} and {list(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive, got {list(std)}")
        scale = tuple(1.0 / (255.0 * float(s)) for s in std)
        offset = tuple(-float(m) / float(s) for m, s in zip(mean, std, strict=True))
        return cls(scale=scale, offset=offset)  # type: ignore[arg-type]


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a (H, W, 3) uint8 BGR array; a (H, W) grey image is expanded.

    Raises:
        InvalidImageError: wrong type, dtype, rank, channel count, or an empty image.
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"expected a NumPy image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidImageError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidImageError(f"expected a (H, W, 3) BGR image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"empty image of shape {image.shape}")
    return image


def resize_image(image_bgr: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a uint8 image to ``(height, width)``; no copy when already that size."""
    height, width = size_hw
    if image_bgr.shape[:2] == (height, width):
        return image_bgr
    return cv2.resize(image_bgr, (width, height), interpolation=cv2.INTER_LINEAR)


def preprocess(
    image_bgr: np.ndarray,
    size_hw: tuple[int, int],
    norm: Normalization,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Turn a BGR uint8 frame into the model's ``(1, 3, h, w)`` float32 RGB input.

    Resizes in uint8 (cheaper than in float), then writes each RGB plane straight
    into the NCHW buffer with one fused multiply-add (``cv2.addWeighted``), so
    BGR→RGB, HWC→CHW, /255 and mean/std cost a single pass and no temporaries
    beyond the three uint8 planes.

    Args:
        image_bgr: (H, W, 3) uint8 BGR frame.
        size_hw: Model input ``(height, width)``.
        norm: Folded normalisation (RGB order).
        out: Optional reusable ``(1, 3, h, w)`` float32 C-contiguous buffer.

    Returns:
        ``out`` (or a new array) filled with the normalised input.
    """
    height, width = size_hw
    if out is None:
        out = np.empty((1, 3, height, width), dtype=np.float32)
    elif out.shape != (1, 3, height, width) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape (1, 3, {height}, {width})")
    planes_bgr = cv2.split(resize_image(check_image(image_bgr), size_hw))
    for rgb_index in range(3):
        plane = planes_bgr[2 - rgb_index]
        target = out[0, rgb_index]
        result = cv2.addWeighted(
            plane,
            norm.scale[rgb_index],
            plane,
            0.0,
            norm.offset[rgb_index],
            dst=target,
            dtype=cv2.CV_32F,
        )
        if not np.shares_memory(result, target):  # OpenCV reallocated: copy into place
            target[...] = result
    return out


def argmax_mask(logits: np.ndarray) -> np.ndarray:
    """Class-id mask (h, w) uint8 from ``(1, C, h, w)`` or ``(C, h, w)`` logits.

    A running maximum over the few class planes reads memory contiguously and is
    3-6x faster than ``np.argmax(axis=0)``; ties go to the lower class id, as with
    ``np.argmax``.
    """
    scores = logits[0] if logits.ndim == 4 else logits
    if scores.ndim != 3:
        raise ValueError(f"expected (1, C, h, w) or (C, h, w) logits, got shape {logits.shape}")
    if scores.shape[0] > 255:
        raise ValueError(f"{scores.shape[0]} classes do not fit a uint8 mask")
    best = scores[0].copy()
    mask = np.zeros(best.shape, dtype=np.uint8)
    for class_id in range(1, scores.shape[0]):
        mask[scores[class_id] > best] = class_id
        np.maximum(best, scores[class_id], out=best)
    return mask


def resize_mask(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a class-id mask to ``(height, width)``; no copy when already that size."""
    height, width = size_hw
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


def normalization_tensors(
    norm: Normalization, *, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, offset)`` as ``(1, 3, 1, 1)`` float32 tensors on ``device``, RGB order.

    Build them once per engine: creating them per frame would upload from pageable
    memory, which a CUDA graph capture does not allow.
    """
    import torch

    scale = torch.tensor(norm.scale, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    offset = torch.tensor(norm.offset, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return scale, offset


def preprocess_torch(
    image_hwc: torch.Tensor,
    size_hw: tuple[int, int],
    norm: Normalization | tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """Device-side version of :func:`preprocess` for a (H, W, 3) uint8 BGR tensor.

    Resizes in float with bilinear interpolation (``align_corners=False``, like
    OpenCV's ``INTER_LINEAR``); the result differs from :func:`preprocess` only by
    OpenCV's uint8 rounding after its resize. BGR→RGB happens after the resize, on
    the (usually smaller) model-size planes.

    Args:
        image_hwc: (H, W, 3) uint8 BGR frame on any device.
        size_hw: Model input ``(height, width)``.
        norm: The folded normalisation, or its tensors from :func:`normalization_tensors`
            on the frame's device (capture-safe: no upload per call).

    Returns:
        ``(1, 3, h, w)`` float32 RGB input, contiguous.
    """
    import torch
    import torch.nn.functional as functional

    if isinstance(norm, Normalization):
        norm = normalization_tensors(norm, device=image_hwc.device)
    scale, offset = norm
    planar = image_hwc.permute(2, 0, 1).unsqueeze(0).float()  # (1, 3, H, W) BGR
    if tuple(planar.shape[-2:]) != tuple(size_hw):
        planar = functional.interpolate(planar, size=size_hw, mode="bilinear", align_corners=False)
    return torch.addcmul(offset, planar.flip(1), scale).contiguous()


def mask_from_logits_torch(logits: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Arg-max over classes at model resolution, then nearest resize to ``size_hw``; (H, W) uint8.

    Uses ``mode="nearest"`` (source index ``floor(dst * in / out)``), the same rule as
    OpenCV's ``INTER_NEAREST`` used by :func:`resize_mask`. Ties go to the lower class id.
    """
    return resize_mask_torch(argmax_masks_torch(logits)[0], size_hw)


def argmax_masks_torch(logits: torch.Tensor) -> torch.Tensor:
    """Class-id masks ``(N, h, w)`` uint8 from ``(N, C, h, w)`` logits.

    Ties go to the lower class id, as in :func:`argmax_mask`.
    """
    import torch

    if logits.ndim != 4:
        raise ValueError(f"expected (N, C, h, w) logits, got shape {tuple(logits.shape)}")
    if logits.shape[1] > 255:
        raise ValueError(f"{logits.shape[1]} classes do not fit a uint8 mask")
    return logits.argmax(dim=1).to(torch.uint8)


def resize_mask_torch(mask: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Nearest resize of an (h, w) uint8 class-id tensor to ``size_hw`` (same rule as :func:`resize_mask`)."""
    import torch
    import torch.nn.functional as functional

    if tuple(mask.shape[-2:]) == tuple(size_hw):
        return mask
    # interpolate has no uint8 kernel on every device; class ids are exact in float.
    resized = functional.interpolate(mask[None, None].float(), size=size_hw, mode="nearest")
    return resized.to(torch.uint8)[0, 0]
