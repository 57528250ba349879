"""Augmentation specs: tensors out, RGB order, and albumentations options really honoured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seg_perception.data.augment import build_transforms
from seg_perception.data.errors import AugmentationError

MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def _pair(h=40, w=60):
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = 250  # blue in BGR
    image[..., 1] = 120
    mask = np.ones((h, w), np.uint8)
    return image, mask


def test_eval_transform_resizes_normalises_and_converts_to_rgb():
    transform = build_transforms({"horizontal_flip": 1.0}, train=False, size=(32, 48), mean=MEAN, std=STD)
    image, mask = transform(*_pair())
    assert image.dtype == torch.float32 and image.shape == (3, 32, 48)
    assert mask.dtype == torch.int64 and mask.shape == (32, 48)
    assert image[2].mean() == pytest.approx(250 / 255, abs=1e-3)  # blue is the last RGB channel
    assert image[0].abs().max() == 0
    normalised = build_transforms(
        {}, train=False, size=(32, 48), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)
    )
    assert normalised(*_pair())[0][2].mean() == pytest.approx((250 / 255 - 0.5) / 0.25, abs=1e-3)


def test_coarse_dropout_fills_image_and_mask_as_asked():
    spec = {"coarse_dropout": {"holes": [3, 3], "size_px": [8, 8], "p": 1.0}}
    image, mask = build_transforms(spec, train=True, size=(40, 60), mean=MEAN, std=STD)(*_pair())
    dropped = image.sum(dim=0) == 0
    assert 0 < dropped.sum() <= 3 * 64
    assert (mask[dropped] == 255).all() and (mask[~dropped] == 1).all()
    keep_mask = {"coarse_dropout": {"holes": 2, "size_px": 6, "fill_mask": None, "p": 1.0}}
    image, mask = build_transforms(keep_mask, train=True, size=(40, 60), mean=MEAN, std=STD)(*_pair())
    assert (image.sum(dim=0) == 0).any() and (mask == 1).all()


def test_rotate_and_flip_are_applied_to_both():
    image, mask = _pair()
    mask[:, :10] = 2
    flip = build_transforms({"horizontal_flip": 1.0}, train=True, size=(40, 60), mean=MEAN, std=STD)
    _, flipped = flip(image, mask)
    assert (flipped[:, -10:] == 2).all() and (flipped[:, :-10] == 1).all()
    rotate = build_transforms(
        {"rotate": {"limit": [30, 30], "p": 1.0}}, train=True, size=(40, 60), mean=MEAN, std=STD
    )
    rotated_image, rotated = rotate(image, mask)
    assert (rotated == 255).any()  # corners rotated in from outside are ignored
    brightness = rotated_image.sum(dim=0)
    assert brightness[rotated == 255].mean() < 0.2 * brightness[rotated != 255].mean()  # filled with 0


def test_spec_errors_are_clear():
    with pytest.raises(AugmentationError, match="unknown augmentations"):
        build_transforms({"mixup": 0.5}, train=True, size=(8, 8), mean=MEAN, std=STD)
    with pytest.raises(AugmentationError, match="unknown options"):
        build_transforms({"rotate": {"angle": 3}}, train=True, size=(8, 8), mean=MEAN, std=STD)
    with pytest.raises(AugmentationError, match="outside"):
        build_transforms({"clahe": 1.5}, train=True, size=(8, 8), mean=MEAN, std=STD)


def test_photometric_augmentations_keep_the_mask():
    spec = {"clahe": 1.0, "brightness_contrast": {"brightness": 0.3, "contrast": 0.3, "p": 1.0}}
    image, mask = _pair()
    mask[5:9] = 2
    out_image, out_mask = build_transforms(spec, train=True, size=(40, 60), mean=MEAN, std=STD)(image, mask)
    assert torch.equal(out_mask, torch.from_numpy(mask.astype(np.int64)))
    assert out_image.shape == (3, 40, 60)
