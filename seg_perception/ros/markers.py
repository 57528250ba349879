"""Polygons and parking slots → ``visualization_msgs/MarkerArray`` for RViz.

Each frame's array starts with one ``DELETEALL`` marker, then one closed ``LINE_STRIP``
(first point repeated) per polygon or slot. Namespaces are ``<camera>/<class>``
(slots: ``<camera>/parking_slot``), ids are the instance ids, colours come from the
scenario's class map (free slots take the colour of the ``free_space`` role's class, occupied
ones that of the ``slot_line`` role's class, when the scenario has those roles).

Lane boundaries are open LINE_STRIPs in namespace ``<camera>/lane_boundary`` with the
boundary's track id as marker id (ego boundaries green, others white or yellow as painted,
coasting ones faded), each with a TEXT_VIEW_FACING label ``id position type colour`` in
``<camera>/lane_label`` at its near end; stop lines and crosswalks are closed strips in
``<camera>/stop_line`` and ``<camera>/crosswalk_area``. Coordinates come from a
:class:`~seg_perception.ros.projection.GroundProjection`: metres in the vehicle frame
when the camera is calibrated, a pixel-scaled plane otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.postprocess.lanes import CROSSWALK, EGO_LEFT, EGO_RIGHT, STOP_LINE, YELLOW, LaneResult
from seg_perception.ros.projection import GroundProjection

if TYPE_CHECKING:
    from seg_perception.config import ScenarioConfig

SLOT_NAMESPACE = "parking_slot"
LANE_NAMESPACE = "lane_boundary"
LANE_LABEL_NAMESPACE = "lane_label"
MARKING_NAMESPACES = {STOP_LINE: "stop_line", CROSSWALK: "crosswalk_area"}  # by RoadMarking.kind
_EGO_LANE_COLOR = (0.25, 0.9, 0.25)
_WHITE_LANE_COLOR = (0.95, 0.95, 0.95)
_YELLOW_LANE_COLOR = (1.0, 0.8, 0.0)
_MARKING_COLOR = (0.9, 0.15, 0.15)
_COASTING_ALPHA = 0.4
_FREE_COLOR = (0.2, 0.9, 0.4)
_OCCUPIED_COLOR = (0.9, 0.2, 0.2)


@dataclass(frozen=True)
class MarkerStyle:
    """Display settings shared by all markers of one camera.

    The colours and a template line strip are built once per style and shared by
    every marker built with it (treat a built array's ``pose``, ``scale`` and
    ``color`` as read-only): constructing a ``Marker`` builds ~10 nested default
    messages, four times the cost of copying a template.

    Attributes:
        camera: Camera name, the namespace prefix.
        class_names: Scenario class names, index = class id.
        colors_rgb: (num_classes, 3) uint8 RGB colours.
        line_width: ``scale.x`` of the line strips, in output-frame units.
        slot_line_id: Class whose colour occupied slots take (the ``slot_line`` role), or None.
        free_space_id: Class whose colour free slots take (the ``free_space`` role), or None.
    """

    camera: str
    class_names: tuple[str, ...]
    colors_rgb: np.ndarray
    line_width: float = 0.05
    slot_line_id: int | None = None
    free_space_id: int | None = None

    @classmethod
    def for_scenario(cls, camera: str, scenario: ScenarioConfig, line_width: float) -> MarkerStyle:
        """The style of a scenario's camera: its class names, colours and slot roles."""
        roles = scenario.roles
        return cls(
            camera=camera,
            class_names=scenario.classes.names,
            colors_rgb=scenario.classes.colors_rgb,
            line_width=line_width,
            slot_line_id=roles.get("slot_line"),
            free_space_id=roles.get("free_space"),
        )

    def class_color(self, class_id: int) -> ColorRGBA:
        if 0 <= class_id < len(self.colors_rgb):
            red, green, blue = (float(c) / 255.0 for c in self.colors_rgb[class_id])
        else:
            red, green, blue = 1.0, 0.0, 1.0
        return ColorRGBA(r=red, g=green, b=blue, a=1.0)

    def slot_color(self, free: bool) -> ColorRGBA:
        class_id = self.free_space_id if free else self.slot_line_id
        if class_id is not None:
            return self.class_color(class_id)
        red, green, blue = _FREE_COLOR if free else _OCCUPIED_COLOR
        return ColorRGBA(r=red, g=green, b=blue, a=1.0)

    @cached_property
    def _class_colors(self) -> tuple[ColorRGBA, ...]:
        return tuple(self.class_color(class_id) for class_id in range(len(self.colors_rgb)))

    @cached_property
    def _slot_colors(self) -> tuple[ColorRGBA, ColorRGBA]:
        return self.slot_color(False), self.slot_color(True)

    def shared_class_color(self, class_id: int) -> ColorRGBA:
        """:meth:`class_color`, built once per class (shared: do not modify)."""
        if 0 <= class_id < len(self._class_colors):
            return self._class_colors[class_id]
        return self.class_color(class_id)

    def shared_slot_color(self, free: bool) -> ColorRGBA:
        """:meth:`slot_color`, built once (shared: do not modify)."""
        return self._slot_colors[bool(free)]

    @cached_property
    def line_strip_template(self) -> Marker:
        """An ``ADD`` line strip with this style's width and an identity pose."""
        marker = Marker(type=Marker.LINE_STRIP, action=Marker.ADD)
        marker.pose.orientation.w = 1.0
        marker.scale.x = float(self.line_width)
        return marker


