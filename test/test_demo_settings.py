"""Demo settings: the ROS domain follows --domain-id, then $ROS_DOMAIN_ID, then a private one."""

import pytest

pytest.importorskip("rclpy")

import argparse

from seg_perception.tools.demo import DemoError, demo_domain_id, parse_switch, register, settings_from_args


def test_domain_id_precedence():
    assert demo_domain_id(5, {"ROS_DOMAIN_ID": "9"}) == 5
    assert demo_domain_id(None, {"ROS_DOMAIN_ID": "9"}) == 9
    assert 1 <= demo_domain_id(None, {}) <= 100
    assert 1 <= demo_domain_id(None, {"ROS_DOMAIN_ID": " "}) <= 100


def test_a_malformed_ros_domain_id_is_named():
    with pytest.raises(DemoError, match="ROS_DOMAIN_ID='x'"):
        demo_domain_id(None, {"ROS_DOMAIN_ID": "x"})


def test_drive_seed_skips_drives_missing_a_class(monkeypatch):
    import numpy as np

    from seg_perception.config import load_scenario
    from seg_perception.data import synthetic
    from seg_perception.tools import demo

    class Sample:
        def __init__(self, classes):
            self.mask = np.array(classes, np.uint8)

    # seed 10: never a crosswalk (class 2); seed 11: one appears at frame 15
    drives = {10: [[0, 1]] * 40, 11: [[0, 1]] * 15 + [[0, 2]] * 25}
    monkeypatch.setattr(synthetic, "generate_drive", lambda config, seed, n, **kw: map(Sample, drives[seed]))
    road = load_scenario("road")
    assert demo.drive_seed(road, 10, 40, (4, 4), 30.0) == 11
    drives[12] = drives[13] = drives[10]
    drives[11] = drives[10]
    assert demo.drive_seed(road, 10, 40, (4, 4), 30.0) == 10  # none shows every class: keep the seed


def test_overlay_annotator_draws_legend_and_slot_outlines():
    import numpy as np

    from seg_perception.config import load_scenario
    from seg_perception.tools import demo

    parking = load_scenario("parking")
    mask = np.zeros((200, 200), np.uint8)
    mask[40:160, 60:140] = 2  # a free slot region
    mask[40:160, 56:60] = mask[40:160, 140:144] = 1  # its side lines
    overlay = np.full((200, 200, 3), 50, np.uint8)
    annotate = demo.overlay_annotator(parking, "avm", {7: mask})
    picture = annotate(7, overlay)
    assert (overlay == 50).all()  # a copy is drawn on
    legend = picture[:50, -120:].reshape(-1, 3)
    assert (legend == parking.classes.colors_bgr[2]).all(axis=1).any()  # free_slot swatch
    assert (picture[40:160, 50:150] != 50).any(axis=2).sum() > 200  # outlines around the region
    plain = annotate(8, overlay)  # no mask for this stamp: legend only
    assert (plain[100:, 100:] == 50).all()


def test_switch_option_is_checked_before_anything_starts():
    assert parse_switch(None, ("drive",)) is None
    assert parse_switch("front = road", ("highway", "drive")) == ("front", "road")
    for text, reason in (
        ("front:road", "expected CAMERA=SCENARIO"),
        ("=road", "expected CAMERA=SCENARIO"),
        ("rear=road", "no camera 'rear'"),
        ("front=city", "unknown scenario 'city'"),
    ):
        with pytest.raises(DemoError, match=reason):
            parse_switch(text, ("drive",))
    with pytest.raises(DemoError, match="needs the drive scenario"):
        parse_switch("front=road", ("highway",))


def _args(*argv):
    parser = argparse.ArgumentParser()
    register(parser)
    return parser.parse_args(list(argv))


def test_switch_at_defaults_to_half_the_stream_and_must_lie_inside_it():
    settings = settings_from_args(_args("--scenarios", "drive", "--seconds", "8", "--switch", "front=road"))
    assert settings.switch == ("front", "road") and settings.switch_at_s is None
    at = settings_from_args(_args("--scenarios", "drive", "--switch", "front=road", "--switch-at", "2"))
    assert at.switch_at_s == 2.0
    for argv in (
        ("--switch-at", "2"),
        ("--switch", "front=road", "--switch-at", "8"),
        ("--switch", "front=road", "--switch-at", "0"),
    ):
        with pytest.raises(DemoError, match="--switch-at"):
            settings_from_args(_args("--scenarios", "drive", "--seconds", "6", *argv))


@pytest.mark.parametrize(
    ("camera", "scenario", "pinned"),
    [("front", "highway", "highway.onnx"), ("avm", "parking", "parking.onnx")],
)
def test_the_drive_demo_runs_the_models_its_node_would(camera: str, scenario: str, pinned: str) -> None:
    """config/drive.yaml pins both cameras to ICNet-lite on the CPU: the front through the node's
    per-device keys (it runs the node's own scenario), the AVM through its own block's. On CUDA and
    for a scenario run alone the scenario's own models apply (the int8 HRNet files on the CPU)."""
    from seg_perception.config import load_scenario, scenario_model_path, share_dir
    from seg_perception.tools.demo import drive_model_overrides, resolve_model

    weights = share_dir() / "weights"
    overrides = drive_model_overrides(camera, scenario)
    assert overrides == {"cpu_model_file": pinned}
    assert resolve_model(scenario, None, "cpu", overrides) == weights / pinned
    config = load_scenario(scenario)
    assert resolve_model(scenario, None, "cuda", overrides) == scenario_model_path(config, "cuda")
    assert resolve_model(scenario, None, "cpu") == scenario_model_path(config, "cpu") != weights / pinned


def test_a_drive_cameras_block_keys_apply_to_the_scenario_it_names_only() -> None:
    from seg_perception.tools.demo import drive_model_overrides

    assert drive_model_overrides("front", "road") == {}  # neither the node's scenario nor the block's
    # the AVM running the node's scenario (highway) gets the node's keys, not its block's parking pin
    assert drive_model_overrides("avm", "highway") == {"cpu_model_file": "highway.onnx"}


def test_a_model_file_node_param_is_the_model_the_demo_reports() -> None:
    """``--node-param model_file:=X`` reaches the node last on its command line, so the report must
    name X, not the model the demo would have chosen."""
    from pathlib import Path

    from seg_perception.tools.demo import node_arg_model

    args = (
        "overlay_alpha:=0.6",
        "model_file:=/tmp/a.onnx",
        "avm.model_file:=/tmp/b.onnx",
        "model_file:=/tmp/c.onnx",
    )
    assert node_arg_model(args, "model_file") == Path("/tmp/c.onnx")  # the last one wins, as in ROS
    assert node_arg_model(args, "avm.model_file") == Path("/tmp/b.onnx")
    assert node_arg_model(args, "front.model_file") is None
    assert node_arg_model(("model_file:=",), "model_file") is None  # empty: the demo's own choice
