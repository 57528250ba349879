"""Slot tracking over frames: the ego motion (turns too), smoothed corners, held slots (NumPy only)."""

from __future__ import annotations

import numpy as np
import pytest

from seg_perception.data.synthetic import generate_drive
from seg_perception.geometry import ParkingSlot
from seg_perception.postprocess.ground import pixels_to_vehicle_metres
from seg_perception.postprocess.slot_tracker import (
    RigidMotion,
    SlotTracker,
    TrackerConfig,
    fit_rigid_motion,
)

MPP = 0.02
ORIGIN = (320.0, 320.0)
SIZE = (640, 640)


def row_of_slots(count: int = 5, width_px: float = 100.0, depth_px: float = 250.0) -> list[np.ndarray]:
    """Pixel corners of a row of perpendicular slots left of the car, entrance facing it."""
    return [
        np.array(
            [
                [250.0, 100 + i * width_px],
                [250.0, 100 + (i + 1) * width_px],
                [0.0, 100 + (i + 1) * width_px],
                [0.0, 100 + i * width_px],
            ]
        )
        for i in range(count)
    ]


def turned(corners: np.ndarray, degrees: float, shift_px: tuple[float, float]) -> np.ndarray:
    """Pixel corners seen after the car turned about the origin pixel and moved."""
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (corners - ORIGIN) @ rotation.T + ORIGIN + np.asarray(shift_px)


def detected(corners: list[np.ndarray], confidence: float = 0.9) -> list[ParkingSlot]:
    return [
        ParkingSlot(
            corners=c.astype(np.float32),
            confidence=confidence,
            corners_m=pixels_to_vehicle_metres(c, MPP, ORIGIN).astype(np.float32),
        )
        for c in corners
    ]


def test_fit_rigid_motion_recovers_a_turn_and_a_shift_and_the_median_shift_ignores_one_wrong_pair() -> None:
    rng = np.random.default_rng(0)
    source = rng.uniform(-5, 5, (12, 2))
    angle = np.radians(3.0)
    truth = RigidMotion(
        np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]), np.array([0.2, -0.1])
    )
    fitted = fit_rigid_motion(source, truth.apply(source))
    assert np.allclose(fitted.rotation, truth.rotation) and np.allclose(fitted.translation, truth.translation)
    assert np.linalg.det(fitted.rotation) == pytest.approx(1.0)
    target = source + np.array([0.3, 0.0])
    target[0] += [4.0, 4.0]  # one wrong pair
    shift = fit_rigid_motion(source, target, rotate=False)
    assert np.allclose(shift.rotation, np.eye(2)) and np.allclose(shift.translation, [0.3, 0.0])


def test_a_held_slot_follows_the_car_through_a_turn_which_a_shift_alone_does_not() -> None:
    """The car turns at 1 degree a frame while moving; one slot is missed for three frames."""
    slots = row_of_slots()
    errors = {}
    for name, rotate_from in (("turn", 3), ("shift only", 1000)):
        tracker = SlotTracker(
            TrackerConfig(coast_frames=5, coast_min_hits=3, min_slots_to_rotate=rotate_from, min_turn_deg=0.2)
        )
        ids: list[dict[int, int]] = []
        for frame in range(16):
            truth = [turned(c, 1.0 * frame, (0.0, 2.0 * frame)) for c in slots]
            seen = [0, 1, 2, 3] if 10 <= frame < 13 else [0, 1, 2, 3, 4]
            out = tracker.update(detected([truth[i] for i in seen]), SIZE)
            if frame == 12:
                held = [slot for slot in out if slot.missed_frames]
                assert len(held) == 1 and held[0].missed_frames == 3
                errors[name] = float(np.abs(held[0].corners[:2] - truth[4][:2]).max())
            ids.append({i: slot.instance_id for i, slot in zip(seen, out, strict=False)})
        assert all(frame_ids == ids[0] for frame_ids in ids[1:10]), "ids stay through the turn"
        assert ids[13][4] == ids[0][4], "the missed slot gets its id back"
    assert errors["turn"] < 1.0 < errors["shift only"]  # pixels


def test_smoothing_halves_the_corners_jitter_of_a_still_car() -> None:
    rng = np.random.default_rng(3)
    slots = row_of_slots()
    raw, smoothed = [], []
    for smoothing in (1.0, 0.3):
        tracker = SlotTracker(TrackerConfig(smoothing=smoothing))
        errors = []
        for frame in range(60):
            noisy = [c + rng.normal(0, 3.0, c.shape) for c in slots]
            out = tracker.update(detected(noisy), SIZE)
            if frame >= 20:
                errors += [float(np.abs(s.corners - c).mean()) for s, c in zip(out, slots, strict=True)]
                metres = [pixels_to_vehicle_metres(c, MPP, ORIGIN) for c in slots]
                assert all(np.abs(s.corners_m - m).max() < 0.5 for s, m in zip(out, metres, strict=True))
        (raw if smoothing == 1.0 else smoothed).append(np.mean(errors))
    assert smoothed[0] < 0.6 * raw[0]


