"""The :class:`SceneSample` container and mask -> ground-truth polygon conversion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from seg_perception.config import ClassMap
from seg_perception.geometry import MarkingPoint, ParkingSlot, Polygon

MIN_REGION_AREA_PX = 3
LABEL_MIN_VISIBLE_POINTS = 2  # visible truth samples a line needs to be labelled at all


def runs_where(flags: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the runs of consecutive true values of a 1-D ``flags`` (a line's stretches)."""
    pieces = np.split(np.arange(len(flags)), np.flatnonzero(np.diff(flags.astype(int))) + 1)
    return [piece for piece in pieces if len(piece) and flags[piece[0]]]


@dataclass
class LaneTruth:
    """Ground truth of one painted lane boundary in one front-camera frame.

    A boundary is the centre line of a longitudinal marking (the middle of a double line),
    continuous across dash gaps and cut only where the paint stops (junctions). Points run
    from near to far, out to the distance where the paint is still labelled in the mask.

    Attributes:
        lane_id: Identifier of the marking, stable over the frames of a drive.
        position: Place relative to the car: -1 the ego lane's left boundary, +1 its right,
            -2 / +2 the next ones out, and so on.
        style: ``solid``, ``dashed``, ``double`` or ``dots`` (Botts' dots).
        color: ``white`` or ``yellow``.
        ground: (N, 2) metres ``(x right, y forward)`` on the ground, vehicle frame of the
            sample's ``camera_model`` (camera at ``(0, 0, mount_height_m)``).
        image: (N, 2) pixels ``(x, y)`` in the output image (lens included); points may lie
            outside the frame, and are NaN far outside it, where the lens gives them no position.
        visible: (N,) inside the frame and not hidden by a vehicle, snow or the car's hood.
    """

    lane_id: int
    position: int
    style: str
    color: str
    ground: np.ndarray
    image: np.ndarray
    visible: np.ndarray

    @property
    def in_sight(self) -> bool:
        """Whether the frame shows enough of the line for a labeller to mark it (a line under a snow
        bank, or behind a vehicle all the way, is not labelled)."""
        return int(np.count_nonzero(self.visible)) >= LABEL_MIN_VISIBLE_POINTS

    def in_frame(self, shape: tuple[int, int]) -> np.ndarray:
        """(M, 2) image points inside a frame of ``shape`` = (H, W)."""
        height, width = shape
        x, y = self.image[:, 0], self.image[:, 1]
        return self.image[(x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": int(self.lane_id),
            "position": int(self.position),
            "style": self.style,
            "color": self.color,
            "ground_m": np.asarray(self.ground, float).round(3).tolist(),
            # null where the lens gives the point no position in the image
            "image_px": [
                [round(float(u), 2), round(float(v), 2)] if np.isfinite([u, v]).all() else None
                for u, v in np.asarray(self.image, float)
            ],
            "visible": [bool(v) for v in self.visible],
        }


@dataclass
class SceneSample:
    """One synthetic frame with its exact labels.

    Attributes:
        image: (H, W, 3) uint8 BGR image.
        mask: (H, W) uint8 class ids of the scenario's class map.
        polygons: One polygon per connected region of every foreground class.
        slots: Parking slots (AVM scenes only), entrance side first; ``free`` and
            ``extra["occupied"]`` tell occupancy, ``extra["type"]`` the slot type.
        marking_points: Marking points of the slots (AVM scenes only): where separating
            lines meet the entrance line, with direction and T/L/I shape.
        lanes: Lane boundaries (front scenes only), see :class:`LaneTruth`.
        meta: ``scenario``, ``seed``, ``camera``, ``frame``; AVM scenes add
            ``metres_per_pixel`` and ``origin_px``; front scenes add ``camera_model`` (the
            true camera: ``K``, ``D``, mounting; see ``PinholeCamera.to_json``),
            ``conditions`` (time of day, weather, sensor effects) and, when the car's hood is in
            the frame, ``hood_edge_px`` (its top edge, ``[u, v]`` output pixels left to right).
    """

    image: np.ndarray
    mask: np.ndarray
    polygons: list[Polygon] = field(default_factory=list)
    slots: list[ParkingSlot] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    marking_points: list[MarkingPoint] = field(default_factory=list)
    lanes: list[LaneTruth] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Contest-style ground truth: polygons (class, id, vertices), slots and meta."""
        return {
            "image_size": [int(self.mask.shape[0]), int(self.mask.shape[1])],
            "polygons": [p.to_json() for p in self.polygons],
            "slots": [s.to_json() for s in self.slots],
            "marking_points": [m.to_json() for m in self.marking_points],
            "lanes": [lane.to_json() for lane in self.lanes],
            "meta": _jsonable(self.meta),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def mask_to_polygons(
    mask: np.ndarray, classes: ClassMap, *, min_area_px: int = MIN_REGION_AREA_PX
) -> list[Polygon]:
    """One polygon per connected region of each foreground class (contest style).

    Outer contours only, with every boundary pixel kept, so that filling the
    polygons reproduces the mask (holes aside). Instance ids are unique per frame.
    """
    polygons: list[Polygon] = []
    for class_id in range(1, classes.num_classes):
        binary = (mask == class_id).astype(np.uint8)
        if not binary.any():
            continue
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            # pixel count of the region, approximately (Pick's theorem on the boundary pixels)
            if cv2.contourArea(contour) + cv2.arcLength(contour, True) / 2 + 1 < min_area_px:
                continue
            points = contour[:, 0, :].astype(np.float32)
            polygons.append(
                Polygon(
                    class_id=class_id,
                    class_name=classes.names[class_id],
                    points=points,
                    instance_id=len(polygons),
                )
            )
    return polygons


def rasterize_polygons(polygons: list[Polygon], shape: tuple[int, int]) -> np.ndarray:
    """Class-id mask from polygons (the inverse of :func:`mask_to_polygons`, used by tests and tools)."""
    mask = np.zeros(shape, np.uint8)
    for polygon in polygons:
        points = np.round(polygon.points).astype(np.int32)
        cv2.fillPoly(mask, [points], int(polygon.class_id))
        cv2.polylines(mask, [points], True, int(polygon.class_id), 1)
    return mask