_DELETE_ALL = Marker(action=Marker.DELETEALL)


def _copy_marker(template: Marker, header: Header) -> Marker:
    """A shallow copy of ``template`` stamped with ``header``, with its own (empty) lists."""
    marker = copy.copy(template)
    marker.header = header
    marker.colors = []
    marker.uv_coordinates = []
    return marker


def build_marker_array(
    *,
    header: Header,
    style: MarkerStyle,
    projection: GroundProjection,
    image_size: tuple[int, int],
    polygons: Sequence[Polygon] = (),
    slots: Sequence[ParkingSlot] = (),
    lanes: LaneResult | None = None,
) -> MarkerArray:
    """One frame's markers: DELETEALL, then a closed LINE_STRIP per polygon and slot.

    Every vertex of the frame is projected in one NumPy call and turned into Python
    floats once; a shape with fewer than two projectable vertices (e.g. every vertex
    above a homography's horizon) gets no marker.

    Args:
        header: Input image header (copied to every marker).
        style: Namespaces, colours and line width.
        projection: Pixel → output-frame mapping of this camera.
        image_size: (height, width) of the input image.
        polygons: Class polygons in pixels.
        slots: Parking slots in pixels.
        lanes: Tracked lane boundaries and road markings of the frame.
    """
    markers = [_copy_marker(_DELETE_ALL, header)]
    if lanes is not None:
        markers.extend(_lane_markers(header, style, projection, image_size, lanes))
    shapes: list[tuple[str, int, ColorRGBA, np.ndarray]] = []
    for polygon in polygons:
        name = polygon.class_name or str(polygon.class_id)
        color = style.shared_class_color(polygon.class_id)
        shapes.append((f"{style.camera}/{name}", int(polygon.instance_id), color, polygon.points))
    slot_namespace = f"{style.camera}/{SLOT_NAMESPACE}"
    for slot in slots:
        shapes.append(
            (slot_namespace, int(slot.instance_id), style.shared_slot_color(slot.free), slot.corners)
        )
    if not shapes:
        return MarkerArray(markers=markers)

    pixels = [np.asarray(points, dtype=np.float32).reshape(-1, 2) for *_, points in shapes]
    xyz = projection.display_points(np.concatenate(pixels), image_size)
    finite = np.isfinite(xyz).all(axis=1)
    all_finite = bool(finite.all())
    rows = xyz.tolist()  # Python floats once: float(np.float32) per coordinate costs twice as much
    template = style.line_strip_template
    used: set[tuple[str, int]] = set()
    start = 0
    for (namespace, instance_id, color, _), shape_pixels in zip(shapes, pixels, strict=True):
        end = start + len(shape_pixels)
        marker_id = instance_id
        while (namespace, marker_id) in used:  # instance ids repeat only if post-processing misbehaves
            marker_id += 1
        used.add((namespace, marker_id))
        shape_rows = rows[start:end]
        if not all_finite:
            shape_rows = [row for row, ok in zip(shape_rows, finite[start:end], strict=True) if ok]
        start = end
        if len(shape_rows) < 2:
            continue  # nothing drawable
        marker = _copy_marker(template, header)
        marker.ns = namespace
        marker.id = marker_id
        marker.color = color
        points = [Point(x=x, y=y, z=z) for x, y, z in shape_rows]
        first = shape_rows[0]
        points.append(Point(x=first[0], y=first[1], z=first[2]))  # closed strip: first point repeated
        marker.points = points
        markers.append(marker)
    return MarkerArray(markers=markers)


