"""Every QoS profile of the node, in one place.

- Inputs (camera images and ``CameraInfo``): sensor-data QoS (best effort, volatile) by
  default, reliable with ``qos.reliability: reliable``; depth ``qos.depth``.
- Per-frame outputs (mask, overlay, markers, lanes, slots, polygons, processing time):
  reliable, keep last ``qos.depth`` (a best-effort reader still matches a reliable writer).
- Latched outputs (``<camera>/segmentation_info``, ``<camera>/model``): reliable, transient
  local, depth 1, so a subscriber that starts later still gets the model and class map.
- ``/diagnostics``: reliable, keep last 10 (what ``create_publisher(..., 10)`` gives).

Which output uses which profile is in :data:`seg_perception.ros.outputs.CAMERA_OUTPUTS`.
"""

from __future__ import annotations

from rclpy.qos import (
    QoSDurabilityPolicy,
    QoSHistoryPolicy,
    QoSProfile,
    QoSReliabilityPolicy,
    qos_profile_sensor_data,
)

from seg_perception.ros.outputs import DIAGNOSTICS_KIND, LATCHED, PER_FRAME

INPUT_RELIABILITIES = ("best_effort", "reliable")  # parameter qos.reliability
DIAGNOSTICS_DEPTH = 10

LATCHED_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=QoSReliabilityPolicy.RELIABLE,
    durability=QoSDurabilityPolicy.TRANSIENT_LOCAL,
)
DIAGNOSTICS_QOS = QoSProfile(depth=DIAGNOSTICS_DEPTH)
DEFAULT_INPUT_QOS = qos_profile_sensor_data


def input_qos(reliability: str, depth: int) -> QoSProfile:
    """QoS of the image and ``CameraInfo`` subscriptions (parameters ``qos.reliability``, ``qos.depth``)."""
    if reliability == "best_effort":
        return QoSProfile(
            history=qos_profile_sensor_data.history,
            depth=depth,
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
        )
    return QoSProfile(
        history=QoSHistoryPolicy.KEEP_LAST, depth=depth, reliability=QoSReliabilityPolicy.RELIABLE
    )


def output_profile(kind: str, depth: int) -> QoSProfile:
    """The profile of an output of QoS ``kind`` (``per_frame``, ``latched``, ``diagnostics``; see
    :data:`seg_perception.ros.outputs.CAMERA_OUTPUTS`); ``depth`` is the ``qos.depth`` parameter.
    """
    if kind == LATCHED:
        return LATCHED_QOS
    if kind == DIAGNOSTICS_KIND:
        return DIAGNOSTICS_QOS
    if kind == PER_FRAME:
        return output_qos(depth)
    raise ValueError(f"unknown output QoS kind {kind!r}")


def output_qos(depth: int) -> QoSProfile:
    """QoS of the per-frame outputs: reliable, keep last ``depth`` (parameter ``qos.depth``)."""
    return QoSProfile(
        history=QoSHistoryPolicy.KEEP_LAST, depth=depth, reliability=QoSReliabilityPolicy.RELIABLE
    )
