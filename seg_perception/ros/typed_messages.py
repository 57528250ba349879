"""Frame results → the package's typed messages (``seg_perception/msg``).

Lane post-processing's :class:`~seg_perception.postprocess.lanes.LaneResult` becomes a
``LaneBoundaryArray`` (:func:`tracked_lane_array`); the parking slots of
:mod:`seg_perception.geometry` (pixels) become a ``ParkingSlotArray`` with metric fields from the
camera's :class:`~seg_perception.ros.projection.GroundProjection`; a model's class map becomes the
latched ``SegmentationInfo``. The live node publishes these messages and ``process`` writes them
into its bags (serialised by rclpy), so both give the same bytes.

Fields the post-processing does not estimate keep the "unknown" values of ``msg/*.msg``; a slot
type left UNKNOWN is classified here from the corners (:func:`classify_slot`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Point32
from std_msgs.msg import ColorRGBA, Header

from seg_perception.geometry import ParkingSlot
from seg_perception.interfaces import LaneColor, LanePosition, LaneType, Occupancy, SlotType
from seg_perception.msg import ClassInfo, LaneBoundaryArray, ParkingSlotArray, SegmentationInfo
from seg_perception.msg import LaneBoundary as LaneBoundaryMsg
from seg_perception.msg import ParkingSlot as ParkingSlotMsg
from seg_perception.postprocess.lanes import LaneResult
from seg_perception.ros.projection import GroundProjection

NAN = float("nan")
ANGLED_TOLERANCE_RAD = math.radians(15.0)  # slots slanted less than this count as perpendicular


# Rows through ``tolist()``: Python floats straight away, half the cost of a float() per NumPy scalar
# (a front frame's boundaries carry hundreds of points).
def _points(xyz: np.ndarray) -> list[Point]:
    return [Point(x=x, y=y, z=z) for x, y, z in np.asarray(xyz, dtype=np.float64).reshape(-1, 3).tolist()]


def _pixels(uv: np.ndarray) -> list[Point32]:
    return [Point32(x=u, y=v, z=0.0) for u, v in np.asarray(uv, dtype=np.float64).reshape(-1, 2).tolist()]


def slot_measures(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(width, depth, angle)`` of n quadrilaterals ``(n, 4, 2)`` whose entrance is corners 0 -> 1.

    Width: entrance length; depth: from the entrance midpoint to the back midpoint; angle:
    between the entrance and the side ``corners[:, 1] -> corners[:, 2]`` in [0, pi] (NaN for a
    degenerate slot). In the units of ``corners`` (the angle is the same for pixels and metres
    under a uniform scale).
    """
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2)
    entrance, side = c[:, 1] - c[:, 0], c[:, 2] - c[:, 1]
    width = np.hypot(entrance[:, 0], entrance[:, 1])
    depth_vector = (c[:, 2] + c[:, 3] - c[:, 0] - c[:, 1]) / 2
    depth = np.hypot(depth_vector[:, 0], depth_vector[:, 1])
    norms = width * np.hypot(side[:, 0], side[:, 1])
    cosine = -np.einsum("ij,ij->i", entrance, side) / np.where(norms > 0, norms, 1.0)
    angle = np.where(norms > 0, np.arccos(np.clip(cosine, -1.0, 1.0)), np.nan)
    return width, depth, angle


def classify_slot(width: float, depth: float, angle: float) -> SlotType:
    """PARALLEL when the entrance is the long side, ANGLED when slanted, else PERPENDICULAR."""
    if not (math.isfinite(width) and math.isfinite(depth) and math.isfinite(angle)):
        return SlotType.UNKNOWN
    if width > depth:
        return SlotType.PARALLEL
    return SlotType.ANGLED if abs(angle - math.pi / 2) > ANGLED_TOLERANCE_RAD else SlotType.PERPENDICULAR


def parking_slot_array(
    *,
    header: Header,
    projection: GroundProjection,
    image_size: tuple[int, int],
    slots: Sequence[ParkingSlot],
) -> ParkingSlotArray:
    """``ParkingSlotArray`` of one frame; ``image_size`` is ``(height, width)``.

    The geometry of all slots is computed at once (one projection, vectorised measures); only
    the message objects are built per slot.
    """
    metric = projection.metric
    height, width = image_size
    array = ParkingSlotArray(header=header, metric=metric, image_width=int(width), image_height=int(height))
    if not slots:
        return array
    pixels = np.stack([np.asarray(s.corners, dtype=np.float64).reshape(4, 2) for s in slots])
    xyz = projection.metric_points(pixels.reshape(-1, 2), image_size).astype(np.float64).reshape(-1, 4, 3)
    pixel_width, pixel_depth, pixel_angle = slot_measures(pixels)
    metric_slot = np.all(np.isfinite(xyz), axis=(1, 2)) & metric
    metres_width, metres_depth, metres_angle = slot_measures(xyz[..., :2])
    entrance = (xyz[:, 0] + xyz[:, 1]) / 2
    inward = (xyz[:, 2] + xyz[:, 3]) / 2 - entrance
    heading = np.arctan2(inward[:, 1], inward[:, 0])
    messages = []
    for i, slot in enumerate(slots):
        slot_type = slot.slot_type
        if slot_type == SlotType.UNKNOWN:
            slot_type = classify_slot(pixel_width[i], pixel_depth[i], pixel_angle[i])
        ok = bool(metric_slot[i])
        messages.append(
            ParkingSlotMsg(
                id=int(slot.instance_id) & 0xFFFFFFFF,
                type=int(slot_type),
                occupancy=int(Occupancy.FREE if slot.free else Occupancy.OCCUPIED),
                confidence=float(slot.confidence),
                occupancy_confidence=float(slot.occupancy_confidence),
                missed_frames=min(int(slot.missed_frames), 0xFFFF),
                corners=_points(xyz[i]),
                corner_pixels=_pixels(pixels[i]),
                entrance_center=_points(entrance[i : i + 1])[0] if ok else Point(x=NAN, y=NAN, z=NAN),
                entrance_heading=float(heading[i]) if ok else NAN,
                width=float(metres_width[i]) if ok else NAN,
                depth=float(metres_depth[i]) if ok else NAN,
                angle=float(metres_angle[i] if ok else pixel_angle[i]),
            )
        )
    array.slots = messages
    return array


