"""Plain data types for polygons and parking slots, shared by ground truth and predictions.

Coordinates are image pixels ``(x, y)`` as float32; conversion to metres happens
where a calibration is known (the ROS layer and the offline tools).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
            entrance side; the rest follow around the slot.
        free: True when no vehicle occupies the slot.
        instance_id: Identifier unique within one frame.
        extra: Free-form details (e.g. slot type: perpendicular, parallel, angled).
    """

    corners: np.ndarray
    free: bool = True
    instance_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "class": "parking_slot",
            "id": int(self.instance_id),
            "free": bool(self.free),
            "entrance": [0, 1],
            "vertices": np.asarray(self.corners, dtype=float).round(2).tolist(),
            **self.extra,
        }


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