def test_smoothing_pulls_one_wrong_detection_towards_its_track() -> None:
    slots = row_of_slots()
    tracker = SlotTracker(TrackerConfig(smoothing=0.3))
    for _ in range(10):
        tracker.update(detected(slots), SIZE)
    wrong = [c.copy() for c in slots]
    wrong[2][1] += [0.0, 20.0]  # one entrance corner 40 cm off, within the match distance
    out = tracker.update(detected(wrong), SIZE)
    assert abs(float(out[2].corners[1, 1]) - slots[2][1, 1]) == pytest.approx(6.0, abs=0.5)  # 0.3 x 20 px


def test_slots_are_held_only_when_seen_often_enough_for_a_few_frames_and_inside_the_image() -> None:
    slots = row_of_slots()
    config = TrackerConfig(coast_frames=3, coast_min_hits=4, confidence_decay=0.5)

    tracker = SlotTracker(config)
    for _ in range(3):  # seen in 3 frames: fewer than coast_min_hits
        tracker.update(detected(slots), SIZE)
    assert len(tracker.update(detected(slots[:4]), SIZE)) == 4

    tracker = SlotTracker(config)
    for _ in range(6):
        tracker.update(detected(slots), SIZE)
    held_per_frame = []
    for _ in range(5):
        out = tracker.update(detected(slots[:4]), SIZE)
        held_per_frame.append([(s.missed_frames, round(s.confidence, 4)) for s in out if s.missed_frames])
    assert held_per_frame == [[(1, 0.45)], [(2, 0.225)], [(3, 0.1125)], [], []]
    assert all(s.missed_frames == 0 for s in tracker.update(detected(slots), SIZE))

    tracker = SlotTracker(config)
    for _ in range(6):
        tracker.update(detected(slots), SIZE)
    assert len(tracker.update(detected(slots[:4]), (550, 640))) == 4  # entrance y 500..600: out of 550 rows

    tracker = SlotTracker(TrackerConfig(coast_frames=0))
    for _ in range(6):
        tracker.update(detected(slots), SIZE)
    assert len(tracker.update(detected(slots[:4]), SIZE)) == 4  # off by default


def test_a_slot_detected_under_a_new_id_where_a_track_is_missed_is_not_doubled() -> None:
    slots = row_of_slots()
    tracker = SlotTracker(TrackerConfig(coast_frames=3, coast_min_hits=2, match_distance_m=0.3))
    for _ in range(5):
        tracker.update(detected(slots), SIZE)
    moved = [c.copy() for c in slots]
    moved[4] = moved[4] + [0.0, 20.0]  # 0.4 m: too far to match its track, near enough to be that slot
    out = tracker.update(detected(moved), SIZE)
    assert len(out) == 5 and not any(s.missed_frames for s in out)


def test_generated_slots_keep_their_ids_and_the_tracker_keeps_them_on_a_drive() -> None:
    frames = list(generate_drive("parking", 11, 30, size=(320, 320), fps=10.0))
    corners_by_id: dict[int, list[np.ndarray]] = {}
    for frame in frames:
        for slot in frame.slots:
            corners_by_id.setdefault(slot.instance_id, []).append(np.asarray(slot.corners).mean(axis=0))
    moving = [
        np.linalg.norm(np.diff(track, axis=0), axis=1) for track in corners_by_id.values() if len(track) > 1
    ]
    assert moving and max(float(steps.max()) for steps in moving) < 20.0  # a true id is one physical slot
    tracker = SlotTracker(TrackerConfig(smoothing=0.3, coast_frames=5))
    kept = pairs = 0
    last: dict[int, int] = {}
    for frame in frames:
        slots = [ParkingSlot(corners=s.corners.copy(), free=s.free) for s in frame.slots]
        for slot in slots:
            slot.corners_m = pixels_to_vehicle_metres(slot.corners, 0.04, (160.0, 160.0)).astype(np.float32)
        tracker.update(slots, (320, 320))
        for truth, slot in zip(frame.slots, slots, strict=True):
            if truth.instance_id in last:
                pairs += 1
                kept += last[truth.instance_id] == slot.instance_id
            last[truth.instance_id] = slot.instance_id
    assert pairs > 50 and kept == pairs


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"smoothing": 0.0}, "smoothing must lie in"),
        ({"coast_frames": 20}, "coast_frames must lie in 0..max_missed"),
        ({"coast_min_hits": 0}, "coast_min_hits must be >= 1"),
        ({"confidence_decay": 1.5}, "confidence_decay in"),
        ({"min_slots_to_rotate": 1}, "min_slots_to_rotate must be >= 2"),
        ({"min_turn_deg": -1}, "min_turn_deg >= 0"),
        ({"smothing": 0.5}, "unknown tracker option"),
    ],
)
def test_bad_tracker_settings_are_refused(block: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackerConfig.from_config(block)
