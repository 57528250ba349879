"""Why a camera sends nothing, in words: the node's advice for silent inputs and large frames.

Pure Python (no rclpy), so every case is testable without DDS: the node passes what the
ROS graph says about the input topic (:class:`PublisherInfo` per publisher) and logs the
returned sentence as a throttled warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
COMPRESSED_SUFFIX = "/compressed"
PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
FASTDDS_RMW = "rmw_fastrtps_cpp"
# Fast DDS's default UDP transport loses most best-effort frames above about this size
# (README, "Fast DDS and large images": 960x540 bgr8, 1.5 MB, 1-2 of 300 arrived).
LARGE_FRAME_BYTES = 512 * 1024


@dataclass(frozen=True)
class PublisherInfo:
    """One publisher of a topic as the ROS graph reports it."""

    node: str
    topic_type: str
    reliability: str  # "reliable", "best_effort", ...


def _count(publishers: Sequence[PublisherInfo]) -> str:
    types = sorted({p.topic_type for p in publishers})
    noun = "publisher" if len(publishers) == 1 else "publishers"
    return f"{len(publishers)} {noun} ({', '.join(types)})"


def diagnose_silent_input(
    *,
    camera: str,
    topic: str,
    transport: str,
    subscription_reliability: str,
    publishers: Mapping[str, Sequence[PublisherInfo]],
    image_topics: Sequence[str] = (),
    idle_s: float | None,
    domain_id: str | None = None,
) -> str:
    """The warning for a camera that received no frame since start (``idle_s`` None) or for ``idle_s``.

    Args:
        camera: Camera name (parameter prefix).
        topic: The subscribed topic.
        transport: ``raw`` or ``compressed``.
        subscription_reliability: The node's input reliability (``best_effort`` / ``reliable``).
        publishers: Publishers of ``topic`` and of its raw / compressed sibling topic.
        image_topics: Every image topic on the graph, offered when nothing publishes here.
        idle_s: Seconds since the last frame; None when none came since start.
        domain_id: ``ROS_DOMAIN_ID`` of the node, named when nothing publishes.
    """
    when = "since start" if idle_s is None else f"for {idle_s:.1f} s"
    head = f"{camera}: no frame on {topic} {when}"
    expected = COMPRESSED_TYPE if transport == "compressed" else IMAGE_TYPE
    here = list(publishers.get(topic, ()))
    if transport == "compressed":
        sibling = topic[: -len(COMPRESSED_SUFFIX)] if topic.endswith(COMPRESSED_SUFFIX) else ""
    else:
        sibling = topic + COMPRESSED_SUFFIX
    there = list(publishers.get(sibling, ())) if sibling else []
    if not here:
        if there and transport == "raw":
            return (
                f"{head}: it has no publisher, but {sibling} has {_count(there)}: set "
                f"{camera}.transport:=compressed {camera}.topic:={sibling}"
            )
        if there:
            return (
                f"{head}: it has no publisher, but {sibling} has {_count(there)}: set "
                f"{camera}.transport:=raw {camera}.topic:={sibling}"
            )
        seen = [name for name in image_topics if name != topic]
        offer = f"; image topics on the graph: {', '.join(sorted(seen)[:8])}" if seen else ""
        domain = f" on ROS_DOMAIN_ID {domain_id}" if domain_id else " on this ROS_DOMAIN_ID"
        return (
            f"{head}: it has no publisher{domain}. Start the camera driver, or point the node at its topic "
            f"({camera}.topic:=/your/image, launch argument {camera}_topic:=...){offer}"
        )
    wrong = [p for p in here if p.topic_type != expected]
    if wrong and len(wrong) == len(here):
        fix = "compressed" if wrong[0].topic_type == COMPRESSED_TYPE else "raw"
        return f"{head}: it has {_count(here)} but the node expects {expected}: set {camera}.transport:={fix}"
    if subscription_reliability == "reliable":
        offering = [p for p in here if p.reliability == "best_effort"]
        if offering:
            return (
                f"{head}: QoS mismatch: {_count(offering)} offer best_effort but the node asks for "
                f"reliable delivery, so DDS connects nothing: set qos.reliability:=best_effort"
            )
    return (
        f"{head}, although it has {_count(here)}: the publisher sends nothing or its frames are lost "
        "on the way (large images over Fast DDS's default UDP transport: export the shared-memory "
        "profile in every process, see the README 'Fast DDS and large images')"
    )


def shared_memory_advice(frame_bytes: int, environ: Mapping[str, str], share_dir: Path) -> str | None:
    """One warning for large frames on Fast DDS without the shared-memory profile, else None."""
    if frame_bytes < LARGE_FRAME_BYTES:
        return None
    if environ.get("RMW_IMPLEMENTATION", FASTDDS_RMW) != FASTDDS_RMW or environ.get(PROFILE_ENV):
        return None
    profile = share_dir / "config" / "fastdds_shm.xml"
    return (
        f"frames of {frame_bytes / 1e6:.1f} MB arrive over Fast DDS without the shared-memory profile: "
        "with the default UDP transport most large best-effort frames are lost and the rest are late. "
        f"In every process that exchanges images (camera driver, this node, RViz): "
        f"export {PROFILE_ENV}={profile}"
    )
