"""Frames whose stamp does not fit the node's clock: counted, kept out of latency, reported (no DDS)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("diagnostic_msgs")

from seg_perception.ros.stats import CameraStats, build_status


def _status(stats: CameraStats):
    status = build_status(
        name="node: front", snapshot=stats.snapshot(), stale_timeout_s=60.0, seconds_since_start=0.0, info={}
    )
    return status, {kv.key: kv.value for kv in status.values}


def test_clock_mismatch_is_counted_kept_out_of_latency_and_warned_while_current() -> None:
    stats = CameraStats()
    stats.on_processed(latency_ms=20.0, processing_ms=5.0)
    stats.on_processed(latency_ms=1.8e12, processing_ms=5.0, clock_mismatch="stamps are 1.8e+09 s behind")
    snapshot = stats.snapshot()
    assert snapshot.processed == 2 and snapshot.clock_mismatch == 1
    assert snapshot.latency_ms.max == 20.0  # the absurd frame is not in the percentiles
    status, values = _status(stats)
    assert status.level == b"\x01" and status.message.startswith("clock mismatch, latency not measured")
    assert values["clock_mismatch"] == "1" and "1.8e+09 s behind" in values["clock_mismatch_last"]
    assert values["latency_ms_max"] == "20.00"

    stats.on_processed(latency_ms=25.0, processing_ms=5.0)  # a plausible stamp again: OK, count kept
    status, values = _status(stats)
    assert status.level == b"\x00" and values["clock_mismatch"] == "1"


def test_only_mismatched_frames_leave_latency_unknown() -> None:
    stats = CameraStats()
    stats.on_processed(latency_ms=None, processing_ms=5.0, clock_mismatch="header.stamp is unset (0)")
    latency = stats.snapshot().latency_ms
    assert latency.count == 0
    assert all(math.isnan(value) for value in (latency.p50, latency.p95, latency.p99, latency.max))
    _, values = _status(stats)
    assert "unset" in values["clock_mismatch_last"]
