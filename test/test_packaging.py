"""The install puts ROS executables and share files where `ros2 run` / `ros2 launch` look."""

from __future__ import annotations

import ast
import os
import stat
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from seg_perception.config import SCENARIOS, load_scenario

ROOT = Path(__file__).resolve().parents[1]
PREFIX = Path(sys.prefix)
INSTALLED = (PREFIX / "share" / "seg_perception" / "package.xml").is_file()
needs_install = pytest.mark.skipif(not INSTALLED, reason="package not installed in this prefix (run make)")


def test_package_xml_is_format_3_and_declares_runtime_dependencies() -> None:
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "seg_perception"
    depends = {e.text for e in root.iter("exec_depend")}
    for needed in ("rclpy", "sensor_msgs", "visualization_msgs", "diagnostic_msgs", "launch_ros"):
        assert needed in depends
    assert root.find("export/build_type").text == "ament_python"


def test_setup_cfg_puts_colcon_scripts_in_lib_package() -> None:
    text = (ROOT / "setup.cfg").read_text()
    assert "script_dir=$base/lib/seg_perception" in text
    assert "install_scripts=$base/lib/seg_perception" in text


def test_setup_py_installs_launch_config_weights_and_marker() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    source = ast.unparse(tree)
    for fragment in ("launch/*.launch.py", "config/*.yaml", "weights/*.onnx", "resource/", "lib/"):
        assert fragment in source


@needs_install
def test_ros_executables_installed_to_lib_package() -> None:
    lib = PREFIX / "lib" / "seg_perception"
    for name in os.listdir(ROOT / "scripts" / "ros"):
        path = lib / name
        assert path.is_file(), f"{path} missing: pip install must put ROS launchers there"
        assert path.stat().st_mode & stat.S_IXUSR, f"{path} is not executable"


@needs_install
def test_share_has_configs_launch_files_and_ament_marker() -> None:
    share = PREFIX / "share" / "seg_perception"
    for scenario in SCENARIOS:
        assert (share / "config" / f"{scenario}.yaml").is_file()
    for launch_file in (ROOT / "launch").glob("*.launch.py"):
        assert (share / "launch" / launch_file.name).is_file()
    for weights in (ROOT / "weights").glob("*.onnx"):
        assert (share / "weights" / weights.name).is_file()
    assert (PREFIX / "share" / "ament_index" / "resource_index" / "packages" / "seg_perception").is_file()


@needs_install
def test_training_recipes_are_installed_so_train_config_name_works() -> None:
    recipes = sorted((ROOT / "config" / "training").glob("*.yaml"))
    assert recipes
    for recipe in recipes:
        assert (PREFIX / "share" / "seg_perception" / "config" / "training" / recipe.name).is_file()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_config_loads(scenario: str) -> None:
    config = load_scenario(scenario)
    assert config.name == scenario
    assert config.classes.names[0] == "background"
    assert config.classes.colors_bgr.shape == (config.classes.num_classes, 3)
