"""The frame size the middleware delivers reliably, for a one-time warning (pure Python).

Frames that the transport cannot carry never reach the node, so no counter can see
them; the node can only warn when frames come *near* the limit. With Fast DDS the
limit is the shared-memory segment: a frame larger than the segment falls back to UDP
fragments, which best-effort QoS loses whole (docs/reliability.md, "Large raw frames").
The segment size is read from the active profile (``FASTDDS_DEFAULT_PROFILES_FILE``);
without a profile, :func:`seg_perception.ros.input_checks.shared_memory_advice` already
tells the user to export the shipped one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BUILTIN_SHM_SEGMENT_BYTES = 512 * 1024  # Fast DDS default, for an SHM descriptor without segment_size
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
NEAR_LIMIT_FRACTION = 0.5  # warn from half the segment: two frames in flight fill it


@dataclass(frozen=True)
class FrameSizeLimit:
    """Frames of ``warn_bytes`` or more are near what the transport delivers.

    Attributes:
        segment_bytes: The shared-memory segment size in force.
        warn_bytes: Frame size from which the node warns (once per camera).
        source: Where ``segment_bytes`` comes from (for the warning).
        advice: What to change.
    """

    segment_bytes: int
    warn_bytes: int
    source: str
    advice: str


def frame_size_limit(environment: Mapping[str, str]) -> FrameSizeLimit | None:
    """The limit for the middleware named by ``environment``; None where it is not Fast DDS."""
    rmw = environment.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") or "rmw_fastrtps_cpp"
    if not rmw.startswith("rmw_fastrtps"):
        return None
    profile = next((environment[name] for name in PROFILE_VARIABLES if environment.get(name)), "")
    if not profile:  # input_checks.shared_memory_advice names the shipped profile for this case
        return None
    segment = shm_segment_bytes(Path(profile))
    if segment is None:
        return None  # a profile without a shared-memory transport: its limits are not known here
    return FrameSizeLimit(
        segment,
        int(segment * NEAR_LIMIT_FRACTION),
        f"shared-memory segment_size {segment} of {profile}",
        "raise <segment_size> in that profile (every process of the pipeline must use it), "
        "or send CompressedImage",
    )


def shm_segment_bytes(profile: Path) -> int | None:
    """``segment_size`` of the first SHM transport of a Fast DDS XML profile; None if absent/unreadable."""
    try:
        root = ElementTree.parse(profile).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    for descriptor in root.iter():
        if _local(descriptor.tag) != "transport_descriptor":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in descriptor}
        if fields.get("type") == "SHM":
            try:
                return int(fields.get("segment_size") or BUILTIN_SHM_SEGMENT_BYTES)
            except ValueError:
                return None
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
