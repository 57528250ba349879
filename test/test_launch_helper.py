"""Launch logic (pure Python, always tested) and the launch files themselves (when launch_ros exists)."""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path

import pytest
import yaml

from seg_perception.config import config_path, scenario_names
from seg_perception.errors import ConfigError
from seg_perception.ros import launch_helper
from seg_perception.ros.launch_helper import (
    DRIVE_LAUNCH_ARGUMENTS,
    LAUNCH_ARGUMENTS,
    check_scenario,
    default_params_file,
    parse_bool,
    plan_launch,
    rviz_config_path,
)

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_ARGUMENTS = {
    "scenario",
    "params_file",
    "model_file",
    "device",
    "engine",
    "fp16",
    "front_topic",
    "avm_topic",
    "avm_metres_per_pixel",
    "avm_origin_px",
    "front_camera_info_topic",
    "front_camera_info_file",
    "front_mounting",
    "front_rectified",
    "use_sim_time",
    "rviz",
    "log_level",
    "namespace",
    "lifecycle",
    "autostart",
}
DRIVE_ARGUMENTS = (REQUIRED_ARGUMENTS - {"scenario", "model_file"}) | {
    "front_scenario",
    "avm_scenario",
    "front_model_file",
    "avm_model_file",
}


@pytest.fixture
def with_rviz2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake rviz2 install prefix on AMENT_PREFIX_PATH."""
    executable = tmp_path / "lib" / "rviz2" / "rviz2"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    return executable


def test_every_argument_is_declared_with_a_description() -> None:
    assert {argument.name for argument in LAUNCH_ARGUMENTS} == REQUIRED_ARGUMENTS
    assert {argument.name for argument in DRIVE_LAUNCH_ARGUMENTS} == DRIVE_ARGUMENTS
    for argument in LAUNCH_ARGUMENTS + DRIVE_LAUNCH_ARGUMENTS:
        assert len(argument.description) > 10
        assert isinstance(argument.default, str)  # plain strings: no substitution needs ros2/launch#838


def test_every_launch_option_the_readme_shows_is_declared() -> None:
    readme = (ROOT / "README.md").read_text()
    import re

    shown = set(re.findall(r"launch\.py[^\n`]*", readme))
    options = {name for line in shown for name in re.findall(r"(\w+):=", line)}
    assert options  # the README shows launch options
    assert options <= REQUIRED_ARGUMENTS | DRIVE_ARGUMENTS, options - REQUIRED_ARGUMENTS - DRIVE_ARGUMENTS


def test_drive_plan_runs_front_and_avm_with_their_own_scenarios() -> None:
    (node,) = plan_launch({}, setup="drive")
    params_file, overrides = node.parameters
    assert Path(params_file) == config_path("drive") and Path(params_file).is_file()
    assert overrides == {"use_sim_time": False, "front.scenario": "highway", "avm.scenario": "parking"}
    (node,) = plan_launch(
        {"front_scenario": "road", "avm_model_file": "/m/p.onnx", "fp16": "true", "device": "cuda"},
        setup="drive",
    )
    assert node.parameters[1] == {
        "use_sim_time": False,
        "fp16": True,
        "device": "cuda",
        "front.scenario": "road",
        "avm.scenario": "parking",
        "avm.model_file": "/m/p.onnx",
    }
    with pytest.raises(ConfigError, match="front_scenario"):
        plan_launch({"front_scenario": "moon"}, setup="drive")
    drive = yaml.safe_load(config_path("drive").read_text())["/**"]["ros__parameters"]
    assert drive["cameras"] == ["front", "avm"]
    assert (drive["front"]["scenario"], drive["avm"]["scenario"]) == ("highway", "parking")


def test_scenario_yaml_path_is_its_own_parameter_file(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(config_path("road").read_text())
    (node,) = plan_launch({"scenario": str(mine)})
    assert node.parameters[0] == str(mine) and node.parameters[1]["scenario"] == str(mine)
    with pytest.raises(ConfigError, match="no such file"):
        plan_launch({"scenario": str(tmp_path / "absent.yaml")})


def test_rviz_is_checked_before_anything_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"rviz2 is not installed.*nothing was started"):
        plan_launch({"scenario": "parking", "rviz": "true"})
    assert launch_helper.find_rviz2() is None


@pytest.mark.parametrize("scenario", scenario_names())
def test_default_plan_loads_the_scenario_parameter_file(scenario: str) -> None:
    (node,) = plan_launch({"scenario": scenario})
    params_file, overrides = node.parameters
    assert Path(params_file) == config_path(scenario) and Path(params_file).is_file()
    assert overrides == {"scenario": scenario, "use_sim_time": False}
    assert (node.package, node.executable) == ("seg_perception", "segmentation_node")
    assert (ROOT / "scripts" / "ros" / node.executable).is_file()
    assert node.ros_arguments == ["--log-level", "info"] and node.namespace == ""


def test_arguments_become_parameters_namespace_and_rviz(with_rviz2: Path) -> None:
    plans = plan_launch(
        {
            "scenario": "parking",
            "params_file": str(config_path("parking")),
            "model_file": "/m/p.onnx",
            "device": "cuda",
            "front_topic": "/f",
            "avm_topic": "/cam/avm",
            "use_sim_time": "true",
            "rviz": "True",
            "log_level": "DEBUG",
            "namespace": "car1",
        }
    )
    node, rviz = plans
    assert node.parameters[0] == str(config_path("parking"))
    assert node.parameters[1] == {
        "scenario": "parking",
        "use_sim_time": True,
        "model_file": "/m/p.onnx",
        "device": "cuda",
        "front.topic": "/f",
        "avm.topic": "/cam/avm",
    }
    assert node.namespace == "car1" and node.ros_arguments == ["--log-level", "debug"]
    assert rviz.executable == "rviz2" and rviz.arguments == ["-d", str(rviz_config_path())]
    assert rviz.parameters == [{"use_sim_time": True}]
    assert node.as_kwargs()["remappings"] == []


@pytest.mark.parametrize("autostart", [True, False])
def test_lifecycle_argument_runs_the_managed_node_with_autostart(autostart: bool) -> None:
    (node,) = plan_launch({"scenario": "road", "lifecycle": "true", "autostart": str(autostart).lower()})
    assert node.executable == "lifecycle_segmentation_node" and node.name == "segmentation_node"
    assert (ROOT / "scripts" / "ros" / node.executable).is_file()
    assert node.parameters[1]["autostart"] is autostart
    (plain,) = plan_launch({"scenario": "road", "autostart": "true"})  # autostart only for lifecycle
    assert plain.executable == "segmentation_node" and "autostart" not in plain.parameters[1]


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"scenario": "moon"}, "moon"),
        ({"rviz": "maybe"}, "rviz"),
        ({"log_level": "loud"}, "log_level"),
        ({"lifecycle": "sometimes"}, "lifecycle"),
        ({"fp16": "half"}, "fp16"),
        ({"engine": "tensorflow"}, "engine"),
        ({"scenario": "drive"}, "drive.launch.py"),
        ({"params_file": "/nowhere/p.yaml"}, "params_file"),
        ({"avm_metres_per_pixel": "fine"}, "avm_metres_per_pixel"),
        ({"avm_metres_per_pixel": "-0.02"}, "above 0"),
        ({"avm_origin_px": "300"}, "U,V"),
        ({"avm_origin_px": "a,b"}, "avm_origin_px"),
        ({"front_camera_info_topic": "/cam/camera_info"}, "need front_mounting"),
        ({"front_mounting": "1.45"}, "HEIGHT_M,PITCH_DEG"),
        ({"front_mounting": "-1.45,2"}, "above 0"),
        ({"front_mounting": "1.45,2,0,0,9,0,1"}, "front_mounting"),
        ({"front_rectified": "perhaps"}, "front_rectified"),
    ],
)
def test_bad_arguments_fail_clearly(arguments: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        plan_launch(arguments)


def test_small_helpers() -> None:
    assert parse_bool("x", "Yes") and not parse_bool("x", "0")
    mine = str(config_path("road"))
    assert check_scenario(mine) == mine
    assert default_params_file(mine) == Path(mine)


def test_rviz_config_is_valid_and_shows_overlays_and_markers() -> None:
    config = yaml.safe_load(rviz_config_path().read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "base_link"
    topics = {(d["Class"], d["Topic"]["Value"]) for d in manager["Displays"] if "Topic" in d}
    assert ("rviz_default_plugins/Image", "/front/overlay") in topics
    assert ("rviz_default_plugins/Image", "/avm/overlay") in topics
    assert ("rviz_default_plugins/MarkerArray", "/front/markers") in topics
    assert ("rviz_default_plugins/MarkerArray", "/avm/markers") in topics


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed")
@pytest.mark.parametrize("name", ["segmentation", "drive", *scenario_names()])
def test_launch_files_build_descriptions(name: str) -> None:
    from launch.actions import DeclareLaunchArgument

    description = runpy.run_path(str(ROOT / "launch" / f"{name}.launch.py"))["generate_launch_description"]()
    declared = {a.name: a for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert set(declared) == (DRIVE_ARGUMENTS if name == "drive" else REQUIRED_ARGUMENTS)
    assert all(a.description for a in declared.values())
    if name != "drive":
        expected = "highway" if name == "segmentation" else name
        assert declared["scenario"].default_value[0].text == expected


def test_an_avm_of_another_scale_is_set_from_the_launch_line() -> None:
    """ps2.0-like 600x600 views at 1.67 cm: the scale describes the frames as they come (any size)."""
    (node,) = plan_launch(
        {"scenario": "parking", "avm_metres_per_pixel": "0.0167", "avm_origin_px": "300, 300"}
    )
    overrides = node.parameters[1]
    assert overrides["avm.metres_per_pixel"] == pytest.approx(0.0167)
    assert overrides["avm.image_size"] == [0, 0] and overrides["avm.origin_px"] == [300.0, 300.0]
    (plain,) = plan_launch({"scenario": "parking"})  # empty: the parameter file's geometry
    assert not any(key.startswith("avm.") for key in plain.parameters[1])


def test_a_real_front_camera_is_calibrated_from_the_launch_line() -> None:
    """Its driver's CameraInfo topic (or a calibration file) and where it is mounted: lanes in metres."""
    (node,) = plan_launch(
        {
            "scenario": "highway",
            "front_topic": "/cam/image_rect",
            "front_camera_info_topic": "/cam/camera_info",
            "front_mounting": "1.45, 2.5",
            "front_rectified": "true",
        }
    )
    overrides = node.parameters[1]
    assert overrides["front.camera_info_topic"] == "/cam/camera_info" and overrides["front.rectified"] is True
    assert overrides["front.mounting"] == [1.45, 2.5] and "front.camera_info_file" not in overrides
    (from_file,) = plan_launch(
        {"scenario": "road", "front_camera_info_file": "/cal/front.yaml", "front_mounting": "1.3,1,0.5,-0.2"}
    )
    assert from_file.parameters[1]["front.camera_info_file"] == "/cal/front.yaml"
    assert from_file.parameters[1]["front.mounting"] == [1.3, 1.0, 0.5, -0.2]
    assert "front.rectified" not in from_file.parameters[1]  # empty: the parameter file's
    (plain,) = plan_launch({"scenario": "highway"})
    assert not any(key.startswith("front.") for key in plain.parameters[1])


def test_a_compressed_topic_from_the_launch_line_is_read_compressed() -> None:
    """image_transport's naming: ``<base>/compressed`` carries CompressedImage, so a recording's compressed
    topic needs no parameter file (the node's transport parameter says how it subscribes)."""
    (node,) = plan_launch({"scenario": "highway", "front_topic": "/camera/front/image_raw/compressed"})
    assert node.parameters[1]["front.transport"] == "compressed"
    (node,) = plan_launch({"scenario": "parking", "avm_topic": "/car/avm/image"})
    assert "avm.transport" not in node.parameters[1]  # any other name: the parameter file's transport
    (plain,) = plan_launch({"scenario": "highway"})
    assert "front.transport" not in plain.parameters[1]