def _points(
    projection: GroundProjection, image_size: tuple[int, int], pixels: np.ndarray, ground: np.ndarray | None
) -> list[Point]:
    """Metres of the boundary itself when it has them, else the camera's projection of its pixels."""
    if ground is not None and projection.metric:
        xyz = np.column_stack([np.asarray(ground, dtype=np.float64), np.zeros(len(ground))])
    else:
        xyz = projection.display_points(np.asarray(pixels, dtype=np.float32), image_size).astype(np.float64)
    xyz = xyz[np.isfinite(xyz).all(axis=1)]
    return [Point(x=x, y=y, z=z) for x, y, z in xyz.tolist()]


def _lane_markers(
    header: Header,
    style: MarkerStyle,
    projection: GroundProjection,
    image_size: tuple[int, int],
    lanes: LaneResult,
) -> list[Marker]:
    markers: list[Marker] = []
    template = style.line_strip_template
    for boundary in lanes.boundaries:
        points = _points(projection, image_size, boundary.image_points, boundary.ground_points)
        if len(points) < 2:
            continue
        if boundary.position in (EGO_LEFT, EGO_RIGHT):
            red, green, blue = _EGO_LANE_COLOR
        else:
            red, green, blue = _YELLOW_LANE_COLOR if boundary.color == YELLOW else _WHITE_LANE_COLOR
        alpha = 1.0 if boundary.missed_frames == 0 else _COASTING_ALPHA
        marker = _copy_marker(template, header)
        marker.ns = f"{style.camera}/{LANE_NAMESPACE}"
        marker.id = int(boundary.id)
        marker.color = ColorRGBA(r=red, g=green, b=blue, a=alpha)
        marker.scale = Vector3(x=float(style.line_width) * 2.0)  # own object: the template's is shared
        marker.points = points
        markers.append(marker)
        label = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        label.header = header
        label.ns = f"{style.camera}/{LANE_LABEL_NAMESPACE}"
        label.id = int(boundary.id)
        label.pose.orientation.w = 1.0
        label.pose.position = Point(x=points[0].x, y=points[0].y, z=points[0].z + 0.5)
        label.scale.z = 0.4 if projection.metric else 0.1
        label.color = ColorRGBA(r=red, g=green, b=blue, a=alpha)
        label.text = f"{boundary.id} {boundary.position} {boundary.line_type} {boundary.color}"
        markers.append(label)
    for marking in lanes.markings:
        points = _points(projection, image_size, marking.image_points, marking.ground_points)
        if len(points) < 2:
            continue
        marker = _copy_marker(template, header)
        marker.ns = f"{style.camera}/{MARKING_NAMESPACES.get(marking.kind, marking.kind)}"
        marker.id = int(marking.id)
        red, green, blue = _MARKING_COLOR
        marker.color = ColorRGBA(r=red, g=green, b=blue, a=1.0)
        marker.points = [*points, points[0]]
        markers.append(marker)
    return markers
