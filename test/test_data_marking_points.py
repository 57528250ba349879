"""Marking-point ground truth, its training target, and its path through the augmentations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from seg_perception.data.augment import build_transforms
from seg_perception.data.marking_points import (
    from_albumentations,
    marking_point_target,
    slot_marking_points,
    to_albumentations,
)
from seg_perception.geometry import ParkingSlot
from seg_perception.training.errors import RecipeError
from seg_perception.training.recipe import load_recipe, parse_recipe


def test_entrance_corners_shared_by_neighbours_are_one_point_with_the_line_direction():
    left = ParkingSlot(corners=np.array([[10, 10], [10, 60], [110, 60], [110, 10]], np.float32))
    right = ParkingSlot(corners=np.array([[10, 60], [10, 110], [110, 110], [110, 60]], np.float32))
    points = slot_marking_points([left, right])
    assert points.shape == (3, 4)
    np.testing.assert_allclose(points[:, 2:], [[1, 0]] * 3)


def test_target_peaks_at_the_points_with_their_direction():
    points = np.array([[21.5, 33.5, 0.0, 1.0]], np.float32)
    target = marking_point_target(points, (64, 64), stride=4, sigma_px=4.0)
    assert target.shape == (3, 16, 16)
    row, col = np.unravel_index(np.argmax(target[0]), target[0].shape)
    assert (row, col) == (8, 5)
    assert target[1:, row, col].tolist() == [0.0, 1.0]
    assert target[1:, 0, 15].tolist() == [0.0, 0.0] or target[0, 0, 15] < 1e-3


def test_offset_target_points_from_every_cell_near_a_point_to_it():
    points = np.array([[21.3, 33.9, 0.0, 1.0], [50.0, 10.0, 1.0, 0.0]], np.float32)
    plain = marking_point_target(points, (64, 64), stride=4, sigma_px=4.0)
    target = marking_point_target(points, (64, 64), stride=4, sigma_px=4.0, offsets=True)
    assert target.shape == (5, 16, 16)
    np.testing.assert_array_equal(target[:3], plain)  # heat and direction unchanged
    rows, cols = np.nonzero(target[0] > 0.3)
    assert len(rows) > 2 * 5
    for row, col in zip(rows, cols, strict=True):
        position = (np.array([col, row]) + 0.5) * 4 - 0.5 + 4 * target[3:, row, col]
        assert np.min(np.hypot(*(points[:, :2] - position).T)) < 1e-4  # the cell's own point


def test_albumentations_angles_round_trip():
    points = np.array([[1, 2, 0.6, -0.8], [3, 4, -1, 0]], np.float32)
    np.testing.assert_allclose(from_albumentations(to_albumentations(points)), points, atol=1e-6)


@pytest.mark.parametrize("spec", [{"horizontal_flip": 1.0}, {"rotate": {"limit": [35, 35], "p": 1.0}}])
def test_directions_turn_with_the_image(spec):
    """A drawn line from the point along its direction is still along the moved direction."""
    image = np.zeros((96, 96, 3), np.uint8)
    start, direction = np.array([48.0, 48.0]), np.array([np.cos(0.4), np.sin(0.4)])
    cv2.line(image, (48, 48), tuple(int(v) for v in start + 40 * direction), (255, 255, 255), 1)
    transform = build_transforms(
        spec, train=True, size=(96, 96), mean=(0, 0, 0), std=(1, 1, 1), seed=0, keypoints=True
    )
    out, _, moved = transform.with_points(
        image, np.zeros((96, 96), np.uint8), np.array([[*start, *direction]])
    )
    ys, xs = np.nonzero(out.numpy().max(axis=0) > 0.5)
    drawn = np.array([xs.mean(), ys.mean()]) - moved[0, :2]
    drawn /= np.linalg.norm(drawn)
    assert float(drawn @ moved[0, 2:]) > 0.97


def test_recipe_marking_points_block_needs_the_head_and_known_keys():
    recipe = load_recipe("config/training/parking.yaml")
    assert recipe.model_options["marking_points"] is True and recipe.point_target() == (4, 4.0, False)
    base = {
        "model": {"name": "icnet_lite", "options": {"marking_points": True}},
        "scenario": "parking",
        "input_size": [64, 64],
    }
    with pytest.raises(RecipeError, match="marking_points block"):
        parse_recipe(base)
    with pytest.raises(RecipeError, match="unknown marking_points"):
        parse_recipe({**base, "marking_points": {"sigma": 1}})
    with pytest.raises(RecipeError, match=r"options\.marking_points"):
        parse_recipe({**base, "model": "icnet_lite", "marking_points": {"sigma_px": 2}})


def test_generator_marking_points_are_used_when_given_and_occluded_ones_left_out():
    from types import SimpleNamespace

    from seg_perception.data.marking_points import scene_marking_points

    marks = [
        SimpleNamespace(position=np.array([5.0, 6.0]), direction=np.pi / 2, occluded=False),
        SimpleNamespace(position=np.array([9.0, 9.0]), direction=0.0, occluded=True),
    ]
    rows = scene_marking_points(SimpleNamespace(marking_points=marks, slots=[]))
    np.testing.assert_allclose(rows, [[5.0, 6.0, 0.0, 1.0]], atol=1e-6)
    slot = ParkingSlot(corners=np.array([[10, 10], [10, 60], [110, 60], [110, 10]], np.float32))
    assert len(scene_marking_points(SimpleNamespace(marking_points=[], slots=[slot]))) == 2


def test_recipe_scale_range_sets_the_nominal_metres_per_pixel():
    base = {"model": "icnet_lite", "scenario": "parking", "input_size": [64, 64]}
    recipe = parse_recipe({**base, "data": {"metres_per_pixel": [0.02, 0.08]}})
    assert recipe.data.nominal_metres_per_pixel() == pytest.approx(0.04)
    with pytest.raises(RecipeError, match="metres_per_pixel"):
        parse_recipe({**base, "data": {"metres_per_pixel": [0.08, 0.02]}})


def test_point_loss_counts_offsets_near_points_only_and_refuses_other_layouts():
    import torch

    from seg_perception.training.losses import MarkingPointLoss

    points = np.array([[21.3, 33.9, 0.0, 1.0]], np.float32)
    target = torch.from_numpy(marking_point_target(points, (64, 64), stride=4, sigma_px=4.0, offsets=True))[
        None
    ]
    raw = torch.zeros_like(target)
    raw[:, 0] = torch.logit(target[:, 0].clamp(1e-4, 1 - 1e-4))
    raw[:, 1:3] = target[:, 1:3]
    loss = MarkingPointLoss(offset_weight=1.0)
    exact = raw.clone()
    exact[:, 3:] = target[:, 3:]
    wrong_near = exact.clone()
    wrong_near[:, 3:] += 0.5
    far = target[0, 0] < 0.01
    wrong_far = exact.clone()
    wrong_far[:, 3:, far] += 5.0
    base = float(loss(exact, target))
    # L1 in cells, x and y summed, averaged over the cells near the point
    assert float(loss(wrong_near, target)) == pytest.approx(base + 1.0, abs=1e-4)
    assert float(loss(wrong_far, target)) == pytest.approx(base, abs=1e-6)  # far cells do not count
    with pytest.raises(ValueError, match="differ"):
        loss(raw[:, :3], target)
