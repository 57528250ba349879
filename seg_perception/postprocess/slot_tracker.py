"""Stable ids for parking slots across frames (NumPy only).

Slots are associated by metric position: the midpoint of the entrance and its direction, in
the vehicle frame (metres), so the association does not depend on the image resolution.
While the car moves, every slot shifts by (nearly) the same ego motion; the tracker estimates
that shift as the median displacement of the slots matched in the previous frame and predicts
every track with it, so a slot keeps its id even when it was missed for a few frames.
Matching is greedy by distance (few slots per frame); a track unseen for more than
``max_missed`` frames is forgotten, and new ids are never reused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seg_perception.geometry import ParkingSlot
from seg_perception.postprocess.settings import check_known


@dataclass(frozen=True)
class TrackerConfig:
    """``slots.tracker`` block of ``config/parking.yaml``."""

    match_distance_m: float = 0.7
    max_missed: int = 15

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None) -> TrackerConfig:
        block = dict(block or {})
        check_known(cls, block, "tracker option(s)")
        return cls(
            match_distance_m=float(block.get("match_distance_m", cls.match_distance_m)),
            max_missed=int(block.get("max_missed", cls.max_missed)),
        )


@dataclass
class _Track:
    track_id: int
    position: np.ndarray  # entrance midpoint (x, y) in metres
    missed: int = 0


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
        self._motion = np.zeros(2)

    def reset(self) -> None:
        self._tracks = []
        self._motion = np.zeros(2)

    def update(self, slots: Sequence[ParkingSlot]) -> list[ParkingSlot]:
        """Set ``instance_id`` of every slot to its track id; returns the slots."""
        anchors = [slot_anchor_m(slot) for slot in slots]
        predicted = [track.position + self._motion for track in self._tracks]
        pairs = sorted(
            (float(np.hypot(*(anchor - prediction))), s, t)
            for s, anchor in enumerate(anchors)
            for t, prediction in enumerate(predicted)
        )
        slot_track: dict[int, int] = {}
        taken: set[int] = set()
        for distance, s, t in pairs:
            if distance > self.config.match_distance_m:
                break
            if s in slot_track or t in taken:
                continue
            slot_track[s] = t
            taken.add(t)
        shifts = [anchors[s] - self._tracks[t].position for s, t in slot_track.items()]
        motion = np.median(np.array(shifts), axis=0) if shifts else self._motion
        survivors: list[_Track] = []
        for t, track in enumerate(self._tracks):
            if t in taken:
                continue
            track.missed += 1
            track.position = track.position + motion
            if track.missed <= self.config.max_missed:
                survivors.append(track)
        matched: list[_Track] = []
        for s, slot in enumerate(slots):
            if s in slot_track:
                track = self._tracks[slot_track[s]]
                track.position, track.missed = anchors[s], 0
            else:
                track = _Track(self._next_id, anchors[s])
                self._next_id += 1
            slot.instance_id = track.track_id
            matched.append(track)
        self._tracks = matched + survivors
        self._motion = motion
        return list(slots)
