"""Augmentations from a training recipe's ``augment`` block, built on albumentations 2.x.

Example spec (YAML)::

    horizontal_flip: 0.5
    rotate: {limit: 10, p: 0.3}
    coarse_dropout: {holes: [1, 4], size_px: [8, 20], p: 0.3}
    clahe: 0.2
    brightness_contrast: 0.5
    noise: {std_range: [0.01, 0.04], p: 0.3}
    color_jitter: {brightness: 0.3, contrast: 0.3, saturation: 0.4, hue: 0.08, p: 0.5}
    white_balance: {gain: [0.8, 1.2], p: 0.5}   # one gain per colour channel
    gamma: {limit: [0.6, 1.6], p: 0.3}
    plasma: {brightness: 0.3, contrast: 0.3, p: 0.3}   # uneven exposure across the frame
    to_gray: 0.05
    blur: {sigma: [0.3, 1.5], p: 0.3}
    motion_blur: {length: [3, 9], p: 0.2}
    downscale: {scale: [0.35, 0.8], p: 0.3}   # low-resolution camera, upsampled
    jpeg: {quality: [30, 90], p: 0.3}
    random_convolution: {kernel_sizes: [1, 3, 5], min_brightness: 0, p: 0.5}   # texture and colour randomised
    crop: [128, 256]                       # or {size: [128, 256], focus_classes: [2], focus_p: 0.3}

Scalars are probabilities. Training runs resize to ``size`` -> ``crop`` (random crop at
full pixel scale; validation never crops) -> geometric -> photometric augmentations ->
normalise, in that fixed order whatever the order of the spec's keys. The output is
``(image, mask)``: float32 CHW RGB tensor normalised with ``mean``/``std`` and an int64 HW
mask tensor.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from seg_perception.data.errors import AugmentationError

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network
import albumentations as A

DEFAULT_IGNORE_INDEX = 255


def _options(name: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    """Normalise ``p`` or ``{..., p}`` into a dict, rejecting unknown keys."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        options: dict[str, Any] = {"p": float(value)}
    elif isinstance(value, dict):
        options = dict(value)
    else:
        raise AugmentationError(f"augmentation {name!r}: expected a probability or a mapping, got {value!r}")
    unknown = set(options) - allowed - {"p"}
    if unknown:
        raise AugmentationError(f"augmentation {name!r}: unknown options {sorted(unknown)}; "
                                f"allowed: {sorted(allowed | {'p'})}")  # fmt: skip
    p = float(options.get("p", 0.5))
    if not 0.0 <= p <= 1.0:
        raise AugmentationError(f"augmentation {name!r}: probability {p} is outside [0, 1]")
    options["p"] = p
    return options


def _pair(value: Any, name: str) -> tuple[Any, Any]:
    if isinstance(value, (int, float)):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    raise AugmentationError(f"augmentation option {name!r}: expected a number or [low, high], got {value!r}")


def _horizontal_flip(value: Any, ignore_index: int) -> A.BasicTransform:
    return A.HorizontalFlip(p=_options("horizontal_flip", value, set())["p"])


