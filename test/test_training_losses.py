"""Losses checked against values computed by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from seg_perception.training.errors import RecipeError
from seg_perception.training.losses import (
    CascadeLoss,
    CrossEntropyLoss,
    FocalLoss,
    SoftCrossEntropyLoss,
    build_loss,
    downsample_target,
)

IGNORE = 255


def two_pixel_case() -> tuple[torch.Tensor, torch.Tensor]:
    # Pixel 0: logits (0, log 3) -> p = (1/4, 3/4), target 1.  Pixel 1: logits (0, 0), target 0.
    logits = torch.tensor([[[[0.0, 0.0]], [[math.log(3.0), 0.0]]]])  # (1, 2, 1, 2)
    target = torch.tensor([[[1, 0]]])
    return logits, target


def test_cross_entropy_matches_hand_value_and_skips_ignored_pixels() -> None:
    logits, target = two_pixel_case()
    expected = (-math.log(0.75) - math.log(0.5)) / 2
    assert CrossEntropyLoss()(logits, target).item() == pytest.approx(expected, rel=1e-6)
    ignored = torch.tensor([[[1, IGNORE]]])
    assert CrossEntropyLoss()(logits, ignored).item() == pytest.approx(-math.log(0.75), rel=1e-6)


def test_class_weights_weight_the_mean() -> None:
    logits, target = two_pixel_case()
    weighted = CrossEntropyLoss(class_weights=[1.0, 3.0])(logits, target).item()
    expected = (3 * -math.log(0.75) + 1 * -math.log(0.5)) / 4
    assert weighted == pytest.approx(expected, rel=1e-6)


def test_focal_with_gamma_zero_equals_cross_entropy() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=generator)
    target = torch.randint(0, 3, (2, 4, 5), generator=generator)
    target[0, 0, :3] = IGNORE
    for weights in (None, [0.5, 2.0, 1.0]):
        focal = FocalLoss(gamma=0.0, class_weights=weights)(logits, target)
        ce = CrossEntropyLoss(class_weights=weights)(logits, target)
        assert focal.item() == pytest.approx(ce.item(), rel=1e-5)


def test_focal_down_weights_easy_pixels_by_hand() -> None:
    logits, target = two_pixel_case()
    expected = ((0.25**2) * -math.log(0.75) + (0.5**2) * -math.log(0.5)) / 2
    assert FocalLoss(gamma=2.0)(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_by_hand() -> None:
    logits, target = two_pixel_case()
    eps = 0.2
    # Smoothed target: (1 - eps) on the true class + eps / C everywhere.
    pixel0 = -((1 - eps + eps / 2) * math.log(0.75) + (eps / 2) * math.log(0.25))
    pixel1 = -math.log(0.5)
    loss = SoftCrossEntropyLoss(smoothing=eps)(logits, target).item()
    assert loss == pytest.approx((pixel0 + pixel1) / 2, rel=1e-6)


def test_weighted_combination_sums_terms() -> None:
    logits, target = two_pixel_case()
    combined = build_loss({"focal": 0.3, "soft_ce": 0.7}, loss_weights=(1.0,))(logits, target).item()
    focal = FocalLoss(gamma=2.0)(logits, target).item()
    soft = SoftCrossEntropyLoss(smoothing=0.1)(logits, target).item()
    assert combined == pytest.approx(0.3 * focal + 0.7 * soft, rel=1e-6)


def test_build_loss_rejects_unknown_terms() -> None:
    with pytest.raises(RecipeError):
        build_loss({"terms": {"dice": 1.0}})
    with pytest.raises(RecipeError):
        build_loss({"ce": 1.0, "gama": 2})


def test_downsample_target_is_nearest_and_keeps_ignore() -> None:
    target = torch.arange(16).reshape(1, 4, 4)
    target[0, 0, 0] = IGNORE
    small = downsample_target(target, (2, 2))
    assert small.dtype == torch.int64
    assert small.tolist() == [[[IGNORE, 2], [8, 10]]]


def test_cascade_applies_weights_to_downsampled_targets() -> None:
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 2, (1, 8, 8), generator=generator)
    outputs = [
        torch.randn(1, 2, 8, 8, generator=generator),
        torch.randn(1, 2, 4, 4, generator=generator),
        torch.randn(1, 2, 2, 2, generator=generator),
    ]
    base = CrossEntropyLoss()
    cascade = CascadeLoss(base, (1.0, 0.4, 0.4))
    expected = sum(
        w * base(o, downsample_target(target, tuple(o.shape[-2:]))).item()
        for w, o in zip((1.0, 0.4, 0.4), outputs, strict=True)
    )
    assert cascade(outputs, target).item() == pytest.approx(expected, rel=1e-6)
    # A single tensor (eval-mode output) is scored once with weight 1.
    assert cascade(outputs[0], target).item() == pytest.approx(base(outputs[0], target).item(), rel=1e-6)
    with pytest.raises(ValueError):
        cascade(outputs[:2], target)


def test_cascade_can_upsample_main_logits_to_the_label_size() -> None:
    target = torch.zeros(1, 8, 8, dtype=torch.int64)
    target[0, :, 3] = 1  # a one-pixel line: nearest-downsampling to 4x4 would lose it
    main = torch.zeros(1, 2, 4, 4)
    aux = torch.zeros(1, 2, 2, 2)
    base = CrossEntropyLoss()
    cascade = CascadeLoss(base, (1.0, 0.4), resize="logits")
    upsampled = torch.nn.functional.interpolate(main, size=(8, 8), mode="bilinear", align_corners=False)
    expected = base(upsampled, target).item() + 0.4 * base(aux, downsample_target(target, (2, 2))).item()
    assert cascade([main, aux], target).item() == pytest.approx(expected, rel=1e-6)
    assert build_loss({"ce": 1.0, "resize": "logits"}).resize == "logits"
    with pytest.raises(RecipeError):
        build_loss({"ce": 1.0, "resize": "sideways"})
