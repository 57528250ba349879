"""Polygons and parking slots → ``visualization_msgs/MarkerArray`` for RViz.

Each frame's array starts with one ``DELETEALL`` marker, then one closed ``LINE_STRIP``
(first point repeated) per polygon or slot. Namespaces are ``<camera>/<class>``
(slots: ``<camera>/parking_slot``), ids are the instance ids, colours come from the
scenario's class map (free slots take the ``free_slot`` colour, occupied ones the
``slot_line`` colour when those classes exist). Coordinates come from a
:class:`~seg_perception.ros.projection.GroundProjection`: metres in the vehicle frame
when the camera is calibrated, a pixel-scaled plane otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.ros.projection import GroundProjection

SLOT_NAMESPACE = "parking_slot"
_FREE_COLOR = (0.2, 0.9, 0.4)
_OCCUPIED_COLOR = (0.9, 0.2, 0.2)


@dataclass(frozen=True)
class MarkerStyle:
    """Display settings shared by all markers of one camera.

    Attributes:
        camera: Camera name, the namespace prefix.
        class_names: Scenario class names, index = class id.
        colors_rgb: (num_classes, 3) uint8 RGB colours.
        line_width: ``scale.x`` of the line strips, in output-frame units.
    """

    camera: str
    class_names: tuple[str, ...]
    colors_rgb: np.ndarray
    line_width: float = 0.05

    def class_color(self, class_id: int) -> ColorRGBA:
        if 0 <= class_id < len(self.colors_rgb):
            red, green, blue = (float(c) / 255.0 for c in self.colors_rgb[class_id])
        else:
            red, green, blue = 1.0, 0.0, 1.0
        return ColorRGBA(r=red, g=green, b=blue, a=1.0)

    def slot_color(self, free: bool) -> ColorRGBA:
        name = "free_slot" if free else "slot_line"
        if name in self.class_names:
            return self.class_color(self.class_names.index(name))
        red, green, blue = _FREE_COLOR if free else _OCCUPIED_COLOR
        return ColorRGBA(r=red, g=green, b=blue, a=1.0)


def _line_strip(
    header: Header, namespace: str, marker_id: int, points_xyz: np.ndarray, color: ColorRGBA, width: float
) -> Marker | None:
    finite = points_xyz[np.all(np.isfinite(points_xyz), axis=1)]
    if len(finite) < 2:
        return None  # nothing drawable (e.g. every vertex above a homography's horizon)
    closed = np.vstack([finite, finite[:1]])
    marker = Marker(header=header, ns=namespace, id=int(marker_id), type=Marker.LINE_STRIP, action=Marker.ADD)
    marker.pose.orientation.w = 1.0
    marker.scale.x = float(width)
    marker.color = color
    marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in closed]
    return marker


def build_marker_array(
    *,
    header: Header,
    style: MarkerStyle,
    projection: GroundProjection,
    image_size: tuple[int, int],
    polygons: Sequence[Polygon] = (),
    slots: Sequence[ParkingSlot] = (),
) -> MarkerArray:
    """One frame's markers: DELETEALL, then a closed LINE_STRIP per polygon and slot.

    Args:
        header: Input image header (copied to every marker).
        style: Namespaces, colours and line width.
        projection: Pixel → output-frame mapping of this camera.
        image_size: (height, width) of the input image.
        polygons: Class polygons in pixels.
        slots: Parking slots in pixels.
    """
    delete_all = Marker(header=header, action=Marker.DELETEALL)
    markers = [delete_all]
    used: set[tuple[str, int]] = set()

    def add(namespace: str, instance_id: int, points_uv: np.ndarray, color: ColorRGBA) -> None:
        marker_id = instance_id
        while (namespace, marker_id) in used:  # instance ids repeat only if post-processing misbehaves
            marker_id += 1
        used.add((namespace, marker_id))
        points = projection.display_points(points_uv, image_size)
        marker = _line_strip(header, namespace, marker_id, points, color, style.line_width)
        if marker is not None:
            markers.append(marker)

    for polygon in polygons:
        name = polygon.class_name or str(polygon.class_id)
        add(
            f"{style.camera}/{name}",
            int(polygon.instance_id),
            polygon.points,
            style.class_color(polygon.class_id),
        )
    for slot in slots:
        add(
            f"{style.camera}/{SLOT_NAMESPACE}",
            int(slot.instance_id),
            slot.corners,
            style.slot_color(slot.free),
        )
    return MarkerArray(markers=markers)
