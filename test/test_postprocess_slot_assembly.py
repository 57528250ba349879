"""Marking-point decoding, slot assembly with metric priors, and slot tracking (NumPy only)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from seg_perception.data.marking_points import marking_point_target, slot_marking_points
from seg_perception.data.synthetic import generate_drive, generate_scene
from seg_perception.geometry import ParkingSlot
from seg_perception.metrics.evaluation import match_slots
from seg_perception.postprocess.ground import pixels_to_vehicle_metres
from seg_perception.postprocess.marking_points import (
    TEST_TIME_FLIPS,
    decode_marking_points,
    drop_weak_edge_points,
    flip_frame,
    merge_flipped_maps,
    scale_points,
)
from seg_perception.postprocess.slot_assembly import SlotPriors, assemble_slots
from seg_perception.postprocess.slot_tracker import SlotTracker, TrackerConfig

MPP = 0.02


def with_scores(points: np.ndarray, score: float = 0.9) -> np.ndarray:
    return np.hstack([points, np.full((len(points), 1), score)])


def test_decode_recovers_sub_cell_positions_and_directions() -> None:
    truth = np.array([[37.3, 21.8, 1.0, 0.0], [101.6, 90.1, 0.0, -1.0], [60.2, 140.7, 0.6, 0.8]], np.float32)
    target = marking_point_target(truth, (160, 160), stride=4, sigma_px=4.0)
    decoded = decode_marking_points(target, stride=4, threshold=0.3, nms_radius_px=8.0)
    assert len(decoded) == 3
    for x, y, dx, dy in truth:
        nearest = decoded[np.argmin(np.hypot(decoded[:, 0] - x, decoded[:, 1] - y))]
        assert np.hypot(nearest[0] - x, nearest[1] - y) < 0.8  # a fifth of a cell
        assert nearest[2] * dx + nearest[3] * dy > 0.99


def test_decode_with_offsets_places_points_by_the_offset_votes() -> None:
    truth = np.array([[37.3, 21.8, 1.0, 0.0], [101.6, 90.1, 0.0, -1.0], [62.0, 141.9, 0.6, 0.8]], np.float32)
    target = marking_point_target(truth, (160, 160), stride=4, sigma_px=4.0, offsets=True)
    assert target.shape == (5, 40, 40)
    decoded = decode_marking_points(target, stride=4, threshold=0.3, nms_radius_px=8.0, offsets=True)
    centroid = decode_marking_points(target[:3], stride=4, threshold=0.3, nms_radius_px=8.0)
    assert len(decoded) == len(centroid) == 3
    errors = {}
    for name, points in (("offsets", decoded), ("centroid", centroid)):
        errors[name] = max(
            float(np.min(np.hypot(points[:, 0] - x, points[:, 1] - y))) for x, y, _, _ in truth
        )
    assert errors["offsets"] < 0.01 < errors["centroid"]  # the 3x3 centroid is pulled to the cell centre
    # A wrong offset moves the point: the votes, not the heat, decide where it is.
    shifted = target.copy()
    shifted[3] += 0.5
    moved = decode_marking_points(shifted, stride=4, threshold=0.3, nms_radius_px=8.0, offsets=True)
    assert np.sort(moved[:, 0]) == pytest.approx(np.sort(truth[:, 0]) + 2.0, abs=0.01)


def test_decode_refuses_a_map_of_the_other_layout() -> None:
    target = marking_point_target(np.array([[20.0, 20.0, 1.0, 0.0]]), (64, 64), stride=4, sigma_px=4.0)
    with pytest.raises(ValueError, match="3 channels, expected 5"):
        decode_marking_points(target, stride=4, threshold=0.3, nms_radius_px=8.0, offsets=True)
    with_offsets = marking_point_target(
        np.array([[20.0, 20.0, 1.0, 0.0]]), (64, 64), stride=4, sigma_px=4.0, offsets=True
    )
    with pytest.raises(ValueError, match="5 channels, expected 3"):
        decode_marking_points(with_offsets, stride=4, threshold=0.3, nms_radius_px=8.0)


@pytest.mark.parametrize("offsets", [False, True])
def test_flipped_maps_merge_back_onto_the_frame(offsets: bool) -> None:
    """Maps of mirrored copies of a frame, merged, are the frame's map (heat, directions, offsets)."""
    size = (96, 128)
    truth = np.array([[37.3, 21.8, 1.0, 0.0], [101.6, 70.1, 0.6, -0.8]], np.float32)

    def mirrored(flip: tuple[bool, bool]) -> np.ndarray:
        points = truth.copy()
        if flip[0]:
            points[:, 0], points[:, 2] = size[1] - 1 - points[:, 0], -points[:, 2]
        if flip[1]:
            points[:, 1], points[:, 3] = size[0] - 1 - points[:, 1], -points[:, 3]
        return marking_point_target(points, size, stride=4, sigma_px=4.0, offsets=offsets)

    reference = mirrored((False, False))
    for count, flips in TEST_TIME_FLIPS.items():
        merged = merge_flipped_maps(np.stack([mirrored(flip) for flip in flips]), flips)
        near = reference[0] > 0.3
        np.testing.assert_allclose(merged[0], reference[0], atol=1e-5, err_msg=str(count))
        np.testing.assert_allclose(merged[1:, near], reference[1:, near], atol=1e-4, err_msg=str(count))
        decoded = decode_marking_points(merged, stride=4, threshold=0.3, nms_radius_px=8.0, offsets=offsets)
        assert len(decoded) == 2
    with pytest.raises(ValueError, match="2 maps for 4 flips"):
        merge_flipped_maps(np.stack([reference] * 2), TEST_TIME_FLIPS[4])
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert flip_frame(image, (True, True)).tolist() == image[::-1, ::-1].tolist()


