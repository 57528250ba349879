"""``seg-perception bench-stages``: every output of the node timed on its own, and the share sum."""

from __future__ import annotations

import argparse
import math

import pytest

from seg_perception.bench.node_stages import Stream, measure_stream, node_share


def test_node_share_counts_pictures_at_their_rate_and_diagnostics_once_a_second() -> None:
    stages = {
        "inference": {"mean_ms": 10.0},
        "segment_cpu": {"mean_ms": 99.0},  # inference's own CPU: never part of the node's share
        "postprocess": {"mean_ms": 2.0},
        "polygons": {"mean_ms": 1.2},
        "overlay_msg": {"mean_ms": 3.0},
        "markers_msg": {"mean_ms": 1.5},
        "polygons_msg": {"mean_ms": 7.0},  # only for a polygon-cloud subscriber: not in the share
        "diagnostics": {"mean_ms": 3.0},
    }
    share = node_share(stages, visualization_every=3.0)
    assert share["other_ms"] == pytest.approx(2.0 + (1.2 + 3.0 + 1.5) / 3.0 + 3.0 / 30.0)
    assert share["other_percent"] == pytest.approx(10.0 * share["other_ms"])
    assert math.isnan(node_share({"postprocess": {"mean_ms": 1.0}}, visualization_every=1.0)["other_percent"])


def test_stream_is_scenario_camera_and_size() -> None:
    assert Stream.parse("parking:avm:640x640") == Stream("parking", "avm", (640, 640))
    with pytest.raises(argparse.ArgumentTypeError, match="SCENARIO:CAMERA:HxW"):
        Stream.parse("parking:640x640")


@pytest.mark.parametrize(
    ("stream", "outputs"),
    [
        (Stream("highway", "front", (135, 240)), {"lanes_msg"}),
        (Stream("parking", "avm", (160, 160)), set()),
    ],
)
def test_every_stage_of_a_frame_is_timed(stream: Stream, outputs: set[str]) -> None:
    pytest.importorskip("rclpy")
    result = measure_stream(stream, frames=2, repeat=1, threads=1)
    stages = result["stages"]
    expected = {
        "conversion",
        "segment_cpu",
        "inference",
        "mask_msg",
        "postprocess",
        "polygons",
        "slots_msg",
        "markers_msg",
        "overlay_msg",
        "polygons_msg",
        "diagnostics",
    } | outputs
    assert expected <= set(stages)
    for name in expected:
        assert stages[name]["count"] == 2 and stages[name]["mean_ms"] > 0, name
    assert stages["overlay_msg"]["cpu_mean_ms"] > 0
