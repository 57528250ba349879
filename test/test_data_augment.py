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


def _scene(h=64, w=96):
    """A textured image with a small rare-class patch in one corner."""
    rng = np.random.default_rng(0)
    image = rng.integers(60, 200, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[2:6, w - 8 : w - 2] = 2
    return image, mask


def test_crop_is_random_at_full_scale_and_only_in_training():
    image, mask = _scene()
    mask[:, : mask.shape[1] // 2] = 1
    spec = {"crop": [32, 40]}
    train = build_transforms(spec, train=True, size=(64, 96), mean=MEAN, std=STD, seed=0)
    crops = [train(image, mask) for _ in range(8)]
    assert all(img.shape == (3, 32, 40) and m.shape == (32, 40) for img, m in crops)
    full = torch.from_numpy(image[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)
    for img, m in crops:  # each crop is an unscaled window of the frame, mask aligned
        windows = full.unfold(1, 32, 1).unfold(2, 40, 1)  # (3, H', W', 32, 40)
        match = (windows - img[:, None, None]).abs().amax(dim=(0, 3, 4)) < 1e-6
        top, left = (int(v) for v in match.nonzero()[0])
        assert torch.equal(m, torch.from_numpy(mask[top : top + 32, left : left + 40].astype(np.int64)))
    assert len({float(img.sum()) for img, _ in crops}) > 1  # positions vary
    val_image, val_mask = build_transforms(spec, train=False, size=(64, 96), mean=MEAN, std=STD)(image, mask)
    assert val_image.shape == (3, 64, 96) and val_mask.shape == (64, 96)


def test_crop_focus_classes_centre_crops_on_rare_classes():
    image, mask = _scene()
    plain = build_transforms({"crop": [16, 16]}, train=True, size=(64, 96), mean=MEAN, std=STD, seed=1)
    focused = build_transforms(
        {"crop": {"size": [16, 16], "focus_classes": [2], "focus_p": 1.0}},
        train=True, size=(64, 96), mean=MEAN, std=STD, seed=1,
    )  # fmt: skip
    hits_plain = sum(bool((plain(image, mask)[1] == 2).any()) for _ in range(40))
    hits_focused = sum(bool((focused(image, mask)[1] == 2).any()) for _ in range(40))
    assert hits_focused == 40 and hits_plain < 20
    with pytest.raises(AugmentationError, match="crop"):
        build_transforms({"crop": {"size": [8], "p": 1}}, train=True, size=(8, 8), mean=MEAN, std=STD)


def test_noise_std_range_sets_the_noise_level_and_keeps_the_mask():
    image = np.full((48, 64, 3), 128, np.uint8)
    mask = np.ones((48, 64), np.uint8)

    def deviation(std_range):
        spec = {"noise": {"std_range": std_range, "p": 1.0}}
        out, out_mask = build_transforms(spec, train=True, size=(48, 64), mean=MEAN, std=STD, seed=0)(
            image, mask
        )
        assert (out_mask == 1).all()
        return float((out - 128 / 255).std())

    low, high = deviation([0.02, 0.02]), deviation([0.2, 0.2])
    assert 0.005 < low < 0.04 and high > 5 * low
    with pytest.raises(AugmentationError, match="std_range"):
        build_transforms({"noise": {"std_range": [0.5, 0.1]}}, train=True, size=(8, 8), mean=MEAN, std=STD)
    with pytest.raises(AugmentationError, match="unknown options"):
        build_transforms({"noise": {"var_limit": [10, 50]}}, train=True, size=(8, 8), mean=MEAN, std=STD)


@pytest.mark.parametrize(
    ("name", "weak", "strong"),
    [
        ("brightness_contrast", {"brightness": 0.01, "contrast": 0.0}, {"brightness": 0.5, "contrast": 0.0}),
        ("clahe", {"clip_limit": [1.5, 1.5]}, {"clip_limit": [16.0, 16.0]}),
        ("rotate", {"limit": [1, 1]}, {"limit": [40, 40]}),
        ("coarse_dropout", {"holes": 1, "size_px": 2}, {"holes": 6, "size_px": 12}),
    ],
)
def test_named_options_change_the_output(name, weak, strong):
    rng = np.random.default_rng(0)
    blocks = rng.integers(40, 220, (8, 8, 3), dtype=np.uint8)
    image = np.kron(blocks, np.ones((16, 16, 1), np.uint8))  # large flat patches: small moves, small change
    if name == "clahe":  # a dull, low-contrast frame: what CLAHE is for
        image = rng.integers(110, 140, image.shape, dtype=np.uint8)
    mask = np.zeros(image.shape[:2], np.uint8)
    size = image.shape[:2]

    def change(options):
        transform = build_transforms({name: {**options, "p": 1.0}}, train=True, size=size, mean=MEAN, std=STD)
        reference = build_transforms({}, train=True, size=size, mean=MEAN, std=STD)(image, mask)[0]
        return float(np.mean([(transform(image, mask)[0] - reference).abs().mean() for _ in range(6)]))

    assert change(strong) > 2 * change(weak)


def test_seed_repeats_the_augmentations_and_key_order_does_not_matter():
    image, mask = _scene()
    spec = {"noise": 0.5, "horizontal_flip": 0.5, "crop": [32, 32], "rotate": {"limit": 20, "p": 0.5}}
    reordered = dict(reversed(list(spec.items())))
    runs = [
        build_transforms(s, train=True, size=(64, 96), mean=MEAN, std=STD, seed=3) for s in (spec, reordered)
    ]
    for _ in range(4):
        (a, ma), (b, mb) = runs[0](image, mask), runs[1](image, mask)
        assert torch.equal(a, b) and torch.equal(ma, mb)


def test_reseed_gives_a_worker_its_own_stream():
    image, mask = _scene()
    spec = {"crop": [16, 16], "noise": 1.0}
    first, second = (
        build_transforms(spec, train=True, size=(64, 96), mean=MEAN, std=STD, seed=0) for _ in "ab"
    )
    second.reseed(1)
    assert not torch.equal(first(image, mask)[0], second(image, mask)[0])
    first.reseed(7)
    second.reseed(7)
    assert torch.equal(first(image, mask)[0], second(image, mask)[0])


CAMERA_LOOKS = {
    "color_jitter": ({"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.005},
                     {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.3}),
    "white_balance": ({"gain": [0.98, 1.02]}, {"gain": [0.5, 1.5]}),
    "gamma": ({"limit": [0.97, 1.03]}, {"limit": [0.4, 0.5]}),
    "plasma": ({"brightness": 0.02, "contrast": 0.02}, {"brightness": 0.6, "contrast": 0.6}),
    "blur": ({"sigma": [0.1, 0.1]}, {"sigma": [3.0, 3.0]}),
    "motion_blur": ({"length": [3, 3]}, {"length": [15, 15]}),
    "downscale": ({"scale": [0.95, 0.95]}, {"scale": [0.2, 0.2]}),
    "jpeg": ({"quality": [98, 100]}, {"quality": [5, 10]}),
}  # fmt: skip


def _textured(size: int = 96) -> np.ndarray:
    """Coloured blocks with fine stripes: every camera effect (colour, blur, resolution) shows."""
    rng = np.random.default_rng(3)
    image = np.kron(rng.integers(30, 220, (6, 6, 3), dtype=np.uint8), np.ones((16, 16, 1), np.uint8))
    image[::4] = 240  # thin bright lines, like slot paint
    return image[:size, :size]


@pytest.mark.parametrize("name", sorted(CAMERA_LOOKS))
def test_camera_looks_grow_with_their_options_and_keep_mask_and_points(name):
    weak, strong = CAMERA_LOOKS[name]
    image = _textured()
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[::4] = 1
    points = np.array([[20.0, 30.0, 1.0, 0.0], [70.0, 50.0, 0.0, -1.0]], np.float32)
    size = image.shape[:2]
    reference = build_transforms({}, train=True, size=size, mean=MEAN, std=STD)(image, mask)[0]

    def change(options):
        transform = build_transforms(
            {name: {**options, "p": 1.0}}, train=True, size=size, mean=MEAN, std=STD, seed=0, keypoints=True
        )
        total = 0.0
        for _ in range(4):
            out, out_mask, out_points = transform.with_points(image, mask, points)
            assert torch.equal(out_mask, torch.from_numpy(mask.astype(np.int64)))  # photometric only
            np.testing.assert_allclose(out_points, points, atol=1e-4)
            total += float((out - reference).abs().mean())
        return total / 4

    # JPEG's chroma subsampling changes saturated blocks even at quality 100: a smaller ratio.
    assert change(strong) > (1.4 if name == "jpeg" else 2.0) * change(weak)


def test_to_gray_removes_colour():
    image = _textured()
    out, _ = build_transforms({"to_gray": 1.0}, train=True, size=(96, 96), mean=MEAN, std=STD)(
        image, np.zeros((96, 96), np.uint8)
    )
    assert float((out[0] - out[1]).abs().max()) < 1e-6 and float((out[1] - out[2]).abs().max()) < 1e-6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"white_balance": {"gain": [1.3, 0.7]}}, "gain"),
        ({"color_jitter": {"hue": 0.8}}, "hue"),
        ({"color_jitter": {"saturation": 1.5}}, "saturation"),
        ({"jpeg": {"quality": [0, 50]}}, "quality"),
        ({"plasma": {"brightness": 2.0}}, "plasma"),
        ({"blur": {"size": 3}}, "unknown options"),
        ({"random_convolution": {"kernel_sizes": [2]}}, "kernel_sizes"),
        ({"random_convolution": {"kernel_sizes": []}}, "kernel_sizes"),
        ({"random_convolution": {"min_brightness": 300}}, "min_brightness"),
    ],
)
def test_camera_look_options_are_checked(spec, message):
    with pytest.raises(AugmentationError, match=message):
        build_transforms(spec, train=True, size=(8, 8), mean=MEAN, std=STD)