def test_decode_suppresses_weak_and_nearby_peaks() -> None:
    heat = np.zeros((3, 20, 20), np.float32)
    heat[1] = 1.0
    heat[0, 5, 5], heat[0, 5, 7], heat[0, 15, 15] = 0.9, 0.8, 0.2
    decoded = decode_marking_points(heat, stride=4, threshold=0.3, nms_radius_px=12.0)
    assert len(decoded) == 1 and decoded[0, 4] == pytest.approx(0.9)


def test_scale_points_maps_positions_and_keeps_unit_directions() -> None:
    points = with_scores(np.array([[10.0, 20.0, 0.6, 0.8]]))
    scaled = scale_points(points, np.array([[2.0, 0.0, 1.0], [0.0, 1.0, -3.0]]))
    assert scaled[0, :2].tolist() == [21.0, 17.0]
    assert np.hypot(*scaled[0, 2:4]) == pytest.approx(1.0)


def row_points(kind: str, count: int) -> np.ndarray:
    """Entrance points of a row on the right of the aisle (x = 300 px), directions into the slots."""
    if kind == "perpendicular":
        pitch_m, direction = 2.5, np.array([1.0, 0.0])
    elif kind == "parallel":
        pitch_m, direction = 6.0, np.array([1.0, 0.0])
    else:
        pitch_m, direction = (
            2.6 / np.sin(np.deg2rad(55)),
            np.array([np.sin(np.deg2rad(55)), np.cos(np.deg2rad(55))]),
        )
    rows = [[300.0, 100.0 + k * pitch_m / MPP, *direction] for k in range(count)]
    return with_scores(np.array(rows))


