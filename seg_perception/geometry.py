"""Plain data types for polygons and parking slots, shared by ground truth and predictions.

Coordinates are image pixels ``(x, y)`` as float32; conversion to metres happens
where a calibration is known (the ROS layer and the offline tools). Parking slots map one to
one onto the package's ``ParkingSlot`` message (``seg_perception.ros.typed_messages``): fields
that post-processing does not estimate keep their "unknown" defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seg_perception.interfaces import SlotType


@dataclass
class Polygon:
    """A closed polygon of one class (a lane-marking region, a crosswalk, ...).

    Attributes:
        class_id: Class id in the scenario's class map.
        class_name: Class name, for readers of JSON output.
        points: (K, 2) float32 pixel coordinates ``(x, y)``; not repeated at the end.
        instance_id: Identifier unique within one frame and class.
    """

    class_id: int
    class_name: str
    points: np.ndarray
    instance_id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.class_name,
            "class_id": int(self.class_id),
            "id": int(self.instance_id),
            "vertices": np.asarray(self.points, dtype=float).round(2).tolist(),
        }


@dataclass
class ParkingSlot:
    """A parking slot as a quadrilateral.

    Attributes:
        corners: (4, 2) float32 pixel coordinates. ``corners[0] -> corners[1]`` is the
            entrance side (left to right as seen from the aisle), the rest follow
            clockwise on screen: ``corners[3]`` and ``corners[2]`` are the back ends of the
            separating lines that start at ``corners[0]`` and ``corners[1]``.
        free: True when no vehicle occupies the slot (``occupied`` is its negation).
        instance_id: Identifier unique within one frame (a tracked id where slots are tracked:
            it stays with the same physical slot across frames).
        extra: Free-form details for the JSON output.
        slot_type: Layout; UNKNOWN lets the message builder classify it from the corners.
        confidence: Detection confidence in [0, 1] (1 where the detector gives none).
        occupancy_confidence: Confidence of ``free`` in [0, 1].
        corners_m: (4, 2) corners in the vehicle frame (x forward, y left, metres), when the
            camera's ground geometry is known.
        missed_frames: 0 for a slot detected in this frame; n > 0 for a tracked slot missed in
            the last n frames and reported where the ego motion has moved it.
    """

    corners: np.ndarray
    free: bool = True
    instance_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    slot_type: SlotType = SlotType.UNKNOWN
    confidence: float = 1.0
    occupancy_confidence: float = 1.0
    corners_m: np.ndarray | None = None
    missed_frames: int = 0

    @property
    def occupied(self) -> bool:
        return not self.free

    @property
    def entrance(self) -> np.ndarray:
        """(2, 2) entrance corners in pixels."""
        return np.asarray(self.corners)[:2]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "class": "parking_slot",
            "id": int(self.instance_id),
            "free": bool(self.free),
            "occupied": not bool(self.free),
            "entrance": [0, 1],
            "vertices": np.asarray(self.corners, dtype=float).round(2).tolist(),
        }
        if self.slot_type != SlotType.UNKNOWN:
            data["type"] = self.slot_type.name.lower()
        data["confidence"] = round(float(self.confidence), 3)
        data["missed_frames"] = int(self.missed_frames)
        if self.corners_m is not None:
            data["vertices_m"] = np.asarray(self.corners_m, dtype=float).round(3).tolist()
        return {**data, **self.extra}


MARKING_SHAPES = ("T", "L", "I")


@dataclass
class MarkingPoint:
    """A parking-slot marking point: where a separating line meets the entrance line.

    Attributes:
        position: (2,) float32 pixel coordinates ``(x, y)`` of the junction (line centres).
        direction: Angle in radians, image axes (``atan2(dy, dx)``, y down), of the
            separating line from the junction into the slots.
        shape: ``T`` (the entrance line runs on both sides), ``L`` (on one side: the end
            of a row) or ``I`` (no entrance line: the end of a separating line).
        occluded: True when something above the ground hides the junction in the image.
    """

    position: np.ndarray
    direction: float = 0.0
    shape: str = "T"
    occluded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "class": "marking_point",
            "x": round(float(self.position[0]), 2),
            "y": round(float(self.position[1]), 2),
            "direction": round(float(self.direction), 4),
            "shape": self.shape,
            "occluded": bool(self.occluded),
        }
