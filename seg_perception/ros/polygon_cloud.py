"""Polygons and parking slots as a ``sensor_msgs/PointCloud2`` (opt-in: ``publish_polygon_cloud``).

Lanes and slots have typed messages (``seg_perception/msg``); this cloud carries every region
polygon of every class (crosswalks, stop lines, ...) for consumers that want them without a
MarkerArray. Every vertex becomes one point of an unorganised cloud (``height = 1``) on
``<camera>/polygons``:

=============  =========  ======  =====================================================
field          datatype   offset  meaning
=============  =========  ======  =====================================================
x, y, z        FLOAT32    0/4/8   metres in the header's frame; NaN when uncalibrated
u, v           FLOAT32    12/16   pixel coordinates in the input image
class_id       UINT16     20      class id of the scenario class map; 65535 = parking slot
instance_id    UINT16     22      polygon / slot id, unique per class within the frame
vertex_index   UINT16     24      vertex order within the polygon (0..K-1, not repeated)
free           UINT8      26      parking slots: 1 free, 0 occupied; 255 for other classes
=============  =========  ======  =====================================================

``point_step`` is 28 (one padding byte), little endian, ``is_dense`` is False when any
coordinate is NaN. A reader groups points by ``(class_id, instance_id)`` and orders
them by ``vertex_index``; for slots, vertices 0→1 are the entrance side.
The header is the input image's (frame_id overridden by ``<camera>.frame_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.ros.image_conversion import fill_message_data
from seg_perception.ros.projection import GroundProjection

SLOT_CLASS_ID = 0xFFFF
NOT_A_SLOT = 0xFF

POINT_DTYPE = np.dtype(
    {
        "names": ["x", "y", "z", "u", "v", "class_id", "instance_id", "vertex_index", "free"],
        "formats": ["<f4", "<f4", "<f4", "<f4", "<f4", "<u2", "<u2", "<u2", "u1"],
        "offsets": [0, 4, 8, 12, 16, 20, 22, 24, 26],
        "itemsize": 28,
    }
)
_DATATYPES = {"<f4": PointField.FLOAT32, "<u2": PointField.UINT16, "|u1": PointField.UINT8}
_FIELDS: dict[str, tuple[Any, ...]] = dict(POINT_DTYPE.fields or {})  # a structured dtype: never empty
POINT_FIELDS = [
    PointField(name=name, offset=_FIELDS[name][1], datatype=_DATATYPES[_FIELDS[name][0].str], count=1)
    for name in POINT_DTYPE.names or ()
]


def polygons_to_points(
    *,
    projection: GroundProjection,
    image_size: tuple[int, int],
    polygons: Sequence[Polygon] = (),
    slots: Sequence[ParkingSlot] = (),
) -> np.ndarray:
    """Structured array (``POINT_DTYPE``) with one row per vertex.

    All vertices are projected in one call and every field is filled with one
    vectorised assignment (per-shape values repeated over the shape's vertices).
    """
    pixels = [np.asarray(p.points, dtype=np.float32).reshape(-1, 2) for p in polygons]
    pixels += [np.asarray(s.corners, dtype=np.float32).reshape(-1, 2) for s in slots]
    counts = np.array([len(uv) for uv in pixels], dtype=np.int64)
    cloud = np.zeros(int(counts.sum()), dtype=POINT_DTYPE)
    if len(cloud) == 0:
        return cloud
    uv = np.concatenate(pixels)
    xyz = projection.metric_points(uv, image_size)
    cloud["x"], cloud["y"], cloud["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    cloud["u"], cloud["v"] = uv[:, 0], uv[:, 1]
    class_ids = [p.class_id for p in polygons] + [SLOT_CLASS_ID] * len(slots)
    instance_ids = [p.instance_id for p in polygons] + [s.instance_id for s in slots]
    free = [NOT_A_SLOT] * len(polygons) + [int(bool(s.free)) for s in slots]
    cloud["class_id"] = np.repeat(np.asarray(class_ids, dtype=np.int64), counts)
    cloud["instance_id"] = np.repeat(np.asarray(instance_ids, dtype=np.int64) & 0xFFFF, counts)
    cloud["free"] = np.repeat(np.asarray(free, dtype=np.int64), counts)
    shape_starts = np.repeat(np.cumsum(counts) - counts, counts)
    cloud["vertex_index"] = np.arange(len(cloud)) - shape_starts
    return cloud


def build_polygon_cloud(
    *,
    header: Header,
    projection: GroundProjection,
    image_size: tuple[int, int],
    polygons: Sequence[Polygon] = (),
    slots: Sequence[ParkingSlot] = (),
) -> PointCloud2:
    """The ``PointCloud2`` described in the module docstring."""
    cloud = polygons_to_points(projection=projection, image_size=image_size, polygons=polygons, slots=slots)
    msg = PointCloud2(
        header=header,
        height=1,
        width=len(cloud),
        fields=POINT_FIELDS,
        is_bigendian=False,
        point_step=POINT_DTYPE.itemsize,
        row_step=POINT_DTYPE.itemsize * len(cloud),
        is_dense=bool(np.all(np.isfinite(cloud["x"]))) if len(cloud) else True,
    )
    fill_message_data(msg, cloud.view(np.uint8))
    return msg


def cloud_to_points(msg: PointCloud2) -> np.ndarray:
    """Inverse of :func:`build_polygon_cloud` (for tests and Python consumers)."""
    return np.frombuffer(msg.data, dtype=POINT_DTYPE, count=msg.width * msg.height)
