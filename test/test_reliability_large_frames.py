"""The transport's frame-size limit, read from the Fast DDS profile (no ROS needed)."""

from __future__ import annotations

from pathlib import Path

from seg_perception.ros.dds_limits import (
    BUILTIN_SHM_SEGMENT_BYTES,
    NEAR_LIMIT_FRACTION,
    frame_size_limit,
    shm_segment_bytes,
)

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "fastdds_shm.xml"


def test_the_shipped_profile_segment_is_read() -> None:
    assert shm_segment_bytes(SHIPPED) == 64 * 2**20
    limit = frame_size_limit({"FASTDDS_DEFAULT_PROFILES_FILE": str(SHIPPED)})
    assert limit is not None and limit.segment_bytes == 64 * 2**20
    assert limit.warn_bytes == int(64 * 2**20 * NEAR_LIMIT_FRACTION)
    assert str(SHIPPED) in limit.source and "segment_size" in limit.advice


def test_without_a_profile_no_limit_is_claimed_here() -> None:
    # input_checks.shared_memory_advice tells the user to export the shipped profile instead
    assert frame_size_limit({"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}) is None


def test_a_shm_descriptor_without_segment_size_has_the_builtin_segment(tmp_path: Path) -> None:
    profile = tmp_path / "shm.xml"
    profile.write_text(
        '<dds xmlns="http://www.eprosima.com"><profiles><transport_descriptors><transport_descriptor>'
        "<transport_id>s</transport_id><type>SHM</type>"
        "</transport_descriptor></transport_descriptors></profiles></dds>"
    )
    limit = frame_size_limit({"FASTDDS_DEFAULT_PROFILES_FILE": str(profile)})
    assert limit is not None and limit.segment_bytes == BUILTIN_SHM_SEGMENT_BYTES


def test_other_middlewares_and_unreadable_profiles_give_no_limit(tmp_path: Path) -> None:
    assert frame_size_limit({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}) is None
    broken = tmp_path / "broken.xml"
    broken.write_text("<dds><profiles>")
    assert frame_size_limit({"FASTDDS_DEFAULT_PROFILES_FILE": str(broken)}) is None
    udp_only = tmp_path / "udp.xml"
    udp_only.write_text(
        "<dds><profiles><transport_descriptors><transport_descriptor>"
        "<transport_id>u</transport_id><type>UDPv4</type>"
        "</transport_descriptor></transport_descriptors></profiles></dds>"
    )
    assert frame_size_limit({"FASTDDS_DEFAULT_PROFILES_FILE": str(udp_only)}) is None