def _rotate(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("rotate", value, {"limit"})
    return A.Rotate(
        limit=o.get("limit", 10), border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=ignore_index, p=o["p"]
    )


def _coarse_dropout(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("coarse_dropout", value, {"holes", "size_px", "fill_mask"})
    holes = tuple(int(v) for v in _pair(o.get("holes", (1, 4)), "holes"))
    size = tuple(int(v) for v in _pair(o.get("size_px", (8, 20)), "size_px"))
    fill_mask = o.get("fill_mask", ignore_index)
    return A.CoarseDropout(num_holes_range=holes, hole_height_range=size, hole_width_range=size, fill=0,
                           fill_mask=None if fill_mask is None else int(fill_mask), p=o["p"])  # fmt: skip


def _clahe(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("clahe", value, {"clip_limit"})
    return A.CLAHE(clip_limit=o.get("clip_limit", 2.0), p=o["p"])


def _brightness_contrast(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("brightness_contrast", value, {"brightness", "contrast"})
    return A.RandomBrightnessContrast(
        brightness_limit=o.get("brightness", 0.2), contrast_limit=o.get("contrast", 0.2), p=o["p"]
    )


def _noise(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("noise", value, {"std_range", "per_channel"})
    std_range = tuple(float(v) for v in _pair(o.get("std_range", (0.01, 0.04)), "std_range"))
    if not 0.0 <= std_range[0] <= std_range[1] <= 1.0:
        raise AugmentationError(f"augmentation 'noise': std_range {std_range} must be 0 <= low <= high <= 1")
    return A.GaussNoise(std_range=std_range, per_channel=bool(o.get("per_channel", True)), p=o["p"])


def _range(
    o: dict[str, Any], key: str, default: tuple[float, float], *, low: float, high: float
) -> tuple[float, float]:
    """``o[key]`` as an ordered ``(low, high)`` pair inside ``[low, high]``."""
    pair = tuple(float(v) for v in _pair(o.get(key, default), key))
    if not low <= pair[0] <= pair[1] <= high:
        raise AugmentationError(
            f"augmentation option {key!r}: {list(pair)} must be ordered and inside [{low}, {high}]"
        )
    return pair[0], pair[1]


def _color_jitter(value: Any, ignore_index: int) -> A.BasicTransform:
    """Brightness, contrast and saturation factors ``1 ± x``, hue shift ``± hue`` (fraction of a turn).

    The hue shift turns white-balance casts and paint colours (yellow, blue, green floors).
    """
    o = _options("color_jitter", value, {"brightness", "contrast", "saturation", "hue"})
    factors = {}
    for key in ("brightness", "contrast", "saturation"):
        amount = float(o.get(key, 0.2))
        if not 0.0 <= amount < 1.0:
            raise AugmentationError(f"augmentation 'color_jitter': {key} {amount} must be in [0, 1)")
        factors[key] = (1.0 - amount, 1.0 + amount)
    hue = float(o.get("hue", 0.05))
    if not 0.0 <= hue <= 0.5:
        raise AugmentationError(f"augmentation 'color_jitter': hue {hue} must be in [0, 0.5]")
    return A.ColorJitter(**factors, hue=(-hue, hue), p=o["p"])


def _white_balance(value: Any, ignore_index: int) -> A.BasicTransform:
    """One random gain per colour channel for the whole image (a camera's white balance)."""
    o = _options("white_balance", value, {"gain"})
    gain = _range(o, "gain", (0.85, 1.15), low=0.0, high=4.0)
    return A.MultiplicativeNoise(multiplier=gain, per_channel=True, elementwise=False, p=o["p"])


def _gamma(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("gamma", value, {"limit"})
    low, high = _range(o, "limit", (0.8, 1.25), low=0.05, high=10.0)
    return A.RandomGamma(gamma_limit=(low * 100.0, high * 100.0), p=o["p"])


def _plasma(value: Any, ignore_index: int) -> A.BasicTransform:
    """Smoothly varying brightness and contrast over the frame (uneven exposure, glare, shade)."""
    o = _options("plasma", value, {"brightness", "contrast", "roughness"})
    brightness, contrast = float(o.get("brightness", 0.3)), float(o.get("contrast", 0.3))
    if not (0.0 <= brightness <= 1.0 and 0.0 <= contrast <= 1.0):
        raise AugmentationError("augmentation 'plasma': brightness and contrast must be in [0, 1]")
    return A.PlasmaBrightnessContrast(
        brightness_range=(-brightness, brightness),
        contrast_range=(-contrast, contrast),
        roughness=float(o.get("roughness", 3.0)),
        p=o["p"],
    )


def _to_gray(value: Any, ignore_index: int) -> A.BasicTransform:
    return A.ToGray(p=_options("to_gray", value, set())["p"])


def _blur(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("blur", value, {"sigma"})
    sigma = _range(o, "sigma", (0.3, 1.5), low=0.01, high=20.0)
    return A.GaussianBlur(blur_limit=0, sigma_limit=sigma, p=o["p"])


def _motion_blur(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("motion_blur", value, {"length"})
    low, high = (int(v) for v in _range(o, "length", (3, 7), low=3, high=101))
    return A.MotionBlur(blur_limit=(low | 1, high | 1), p=o["p"])


def _downscale(value: Any, ignore_index: int) -> A.BasicTransform:
    """Down- then upsample (a low-resolution camera or a view stretched far from the car)."""
    o = _options("downscale", value, {"scale"})
    scale = _range(o, "scale", (0.5, 0.9), low=0.05, high=1.0)
    pair = {"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}
    return A.Downscale(scale_range=scale, interpolation_pair=pair, p=o["p"])


def _jpeg(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("jpeg", value, {"quality"})
    low, high = (int(v) for v in _range(o, "quality", (40, 95), low=1, high=100))
    return A.ImageCompression(compression_type="jpeg", quality_range=(low, high), p=o["p"])


DARK_LEVEL = 24.0  # pixels darker than this in every channel keep (part of) their own value


def _sum_planes(planes: Sequence[np.ndarray]) -> np.ndarray:
    total = planes[0].copy()
    for plane in planes[1:]:
        total += plane
    return total


class RandomConvolution(A.ImageOnlyTransform):  # type: ignore[misc]
    """A random 3→3-channel convolution mixed with the image (RandConv; Xu et al., ICLR 2021).

    Each draw takes a kernel size from ``kernel_sizes``, kernel weights from N(0, 1 / (3 k²))
    and a mixing weight ``alpha`` ~ U(0, 1): ``alpha * image + (1 - alpha) * conv(image)``.
    The filtered image keeps the frame's shapes (lines, edges, junctions) but gets a random
    texture response and colour mapping, so a model cannot lean on the generator's textures
    and colours. The filtered channels are rescaled to the image's own mean and spread, so the
    result stays in the 0..255 range a camera gives. Frames darker on average than
    ``min_brightness`` (0..255) keep their look: meant for night and dusk, where a light's
    reflection differs from paint of the same shape mostly by its colour and glow
    (weights/README.md, rules 13 and 14, measured both ways on the highway model).
    """

    def __init__(self, kernel_sizes: Sequence[int] = (1, 3, 5), min_brightness: float = 0.0, p: float = 0.5):
        super().__init__(p=p)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.min_brightness = float(min_brightness)

    def get_params(self) -> dict[str, Any]:
        size = int(self.py_random.choice(self.kernel_sizes))
        weights = self.random_generator.normal(0.0, 1.0 / np.sqrt(3.0 * size * size), (3, size, size, 3))
        return {"weights": weights.astype(np.float32), "alpha": float(self.py_random.random())}

    def apply(self, img: np.ndarray, weights: np.ndarray, alpha: float, **params: Any) -> np.ndarray:
        if self.min_brightness > 0.0 and float(np.mean(cv2.mean(img)[:3])) < self.min_brightness:
            return img
        channels = cv2.split(img.astype(np.float32))  # OpenCV per-plane: far faster than numpy over H×W×3
        filtered = [
            _sum_planes([cv2.filter2D(channel, -1, weights[out, ..., c], borderType=cv2.BORDER_REFLECT)
                         for c, channel in enumerate(channels)])
            for out in range(3)
        ]  # fmt: skip
        brightness, filtered_brightness = _sum_planes(channels), _sum_planes(filtered)
        if float(np.mean(brightness * filtered_brightness)) < float(
            brightness.mean() * filtered_brightness.mean()
        ):
            filtered = [-plane for plane in filtered]  # paint stays brighter than the ground it is on
        # Black is "no image here" (the ego car's box, corners rotated in, the canvas around a smaller
        # view): it stays black, blending smoothly so noisy near-black pixels do not speckle.
        brightest = np.maximum(np.maximum(channels[0], channels[1]), channels[2])
        keep = np.clip(1.0 - brightest / DARK_LEVEL, 0.0, 1.0)
        out = []
        for channel, plane in zip(channels, filtered, strict=True):
            (mean,), (spread,) = (v.ravel() for v in cv2.meanStdDev(channel))
            (plane_mean,), (plane_spread,) = (v.ravel() for v in cv2.meanStdDev(plane))
            rescaled = (plane - plane_mean) * ((spread + 1.0) / (plane_spread + 1e-6)) + mean
            mixed = alpha * channel + (1.0 - alpha) * rescaled
            out.append(keep * channel + (1.0 - keep) * mixed)
        return np.clip(cv2.merge(out), 0.0, 255.0).astype(img.dtype)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("kernel_sizes", "min_brightness")


def _random_convolution(value: Any, ignore_index: int) -> A.BasicTransform:
    o = _options("random_convolution", value, {"kernel_sizes", "min_brightness"})
    sizes = o.get("kernel_sizes", (1, 3, 5))
    if not (
        isinstance(sizes, (list, tuple)) and sizes and all(int(k) > 0 and int(k) % 2 == 1 for k in sizes)
    ):
        raise AugmentationError(
            f"augmentation 'random_convolution': kernel_sizes must be a list of odd sizes, got {sizes!r}"
        )
    min_brightness = float(o.get("min_brightness", 0.0))
    if not 0.0 <= min_brightness <= 255.0:
        raise AugmentationError(
            f"augmentation 'random_convolution': min_brightness {min_brightness} is outside [0, 255]"
        )
    return RandomConvolution(kernel_sizes=sizes, min_brightness=min_brightness, p=o["p"])


# Pipeline order (geometry, then colour and exposure, then blur and resolution, then sensor
# noise and compression, as a camera would produce them); the spec's key order does not matter.
BUILDERS: dict[str, Callable[[Any, int], A.BasicTransform]] = {
    "horizontal_flip": _horizontal_flip,
    "rotate": _rotate,
    "coarse_dropout": _coarse_dropout,
    "clahe": _clahe,
    "brightness_contrast": _brightness_contrast,
    "color_jitter": _color_jitter,
    "white_balance": _white_balance,
    "gamma": _gamma,
    "plasma": _plasma,
    "to_gray": _to_gray,
    "random_convolution": _random_convolution,
    "blur": _blur,
    "motion_blur": _motion_blur,
    "downscale": _downscale,
    "noise": _noise,
    "jpeg": _jpeg,
}


def _crop(value: Any, size: tuple[int, int]) -> A.BasicTransform:
    """``[h, w]`` or ``{size: [h, w], focus_classes: [...], focus_p: 0.3}``: a random crop after resizing.

    With ``focus_classes``, a fraction ``focus_p`` of the crops is centred on a pixel of those
    classes (albumentations ``CropNonEmptyMaskIfExists``) so rare, small classes are seen often.
    """
    options = dict(value) if isinstance(value, dict) else {"size": value}
    unknown = set(options) - {"size", "focus_classes", "focus_p"}
    if unknown:
        raise AugmentationError(f"augmentation 'crop': unknown options {sorted(unknown)}; "
                                "allowed: ['focus_classes', 'focus_p', 'size']")  # fmt: skip
    crop = options.get("size")
    if not (isinstance(crop, (list, tuple)) and len(crop) == 2 and all(int(v) > 0 for v in crop)):
        raise AugmentationError(f"augmentation 'crop': expected [height, width], got {crop!r}")
    height, width = min(int(crop[0]), int(size[0])), min(int(crop[1]), int(size[1]))
    random_crop = A.RandomCrop(height=height, width=width)
    focus = [int(v) for v in options.get("focus_classes") or []]
    focus_p = float(options.get("focus_p", 0.5 if focus else 0.0))
    if not 0.0 <= focus_p <= 1.0:
        raise AugmentationError(f"augmentation 'crop': focus_p {focus_p} is outside [0, 1]")
    if not focus or focus_p == 0.0:
        return random_crop
    others = [v for v in range(256) if v not in focus]
    focused = A.CropNonEmptyMaskIfExists(height=height, width=width, ignore_values=others, p=focus_p)
    random_crop.p = 1.0 - focus_p
    return A.OneOf([focused, random_crop], p=1.0)


class SegmentationTransform:
    """Callable ``(image_bgr uint8, mask uint8) -> (float32 CHW RGB tensor, int64 HW tensor)``.

    Built with ``keypoints=True`` (see :func:`build_transforms`), :meth:`with_points` also moves
    marking points ``(x, y, dx, dy)`` through the same geometry (directions rotate and flip
    with the image; points that leave the image are dropped).
    """

    def __init__(self, pipeline: A.Compose):
        self.pipeline = pipeline

    def with_points(
        self, image_bgr: np.ndarray, mask: np.ndarray, points: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Like ``__call__``, plus the transformed ``(K, 4)`` points."""
        from seg_perception.data.marking_points import from_albumentations, to_albumentations

        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        out = self.pipeline(image=rgb, mask=mask, keypoints=to_albumentations(points))
        image = torch.from_numpy(np.ascontiguousarray(out["image"].transpose(2, 0, 1), dtype=np.float32))
        moved = from_albumentations(np.asarray(out["keypoints"], dtype=np.float32).reshape(-1, 3))
        return image, torch.from_numpy(np.ascontiguousarray(out["mask"], dtype=np.int64)), moved

    def reseed(self, seed: int) -> None:
        """Restart the random draws from ``seed`` (each DataLoader worker needs its own stream)."""
        self.pipeline.set_random_seed(seed)

    def __call__(self, image_bgr: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        out = self.pipeline(image=rgb, mask=mask)
        image = torch.from_numpy(np.ascontiguousarray(out["image"].transpose(2, 0, 1), dtype=np.float32))
        return image, torch.from_numpy(np.ascontiguousarray(out["mask"], dtype=np.int64))


def build_transforms(
    spec: dict[str, Any] | None,
    *,
    train: bool,
    size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    seed: int | None = None,
    keypoints: bool = False,
) -> SegmentationTransform:
    """Resize (+ the spec's augmentations when ``train``) + normalise + to tensors.

    Args:
        spec: Mapping of augmentation name -> probability or options (see module docstring).
        train: Apply the augmentations; evaluation only resizes and normalises.
        size: (height, width) of the network input.
        mean, std: Per-channel RGB normalisation on the 0..1 scale.
        ignore_index: Mask value for pixels rotated in from outside or dropped out.
        seed: Seed of the pipeline's random draws (a run repeats its augmentations); ``None``: random.
        keypoints: Also transform marking points (:meth:`SegmentationTransform.with_points`).

    Raises:
        AugmentationError: unknown augmentation name or option, or a bad value.
    """
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(BUILDERS) - {"crop"})
    if unknown:
        raise AugmentationError(f"unknown augmentations {unknown}; known: {sorted([*BUILDERS, 'crop'])}")
    steps: list[A.BasicTransform] = [
        A.Resize(
            height=int(size[0]),
            width=int(size[1]),
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
        )
    ]
    crop = spec.pop("crop", None)
    if train and crop is not None:
        steps.append(_crop(crop, (int(size[0]), int(size[1]))))  # validation scores whole frames
    if train:
        steps += [build(spec[name], ignore_index) for name, build in BUILDERS.items() if name in spec]
    steps.append(A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0))
    keypoint_params = (
        A.KeypointParams(format="xya", angle_in_degrees=False, remove_invisible=True) if keypoints else None
    )
    return SegmentationTransform(A.Compose(steps, seed=seed, keypoint_params=keypoint_params))
