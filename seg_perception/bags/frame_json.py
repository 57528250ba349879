"""Per-frame polygon JSON: the payload of ``.../polygons`` string topics and of ``polygons.jsonl``.

One object per frame, in the contest's spirit (class, id, vertices)::

    {"stamp": {"sec": 1700000000, "nanosec": 33333333}, "stamp_ns": 1700000000033333333,
     "frame_id": "camera_avm_optical_frame", "camera": "avm", "image_size": [640, 640],
     "metres_per_pixel": 0.02, "origin_px": [320.0, 320.0],
     "polygons": [{"class": "slot_line", "class_id": 1, "id": 0,
                   "vertices": [[u, v], ...], "vertices_m": [[x, y], ...]}],
     "slots": [{"class": "parking_slot", "id": 0, "free": true, "entrance": [0, 1],
                "vertices": [[u, v] x4], "vertices_m": [[x, y] x4]}],
     "marking_points": [{"class": "marking_point", "x": u, "y": v, "direction": rad,
                         "shape": "T", "occluded": false, "xy_m": [x, y]}]}

``vertices`` are pixels ``(u, v)``. ``vertices_m`` (vehicle frame, x forward, y left,
``x = (v0 - v)·s``, ``y = (u0 - u)·s``) appear only where the camera is calibrated with
``metres_per_pixel`` (AVM); ``metres_per_pixel`` and ``origin_px`` are then present too.
``marking_points`` (slot marking points: position, direction in image axes, T/L/I shape) appear
when known: the generator's ground truth writes them.
The ``std_msgs/String`` has no header, hence the stamp inside the JSON.

Front cameras add ``"lanes"`` (see :meth:`seg_perception.postprocess.lanes.LaneResult.to_json`)::

    "lanes": {"metric": true,
              "boundaries": [{"class": "lane_boundary", "id": 3, "position": "ego_left",
                              "position_index": 1, "type": "dashed", "color": "white",
                              "confidence": 0.93, "frame": "vehicle_ground",
                              "coefficients": [c0, c1, c2, c3], "valid_range": [x_near, x_far],
                              "missed_frames": 0, "vertices": [[u, v], ...],
                              "points_m": [[x, y], ...]}],
              "ego_lane": {"width": 3.6, "lateral_offset": 0.1, "heading_rad": 0.01,
                           "curvature": 0.0005, "left_id": 3, "right_id": 4, "units": "m"},
              "markings": [{"class": "stop_line", "id": 0, "distance": 12.3, "vertices": [...]}],
              "hood_edge": [[u, v], ...]}

Metric boundaries are ``y = c0 + c1 x + c2 x^2 + c3 x^3`` (vehicle frame, metres) over
``valid_range`` in x; in image space (uncalibrated) ``u = c0 + c1 v + c2 v^2`` over rows
``valid_range``, and ``"frame": "image"``. ``hood_edge`` is the car's hood edge where the frame shows one
(17 pixels evenly across the width; the road is seen above it), else null.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seg_perception.bags.errors import BagError
from seg_perception.geometry import MarkingPoint, ParkingSlot, Polygon
from seg_perception.postprocess.ground import pixels_to_vehicle_metres
from seg_perception.postprocess.lanes import LaneResult


@dataclass(frozen=True)
class Calibration:
    """Bird's-eye scale of a camera; ``metres_per_pixel == 0`` means uncalibrated."""

    metres_per_pixel: float = 0.0
    origin_px: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Calibration:
        scale = float(values.get("metres_per_pixel") or 0.0)
        origin = values.get("origin_px") or (0.0, 0.0)
        return cls(scale, (float(origin[0]), float(origin[1])))

    @property
    def metric(self) -> bool:
        return self.metres_per_pixel > 0

    def to_metres(self, points_uv: np.ndarray) -> np.ndarray:
        """(K, 2) vehicle-frame metres of (K, 2) pixels, as the node's markers (calibrated cameras only)."""
        return pixels_to_vehicle_metres(points_uv, self.metres_per_pixel, self.origin_px)


def frame_record(
    *,
    stamp_ns: int,
    frame_id: str,
    camera: str,
    image_size: tuple[int, int],
    polygons: Sequence[Polygon],
    slots: Sequence[ParkingSlot],
    calibration: Calibration = Calibration(),
    marking_points: Sequence[MarkingPoint] = (),
    lanes: LaneResult | None = None,
) -> dict[str, Any]:
    """The JSON object of one frame (see the module docstring)."""
    record: dict[str, Any] = {
        "stamp": {"sec": int(stamp_ns // 1_000_000_000), "nanosec": int(stamp_ns % 1_000_000_000)},
        "stamp_ns": int(stamp_ns),
        "frame_id": frame_id,
        "camera": camera,
        "image_size": [int(image_size[0]), int(image_size[1])],
    }
    if calibration.metric:
        record["metres_per_pixel"] = calibration.metres_per_pixel
        record["origin_px"] = list(calibration.origin_px)
    record["polygons"] = [_with_metres(p.to_json(), p.points, calibration) for p in polygons]
    record["slots"] = [_with_metres(s.to_json(), s.corners, calibration) for s in slots]
    if marking_points:
        record["marking_points"] = [_mark_json(m, calibration) for m in marking_points]
    if lanes is not None:
        record["lanes"] = lanes.to_json()
    return record


def _mark_json(mark: MarkingPoint, calibration: Calibration) -> dict[str, Any]:
    item = mark.to_json()
    if calibration.metric:
        item["xy_m"] = calibration.to_metres(np.asarray(mark.position)[None])[0].round(3).tolist()
    return item


def marking_point_positions(record: dict[str, Any], *, visible_only: bool = True) -> np.ndarray | None:
    """(N, 2) pixel positions of a record's ``marking_points``; None when the record has none.

    ``visible_only`` leaves out the points the record marks ``occluded`` (hidden by something
    above the ground: no detector can see them, and labellers of real images skip them).
    """
    items = record.get("marking_points")
    if items is None:
        return None
    try:
        return np.array(
            [[float(m["x"]), float(m["y"])] for m in items if not (visible_only and m.get("occluded"))],
            np.float64,
        ).reshape(-1, 2)
    except (KeyError, TypeError, ValueError) as err:
        raise BagError(f"malformed marking_points in frame JSON ({err})") from err


def _with_metres(item: dict[str, Any], points: np.ndarray, calibration: Calibration) -> dict[str, Any]:
    if calibration.metric:
        item["vertices_m"] = calibration.to_metres(points).round(3).tolist()
    return item


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def parse_record(text: str, *, topic: str = "") -> tuple[list[Polygon], list[ParkingSlot], dict[str, Any]]:
    """Polygons, slots and the whole record of one frame's JSON.

    Raises:
        BagError: not JSON or lacking the expected keys.
    """
    try:
        record = json.loads(text)
        polygons = [
            Polygon(
                class_id=int(item["class_id"]),
                class_name=str(item.get("class", "")),
                points=np.asarray(item["vertices"], dtype=np.float32).reshape(-1, 2),
                instance_id=int(item.get("id", 0)),
            )
            for item in record.get("polygons", [])
        ]
        slots = [
            ParkingSlot(
                corners=np.asarray(item["vertices"], dtype=np.float32).reshape(4, 2),
                free=bool(item.get("free", True)),
                instance_id=int(item.get("id", 0)),
            )
            for item in record.get("slots", [])
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise BagError(f"topic {topic}: malformed polygon JSON ({err})") from err
    return polygons, slots, record