@pytest.mark.parametrize("kind", ["perpendicular", "parallel", "angled"])
def test_rows_of_each_type_become_adjacent_slots(kind: str) -> None:
    slots = assemble_slots(row_points(kind, 4), metres_per_pixel=MPP, priors=SlotPriors())
    assert len(slots) == 3
    assert {slot.slot_type.name.lower() for slot in slots} == {kind}
    for slot in slots:
        entrance_m = np.hypot(*(slot.corners[1] - slot.corners[0])) * MPP
        depth_m = np.hypot(*(slot.corners[3] - slot.corners[0])) * MPP
        assert depth_m == pytest.approx(SlotPriors().default_depth_m[kind])
        if kind == "parallel":
            assert 4.5 <= entrance_m <= 7.5
        # corners go clockwise on screen (positive shoelace sum, y down) with the entrance first
        x, y = slot.corners[:, 0], slot.corners[:, 1]
        assert float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) > 0


def test_a_missed_middle_point_of_a_perpendicular_row_is_no_parallel_slot() -> None:
    points = row_points("perpendicular", 3)
    line_mask = np.zeros((600, 700), bool)
    for x0, y0, *_ in points:  # 5 m separating lines: deeper than any parallel slot
        line_mask[int(y0) - 2 : int(y0) + 3, int(x0) : int(x0) + int(5.0 / MPP)] = True
    outer = points[[0, 2]]  # 5 m apart, the middle point missed
    assert assemble_slots(outer, metres_per_pixel=MPP, priors=SlotPriors(), line_mask=line_mask) == []
    assert len(assemble_slots(points, metres_per_pixel=MPP, priors=SlotPriors(), line_mask=line_mask)) == 2


@pytest.mark.parametrize("kind", ["perpendicular", "parallel"])
def test_band_rows_give_the_slots_between_the_bands_only(kind: str) -> None:
    """Slots between wide bands have a corner at each band edge (two points 0.6 m apart): the
    slots come from the inner pairs, never across a band (a pair one band apart is as wide as a slot)."""
    band_m, width_m = 0.6, (2.5 if kind == "perpendicular" else 5.5)
    centres_m = [k * (width_m + band_m) for k in range(4)]
    edges_m = [c + side * band_m / 2 for c in centres_m for side in (-1, 1)][1:-1]  # outer row ends: one edge
    points = with_scores(np.array([[300.0, 100.0 + y / MPP, 1.0, 0.0] for y in edges_m]))
    slots = assemble_slots(points, metres_per_pixel=MPP, priors=SlotPriors())
    assert len(slots) == 3
    for slot in slots:
        assert np.hypot(*(slot.corners[1] - slot.corners[0])) * MPP == pytest.approx(width_m, abs=0.01)


def test_points_whose_directions_disagree_make_no_slot() -> None:
    points = row_points("perpendicular", 2)
    points[1, 2:4] = [0.0, 1.0]  # this line runs along the aisle
    assert assemble_slots(points, metres_per_pixel=MPP, priors=SlotPriors()) == []
    points[1, 2:4] = [-1.0, 0.0]  # opposite sides of the entrance
    assert assemble_slots(points, metres_per_pixel=MPP, priors=SlotPriors()) == []


def test_depth_comes_from_the_separating_line_paint() -> None:
    points = row_points("perpendicular", 2)
    line_mask = np.zeros((600, 700), bool)
    for x0, y0, *_ in points:
        line_mask[int(y0) - 2 : int(y0) + 3, int(x0) : int(x0) + int(4.6 / MPP)] = True
    slot = assemble_slots(points, metres_per_pixel=MPP, priors=SlotPriors(), line_mask=line_mask)[0]
    assert slot.extra["depth_from"] == "paint"
    assert np.hypot(*(slot.corners[3] - slot.corners[0])) * MPP == pytest.approx(4.6, abs=0.05)


def test_occupancy_from_the_free_space_class() -> None:
    points = row_points("perpendicular", 3)
    free_mask = np.zeros((600, 700), bool)
    free_mask[100 : 100 + int(2.5 / MPP), 300:] = True  # only the first slot is free
    slots = assemble_slots(points, metres_per_pixel=MPP, priors=SlotPriors(), free_mask=free_mask)
    by_top = sorted(slots, key=lambda slot: float(slot.corners[:, 1].min()))
    assert [slot.free for slot in by_top] == [True, False]
    assert by_top[1].occupied
    assert [slot.occupancy_confidence for slot in by_top] == [pytest.approx(1.0, abs=0.05)] * 2