def segmentation_info(
    *,
    header: Header,
    camera: str,
    scenario: str,
    model: str,
    model_file: str,
    engine: str,
    providers: Sequence[str],
    input_size: tuple[int, int],
    class_names: Sequence[str],
    colors_rgb: Any,
) -> SegmentationInfo:
    """``SegmentationInfo`` of one camera; ``input_size`` is ``(height, width)``, colours 0..255 RGB."""
    colors = np.asarray(colors_rgb, dtype=np.float64).reshape(-1, 3) / 255.0
    classes = [
        ClassInfo(id=index, name=name, color=ColorRGBA(r=float(r), g=float(g), b=float(b), a=1.0))
        for index, (name, (r, g, b)) in enumerate(zip(class_names, colors, strict=True))
    ]
    return SegmentationInfo(
        header=header,
        camera=camera,
        scenario=scenario,
        model=model,
        model_file=model_file,
        engine=engine,
        providers=list(providers),
        input_width=int(input_size[1]),
        input_height=int(input_size[0]),
        classes=classes,
    )


_POSITIONS = {"ego_left": LanePosition.EGO_LEFT, "ego_right": LanePosition.EGO_RIGHT}
_POSITIONS.update({"left_1": LanePosition.ADJACENT_LEFT, "right_1": LanePosition.ADJACENT_RIGHT})
_TYPES = {"solid": LaneType.SOLID, "dashed": LaneType.DASHED, "double": LaneType.DOUBLE_SOLID}
_COLORS = {"white": LaneColor.WHITE, "yellow": LaneColor.YELLOW}
_CURVE_COEFFICIENTS = 4


def _padded(coefficients: np.ndarray) -> np.ndarray:
    out = np.zeros(_CURVE_COEFFICIENTS, dtype=np.float64)
    values = np.asarray(coefficients, dtype=np.float64)[:_CURVE_COEFFICIENTS]
    out[: len(values)] = values
    return out


def tracked_lane_array(
    *, header: Header, image_size: tuple[int, int], lanes: LaneResult
) -> LaneBoundaryArray:
    """``LaneBoundaryArray`` of the tracked lane boundaries of :mod:`seg_perception.postprocess.lanes`.

    Ids are the tracker's; metric fields (points, ground curve, ego lane) come from the
    boundaries' own ground fit when the camera is calibrated; positions beyond left-1 / right-1
    are ``OTHER``; a double line is ``DOUBLE_SOLID``.
    """
    messages = []
    for boundary in lanes.boundaries:
        pixels = np.asarray(boundary.image_points, dtype=np.float64).reshape(-1, 2)
        msg = LaneBoundaryMsg(
            id=int(boundary.id) & 0xFFFFFFFF,
            position=int(_POSITIONS.get(boundary.position, LanePosition.OTHER)),
            type=int(_TYPES.get(boundary.line_type, LaneType.UNKNOWN)),
            color=int(_COLORS.get(boundary.color, LaneColor.UNKNOWN)),
            confidence=float(boundary.confidence),
            pixels=_pixels(pixels),
        )
        if lanes.metric and boundary.ground_points is not None:
            ground = np.asarray(boundary.ground_points, dtype=np.float64).reshape(-1, 2)
            msg.points = _points(np.column_stack([ground, np.zeros(len(ground))]))
            msg.has_curve = True
            msg.curve_coefficients = _padded(boundary.coefficients)
            msg.curve_x_min, msg.curve_x_max = (float(v) for v in boundary.valid_range)
            if len(pixels) >= 3:
                image_curve = np.polynomial.polynomial.polyfit(pixels[:, 1], pixels[:, 0], 2)
                msg.has_image_curve = True
                msg.image_curve_coefficients = _padded(image_curve)
                msg.image_curve_v_min, msg.image_curve_v_max = (
                    float(pixels[:, 1].min()),
                    float(pixels[:, 1].max()),
                )
        else:
            msg.has_image_curve = True
            msg.image_curve_coefficients = _padded(boundary.coefficients)
            msg.image_curve_v_min, msg.image_curve_v_max = (float(v) for v in boundary.valid_range)
        messages.append(msg)
    ego = lanes.ego_lane
    valid = ego is not None and ego.metric
    ego_width, offset, heading, curvature = (
        (float(ego.width), float(ego.lateral_offset), -float(ego.heading_rad), float(ego.curvature))
        if ego is not None and valid
        else (NAN, NAN, NAN, NAN)  # heading: the lane's direction, not the car's
    )
    height, width = image_size
    return LaneBoundaryArray(
        header=header,
        metric=bool(lanes.metric),
        image_width=int(width),
        image_height=int(height),
        boundaries=messages,
        ego_lane_valid=bool(valid),
        ego_lane_width=ego_width,
        lateral_offset=offset,
        heading=heading,
        curvature=curvature,
    )
