"""Topic names, frame ids and timeline of the bags this package writes and reads.

Layout per camera ``<cam>`` (``front`` or ``avm``):

- ``/camera/<cam>/image_raw`` (``sensor_msgs/Image``, ``bgr8``) or
  ``/camera/<cam>/image_raw/compressed`` (``sensor_msgs/CompressedImage``, JPEG);
- ``/camera/<cam>/camera_info`` (``sensor_msgs/CameraInfo``; frames recorded from a calibrated camera);
- ``/camera/<cam>/ground_truth/mask`` (``sensor_msgs/Image``, ``mono8``, class ids);
- ``/camera/<cam>/ground_truth/polygons`` (``std_msgs/String``, frame JSON, see ``frame_json``);
- outputs of ``process``: ``/<cam>/{mask,overlay,markers,polygons}`` (the live node's topics), plus
  ``/<cam>/polygons/json``; the overlay as JPEG on ``/<cam>/overlay/compressed`` by default and,
  on request, the mask as PNG on ``/<cam>/mask/compressed`` (``image_transport``'s naming).
"""

from __future__ import annotations

IMAGE_MSGTYPE = "sensor_msgs/msg/Image"
COMPRESSED_MSGTYPE = "sensor_msgs/msg/CompressedImage"
STRING_MSGTYPE = "std_msgs/msg/String"
CAMERA_INFO_MSGTYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_MSGTYPES = (IMAGE_MSGTYPE, COMPRESSED_MSGTYPE)

COMPRESSED_SUFFIX = "/compressed"  # image_transport: <base topic>/compressed carries CompressedImage
DEFAULT_OUTPUT_NAMESPACE = ""  # the live node publishes <camera>/... relative to its (empty) namespace
DEFAULT_START_TIME_S = 1_700_000_000.0  # fixed epoch: the same command writes the same bag


def camera_namespace(camera: str) -> str:
    return f"/camera/{camera}"


def image_topic(camera: str, *, compressed: bool = False) -> str:
    """Input image topic of ``camera``; ``image_transport``'s ``/compressed`` suffix when compressed."""
    base = f"{camera_namespace(camera)}/image_raw"
    return compressed_topic(base) if compressed else base


def compressed_topic(base: str) -> str:
    """``image_transport``'s compressed topic of the image topic ``base``."""
    return base + COMPRESSED_SUFFIX


def camera_info_topic(camera: str) -> str:
    """``sensor_msgs/CameraInfo`` of ``camera``, beside its images (``image_transport``'s sibling)."""
    return f"{camera_namespace(camera)}/camera_info"


def ground_truth_mask_topic(camera: str) -> str:
    return f"{camera_namespace(camera)}/ground_truth/mask"


def ground_truth_polygons_topic(camera: str) -> str:
    return f"{camera_namespace(camera)}/ground_truth/polygons"


def output_topic(
    camera: str, kind: str, *, namespace: str = DEFAULT_OUTPUT_NAMESPACE, compressed: bool = False
) -> str:
    """Topic of one ``process`` output (``mask``, ``overlay``, ``markers``, ``polygons``).

    ``compressed`` gives the image's ``.../compressed`` topic (mask and overlay only).
    """
    base = f"{namespace.rstrip('/')}/{camera}/{kind}"
    return compressed_topic(base) if compressed else base


def camera_frame_id(camera: str) -> str:
    """Frame id stamped on a camera's images (the optical frame of that camera)."""
    return f"camera_{camera}_optical_frame"


def camera_of_topic(topic: str) -> str:
    """Camera name of an image or ground-truth topic (``/camera/avm/image_raw`` → ``avm``).

    Topics outside ``/camera/<cam>/...`` give their first path element that is not ``camera``.
    """
    parts = [part for part in topic.split("/") if part]
    if len(parts) >= 2 and parts[0] == "camera":
        return parts[1]
    return parts[0] if parts else topic


def frame_stamp_ns(index: int, *, start_ns: int, fps: float) -> int:
    """Stamp of frame ``index`` on a fixed-rate timeline, rounded to the nanosecond."""
    return start_ns + round(index * 1e9 / fps)
