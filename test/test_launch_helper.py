"""Launch logic (pure Python, always tested) and the launch files themselves (when launch_ros exists)."""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path

import pytest
import yaml

from seg_perception.config import SCENARIOS, config_path
from seg_perception.errors import ConfigError
from seg_perception.ros.launch_helper import (
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
    "front_topic",
    "avm_topic",
    "use_sim_time",
    "rviz",
    "log_level",
    "namespace",
    "lifecycle",
    "autostart",
}


def test_every_argument_is_declared_with_a_description() -> None:
    assert {argument.name for argument in LAUNCH_ARGUMENTS} == REQUIRED_ARGUMENTS
    assert all(len(argument.description) > 10 for argument in LAUNCH_ARGUMENTS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_default_plan_loads_the_scenario_parameter_file(scenario: str) -> None:
    (node,) = plan_launch({"scenario": scenario})
    params_file, overrides = node.parameters
    assert Path(params_file) == config_path(scenario) and Path(params_file).is_file()
    assert overrides == {"scenario": scenario, "use_sim_time": False}
    assert (node.package, node.executable) == ("seg_perception", "segmentation_node")
    assert (ROOT / "scripts" / "ros" / node.executable).is_file()
    assert node.ros_arguments == ["--log-level", "info"] and node.namespace == ""


def test_arguments_become_parameters_namespace_and_rviz() -> None:
    plans = plan_launch(
        {
            "scenario": "parking",
            "params_file": "/tmp/mine.yaml",
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
    assert node.parameters[0] == "/tmp/mine.yaml"
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
    ],
)
def test_bad_arguments_fail_clearly(arguments: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        plan_launch(arguments)


def test_small_helpers() -> None:
    assert parse_bool("x", "Yes") and not parse_bool("x", "0")
    assert check_scenario("/a/b.yaml") == "/a/b.yaml"
    assert default_params_file("/a/b.yaml") == Path("/a/b.yaml")


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
@pytest.mark.parametrize("name", ["segmentation", *SCENARIOS])
def test_launch_files_build_descriptions(name: str) -> None:
    from launch.actions import DeclareLaunchArgument

    description = runpy.run_path(str(ROOT / "launch" / f"{name}.launch.py"))["generate_launch_description"]()
    declared = {a.name: a for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert set(declared) == REQUIRED_ARGUMENTS
    assert all(a.description for a in declared.values())
    expected = "highway" if name == "segmentation" else name
    assert declared["scenario"].default_value[0].text == expected
