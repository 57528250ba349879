"""Stable ids for parking slots across frames, smoothed corners and briefly held slots (NumPy only).

Slots are associated by metric position: the midpoint of the entrance, in the vehicle frame
(metres), so the association does not depend on the image resolution. While the car moves,
every slot moves by the same ego motion; the tracker fits that motion to the slots matched in
the last frame (a turn too, once enough slots are matched: a car turns into a slot) and predicts
every track with it, so a slot keeps its id even when it was missed for a few frames. Matching is
greedy by distance (few slots per frame); a track unseen for more than ``max_missed`` frames is
forgotten, and new ids are never reused.

With ``smoothing`` below 1 a detection's corners are blended with its track's, moved by the ego
motion: the corners of one frame carry the marking points' jitter, and a slot whose detection
took one wrong point is pulled back towards where it was.

A slot seen in a few frames and missed in this one (the marking points flicker: a junction's heat
dips under the threshold for a frame or two) is still reported for up to ``coast_frames`` frames,
where the ego motion has moved it, with its confidence decayed and ``missed_frames`` saying so;
no more frames than it was seen in, never over a slot detected in the same place, and only while
its entrance lies in the image (the labels' convention: a slot is there when its entrance is in
view).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seg_perception.geometry import ParkingSlot
from seg_perception.postprocess.settings import settings_values


@dataclass(frozen=True)
class TrackerConfig:
    """``slots.tracker`` block of ``config/parking.yaml``."""

    match_distance_m: float = 0.7
    max_missed: int = 15
    # weight of a detection's corners against its track's (moved by the ego motion); 1: no smoothing
    smoothing: float = 1.0
    # frames a missed slot is still reported where the ego motion has moved it (0: detected slots only)
    coast_frames: int = 0
    # ...if it was detected in at least this many frames (a flickering false slot is not held)
    coast_min_hits: int = 3
    # a held slot's confidence is its last detection's times this per missed frame
    confidence_decay: float = 0.7
    # a held slot's entrance this close (metres) to a detected one's is that slot, not held: the
    # entrances of two neighbouring slots lie a slot's width (2 m or more) apart
    same_place_m: float = 1.0
    # the ego motion includes a turn when this many slots are matched (fewer: a shift only)
    min_slots_to_rotate: int = 3
    # a matched slot this far (metres) from the first motion fit, and 3x the median, is left out
    outlier_floor_m: float = 0.1
    # a fitted turn smaller than this (degrees per frame) is the corners' noise: a shift only
    min_turn_deg: float = 0.0

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None) -> TrackerConfig:
        """The block's values over the defaults.

        Raises:
            ValueError: an unknown key, a value of the wrong type, or one out of its range.
        """
        config = cls(**settings_values(cls(), block, "tracker option(s)"))
        if config.match_distance_m <= 0 or config.max_missed < 0:
            raise ValueError("slots.tracker: match_distance_m must be > 0 and max_missed >= 0")
        if not 0.0 < config.smoothing <= 1.0:
            raise ValueError(f"slots.tracker.smoothing must lie in (0, 1], got {config.smoothing}")
        if not 0 <= config.coast_frames <= config.max_missed:
            raise ValueError(
                f"slots.tracker.coast_frames must lie in 0..max_missed ({config.max_missed}), "
                f"got {config.coast_frames}"
            )
        if config.coast_min_hits < 1 or not 0.0 < config.confidence_decay <= 1.0 or config.same_place_m < 0:
            raise ValueError(
                "slots.tracker: coast_min_hits must be >= 1, confidence_decay in (0, 1] and same_place_m >= 0"
            )
        if config.min_slots_to_rotate < 2 or config.outlier_floor_m <= 0 or config.min_turn_deg < 0:
            raise ValueError(
                "slots.tracker: min_slots_to_rotate must be >= 2, outlier_floor_m > 0 and min_turn_deg >= 0"
            )
        return config


@dataclass(frozen=True)
class RigidMotion:
    """A rotation and translation of the ground plane (or of the bird's-eye image): ``R @ p + t``."""

    rotation: np.ndarray  # (2, 2)
    translation: np.ndarray  # (2,)

    @classmethod
    def identity(cls) -> RigidMotion:
        return cls(np.eye(2), np.zeros(2))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """``(..., 2)`` points moved."""
        return np.asarray(points, np.float64) @ self.rotation.T + self.translation


def fit_rigid_motion(source: np.ndarray, target: np.ndarray, *, rotate: bool = True) -> RigidMotion:
    """The least-squares rigid motion taking ``(N, 2)`` source points onto the target points.

    With ``rotate`` false (or fewer than two points) only a translation is fitted: the median
    shift, which one wrong pair does not move.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if not rotate or len(source) < 2:
        return RigidMotion(np.eye(2), np.median(target - source, axis=0))
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    u, _, vt = np.linalg.svd((source - source_mean).T @ (target - target_mean))
    # a rotation, never a mirror image
    rotation = vt.T @ np.diag([1.0, 1.0 if np.linalg.det(vt.T @ u.T) >= 0 else -1.0]) @ u.T
    return RigidMotion(rotation, target_mean - rotation @ source_mean)


@dataclass
class _Track:
    track_id: int
    position: np.ndarray  # entrance midpoint (x, y) in metres
    slot: ParkingSlot  # the last detection (smoothed), moved with the ego motion while missed
    missed: int = 0
    hits: int = 1


def slot_anchor_m(slot: ParkingSlot) -> np.ndarray:
    """The entrance midpoint of a slot in metres (its ``corners_m``)."""
    if slot.corners_m is None:
        raise ValueError("slot tracking needs slot corners in metres (camera metres_per_pixel and origin_px)")
    corners = np.asarray(slot.corners_m, dtype=np.float64)
    return (corners[0] + corners[1]) / 2.0


class SlotTracker:
    """Give each slot of a frame the id of the same physical slot in earlier frames."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_id = 1
        # the last frame's ego motion, as the ground (metres) and the image (pixels) saw it
        self._motion = RigidMotion.identity()
        self._motion_px = RigidMotion.identity()

    def reset(self) -> None:
        self._tracks = []
        self._motion = RigidMotion.identity()
        self._motion_px = RigidMotion.identity()

    def update(
        self, slots: Sequence[ParkingSlot], image_size: tuple[int, int] | None = None
    ) -> list[ParkingSlot]:
        """Set ``instance_id`` of every slot to its track id.

        Args:
            slots: The frame's detected slots (with ``corners_m``); their ids are set in place, and
                their corners smoothed with their tracks' when ``smoothing`` is below 1.
            image_size: ``(height, width)`` of the frame: a held slot whose entrance leaves it is
                not reported. None: no such check.

        Returns:
            The detected slots, then the held ones (``missed_frames`` > 0) when ``coast_frames``
            allows them.
        """
        anchors = np.array([slot_anchor_m(slot) for slot in slots]).reshape(-1, 2)
        predicted = self._motion.apply(np.array([track.position for track in self._tracks]).reshape(-1, 2))
        distances = np.linalg.norm(anchors[:, None] - predicted[None], axis=2)
        close = np.argwhere(distances <= self.config.match_distance_m)  # (slot, track) pairs, row-major
        slot_track: dict[int, int] = {}
        taken: set[int] = set()
        for s, t in close[np.argsort(distances[close[:, 0], close[:, 1]], kind="stable")].tolist():
            if s in slot_track or t in taken:
                continue
            slot_track[s] = t
            taken.add(t)
        if slot_track:
            self._motion, self._motion_px = self._estimate_motion(
                [self._tracks[t].slot for t in slot_track.values()], [slots[s] for s in slot_track]
            )
        motion, motion_px = self._motion, self._motion_px
        survivors: list[_Track] = []
        for t, track in enumerate(self._tracks):
            if t in taken:
                continue
            track.missed += 1
            track.position = motion.apply(track.position)
            track.slot = _moved(track.slot, motion, motion_px)
            if track.missed <= self.config.max_missed:
                survivors.append(track)
        matched: list[_Track] = []
        for s, slot in enumerate(slots):
            slot.missed_frames = 0
            if s in slot_track:
                track = self._tracks[slot_track[s]]
                self._smooth(slot, _moved(track.slot, motion, motion_px))
                track.position, track.missed, track.slot = slot_anchor_m(slot), 0, slot
                track.hits += 1
            else:
                track = _Track(self._next_id, anchors[s], slot)
                self._next_id += 1
            slot.instance_id = track.track_id
            matched.append(track)
        self._tracks = matched + survivors
        return list(slots) + self._held(survivors, anchors, image_size)

    def _estimate_motion(
        self, before: list[ParkingSlot], now: list[ParkingSlot]
    ) -> tuple[RigidMotion, RigidMotion]:
        """The ego motion since the last frame from matched slots' entrances, in metres and pixels.

        A turn is fitted only from ``min_slots_to_rotate`` slots on: the two corners of one slot
        lie too close together to tell a turn from their noise. A slot whose corners stay far from
        the first fit (a detection that took a wrong point) is left out of the second.
        """
        source = np.array([np.asarray(slot.corners_m, np.float64)[:2] for slot in before])
        target = np.array([np.asarray(slot.corners_m, np.float64)[:2] for slot in now])
        source_px = np.array([np.asarray(slot.corners, np.float64)[:2] for slot in before])
        target_px = np.array([np.asarray(slot.corners, np.float64)[:2] for slot in now])
        rotate = len(before) >= self.config.min_slots_to_rotate
        motion = fit_rigid_motion(source.reshape(-1, 2), target.reshape(-1, 2), rotate=rotate)
        if rotate:
            residual = np.linalg.norm(motion.apply(source) - target, axis=2).mean(axis=1)
            keep = residual <= max(3.0 * float(np.median(residual)), self.config.outlier_floor_m)
            source, target = source[keep], target[keep]
            source_px, target_px = source_px[keep], target_px[keep]
            rotate = len(source) >= self.config.min_slots_to_rotate
            motion = fit_rigid_motion(source.reshape(-1, 2), target.reshape(-1, 2), rotate=rotate)
            turn = np.degrees(abs(np.arctan2(motion.rotation[1, 0], motion.rotation[0, 0])))
            if rotate and turn < self.config.min_turn_deg:  # the corners' noise, not a turn
                rotate = False
                motion = fit_rigid_motion(source.reshape(-1, 2), target.reshape(-1, 2), rotate=False)
        return motion, fit_rigid_motion(source_px.reshape(-1, 2), target_px.reshape(-1, 2), rotate=rotate)

    def _smooth(self, slot: ParkingSlot, track: ParkingSlot) -> None:
        """Blend the detection's corners with its track's (in place), in pixels and metres alike."""
        weight = self.config.smoothing
        if weight >= 1.0 or track.corners_m is None or slot.corners_m is None:
            return
        slot.corners = (weight * np.asarray(slot.corners) + (1 - weight) * track.corners).astype(np.float32)
        slot.corners_m = (weight * np.asarray(slot.corners_m) + (1 - weight) * track.corners_m).astype(
            np.float32
        )

    def _held(
        self, survivors: list[_Track], anchors: np.ndarray, image_size: tuple[int, int] | None
    ) -> list[ParkingSlot]:
        """Copies of the missed tracks' slots that may still be reported (see the module docstring)."""
        config = self.config
        held: list[ParkingSlot] = []
        for track in survivors:
            if track.missed > min(config.coast_frames, track.hits) or track.hits < config.coast_min_hits:
                continue
            if len(anchors) and np.linalg.norm(anchors - track.position, axis=1).min() <= config.same_place_m:
                continue  # a slot detected there now (under another id) is that slot
            entrance = np.asarray(track.slot.corners, dtype=np.float64)[:2]
            if image_size is not None and not (
                (entrance >= 0).all()
                and (entrance[:, 0] <= image_size[1] - 1).all()
                and (entrance[:, 1] <= image_size[0] - 1).all()
            ):
                continue
            slot = copy.copy(track.slot)
            slot.instance_id = track.track_id
            slot.missed_frames = track.missed
            slot.confidence = float(track.slot.confidence * config.confidence_decay**track.missed)
            held.append(slot)
        return held


def _moved(slot: ParkingSlot, motion: RigidMotion, motion_px: RigidMotion) -> ParkingSlot:
    """A copy of the slot moved by one frame's ego motion, in metres and in pixels."""
    moved = copy.copy(slot)
    moved.corners = motion_px.apply(slot.corners).astype(np.float32)
    if slot.corners_m is not None:
        moved.corners_m = motion.apply(slot.corners_m).astype(np.float32)
    return moved