def test_random_convolution_changes_colour_and_texture_but_keeps_paint_bright_and_black_black():
    rng = np.random.default_rng(5)
    image = rng.integers(70, 110, (64, 64, 3), dtype=np.uint8)  # grey ground with grain
    image[:, 30:34] = 235  # a bright painted line
    image[:8, :8] = 0  # no image here (a corner rotated in, the ego car's box)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 30:34] = 1
    transform = build_transforms(
        {"random_convolution": {"kernel_sizes": [1, 3, 5], "p": 1.0}},
        train=True, size=(64, 64), mean=MEAN, std=STD, seed=0,
    )  # fmt: skip
    original = torch.from_numpy(image[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)
    changes = []
    for _ in range(12):
        out, out_mask = transform(image, mask)
        assert torch.equal(out_mask, torch.from_numpy(mask.astype(np.int64)))
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        brightness = out.mean(dim=0)
        assert float(brightness[8:, 30:34].mean()) > float(brightness[8:, 40:].mean())  # paint stays brighter
        assert float(out[:, :6, :6].abs().max()) == 0.0  # black stays black
        changes.append(float((out - original).abs().mean()))
    assert np.mean(changes) > 0.02 and len({round(c, 4) for c in changes}) > 6  # a different filter each draw


def test_random_convolution_leaves_frames_darker_than_min_brightness_as_they_are():
    rng = np.random.default_rng(6)
    night = rng.integers(5, 40, (48, 48, 3), dtype=np.uint8)  # mean about 22
    night[:, 20:23] = 200  # paint (or a light's reflection) in the dark
    day = np.clip(night.astype(np.int32) + 100, 0, 255).astype(np.uint8)
    mask = np.zeros((48, 48), np.uint8)
    spec = {"random_convolution": {"min_brightness": 60, "p": 1.0}}
    transform = build_transforms(spec, train=True, size=(48, 48), mean=MEAN, std=STD, seed=1)
    expected = torch.from_numpy(night[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)
    brighter = torch.from_numpy(day[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)
    changes = []
    for _ in range(8):
        torch.testing.assert_close(transform(night, mask)[0], expected)
        changes.append(float((transform(day, mask)[0] - brighter).abs().mean()))
    assert np.mean(changes) > 0.02