def test_ground_truth_points_rebuild_every_synthetic_slot() -> None:
    """The assembly itself loses nothing: the generator's own entrance corners give back its slots."""
    found = true = matched = 0
    for seed in range(200000, 200012):
        scene = generate_scene("parking", seed, size=(320, 320))
        mpp = scene.meta["metres_per_pixel"]
        slots = assemble_slots(
            with_scores(slot_marking_points(scene.slots)), metres_per_pixel=mpp, priors=SlotPriors()
        )
        matches = match_slots(slots, scene.slots, threshold_px=0.1 / mpp)
        found, true, matched = found + len(slots), true + len(scene.slots), matched + len(matches)
        kinds = {scene.slots[t].extra["type"]: slots[p].slot_type.name.lower() for p, t, _ in matches}
        assert all(expected == got for expected, got in kinds.items())
    # Every labelled slot comes back; the generator leaves a few slots unlabelled (e.g. one
    # between two labelled ones near the ego car), which the points rebuild too.
    assert true > 30 and matched == true and found - matched <= 0.05 * true


def test_priors_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="bogus"):
        SlotPriors.from_config({"bogus": 1})
    assert SlotPriors.from_config({"parallel_length_m": [5, 7]}).parallel_length_m == (5.0, 7.0)


def metric_slots(slots: list[ParkingSlot], origin=(160.0, 160.0), mpp=0.04) -> list[ParkingSlot]:
    for slot in slots:
        slot.corners_m = pixels_to_vehicle_metres(slot.corners, mpp, origin)
    return slots


def test_tracker_keeps_ids_while_the_car_moves_and_through_a_missed_frame() -> None:
    tracker = SlotTracker(TrackerConfig(match_distance_m=0.5, max_missed=3))
    frames = list(generate_drive("parking", 7, 40, size=(320, 320), fps=10.0))
    seen_ids: list[set[int]] = []
    for index, frame in enumerate(frames):
        slots = [ParkingSlot(corners=s.corners.copy(), free=s.free) for s in frame.slots]
        if index == 20:
            slots = slots[1:]  # one slot missed for a frame
        tracker.update(metric_slots(slots))
        seen_ids.append({slot.instance_id for slot in slots})
        assert len({slot.instance_id for slot in slots}) == len(slots)  # unique within a frame
    # ids persist: most ids of frame k are still there at frame k+1 (slots only leave at the view's edge)
    overlaps = [len(a & b) / max(1, len(a)) for a, b in itertools.pairwise(seen_ids)]
    assert np.mean(overlaps) > 0.8
    assert seen_ids[21] & (seen_ids[19] - seen_ids[20]), "the missed slot gets its id back"


def test_tracker_needs_metric_corners() -> None:
    with pytest.raises(ValueError, match="metres"):
        SlotTracker().update([ParkingSlot(corners=np.zeros((4, 2), np.float32))])


def test_weak_points_near_the_frame_border_are_dropped_strong_ones_kept():
    points = np.array(
        [
            [5.0, 50.0, 1.0, 0.0, 0.25],  # weak, 5 px from the left border
            [5.0, 80.0, 1.0, 0.0, 0.6],  # strong, same place
            [50.0, 50.0, 1.0, 0.0, 0.25],  # weak, far from every border
            [50.0, 96.0, 1.0, 0.0, 0.25],  # weak, 3.5 px from the bottom border
        ]
    )
    kept = drop_weak_edge_points(points, (100, 120), margin_px=10.0, threshold=0.3)
    np.testing.assert_array_equal(kept, points[[1, 2]])
    # a margin of 0 keeps everything
    np.testing.assert_array_equal(
        drop_weak_edge_points(points, (100, 120), margin_px=0.0, threshold=0.3), points
    )
