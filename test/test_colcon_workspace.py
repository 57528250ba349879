"""The package builds in a colcon workspace like any ROS 2 package, and what colcon installed runs.

The "ROS installation" is this venv (the Kilted wheels): it is the underlay on AMENT_PREFIX_PATH /
CMAKE_PREFIX_PATH, as /opt/ros/<distro> is for a user. colcon runs from its own venv
(``make test`` installs colcon-common-extensions there). Beside the package, the workspace holds a
user's C++ package that depends on the messages (``test/colcon_consumer``, as README.md shows).
The build takes a few minutes on 2 cores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seg_perception.config import load_scenario

ROOT = Path(__file__).resolve().parents[1]
COLCON = Path(sys.prefix) / "colcon" / "bin" / "colcon"
DOMAIN_ID = 122  # unique per test module: no cross-talk with other DDS tests
# What CMakeLists.txt builds and installs from (the rest of the checkout is not the package's).
PACKAGE_SOURCES = (
    "CMakeLists.txt",
    "package.xml",
    "msg",
    "cmake",
    "seg_perception",
    "scripts",
    "launch",
    "config",
    "weights",
    "resource",
)
BUILD_TIMEOUT_S = 1200
NODE_TIMEOUT_S = 120.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not COLCON.is_file(), reason=f"colcon not installed at {COLCON} (make test installs it)"
    ),
]


def _underlay_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = sys.prefix
    env["CMAKE_PREFIX_PATH"] = sys.prefix
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # python3 = this venv's
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("colcon_ws")
    package = ws / "src" / "seg_perception"
    package.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PACKAGE_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, package / name, ignore=ignore)
        else:
            shutil.copy2(source, package / name)
    shutil.copytree(ROOT / "test" / "colcon_consumer", ws / "src" / "seg_perception_consumer")
    # The wheels' CMake exports name include dirs of their build machine: every package that uses
    # them needs the pruning seg_perception does for itself (not needed with a ROS installation).
    prune = ws / "prune_missing_include_dirs.cmake"
    prune.write_text(
        f"include({package / 'cmake' / 'prune_missing_include_dirs.cmake'})\nprune_missing_include_dirs()\n"
    )
    command = [
        str(COLCON),
        "build",
        "--event-handlers",
        "console_cohesion-",
        "--cmake-args",
        f"-DPython3_EXECUTABLE={sys.executable}",
        f"-DCMAKE_PROJECT_INCLUDE={prune}",
        "-DBUILD_TESTING=OFF",
    ]
    result = subprocess.run(
        command,
        cwd=ws,
        env=_underlay_env(MAKEFLAGS=f"-j{os.cpu_count() or 1}"),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    log = ws / "log" / "latest_build" / "seg_perception" / "stdout_stderr.log"
    details = log.read_text()[-4000:] if log.is_file() else result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"colcon build failed:\n{details}"
    return ws


def test_colcon_install_has_the_ros_layout(workspace: Path) -> None:
    prefix = workspace / "install" / "seg_perception"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "seg_perception").is_file()
    assert (
        prefix / "share" / "ament_index" / "resource_index" / "rosidl_interfaces" / "seg_perception"
    ).is_file()
    for msg in (ROOT / "msg").glob("*.msg"):
        assert (prefix / "share" / "seg_perception" / "msg" / msg.name).is_file()
    assert (
        prefix / "share" / "seg_perception" / "cmake" / "seg_perceptionConfig.cmake"
    ).is_file()  # C++ users
    assert (
        prefix / "include" / "seg_perception" / "seg_perception" / "msg" / "parking_slot_array.hpp"
    ).is_file()
    for launcher in (ROOT / "scripts" / "ros").iterdir():
        assert os.access(prefix / "lib" / "seg_perception" / launcher.name, os.X_OK), launcher.name
    assert os.access(prefix / "bin" / "seg-perception", os.X_OK)
    for launch_file in (ROOT / "launch").glob("*.launch.py"):
        assert (prefix / "share" / "seg_perception" / "launch" / launch_file.name).is_file()
    assert (prefix / "share" / "seg_perception" / "config" / "parking.yaml").is_file()
    assert (prefix / "share" / "seg_perception" / "weights" / "parking.onnx").is_file()
    site = next(prefix.glob("lib/python3*/site-packages/seg_perception"))
    assert (site / "__init__.py").read_text() == (ROOT / "seg_perception" / "__init__.py").read_text()
    assert (site / "msg" / "_parking_slot_array.py").is_file() and (site / "ros" / "node.py").is_file()


def test_a_users_cpp_package_builds_against_the_messages(workspace: Path) -> None:
    consumer = (
        workspace / "install" / "seg_perception_consumer" / "lib" / "seg_perception_consumer" / "consumer"
    )
    script = f"source {workspace / 'install' / 'local_setup.bash'} && {consumer}"
    result = subprocess.run(
        ["bash", "-c", script], env=_underlay_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "slots=1 corner1.x=2.5 lanes=2 ego_left=1"


def _run_sourced(workspace: Path, command: str, *, env: dict[str, str]) -> subprocess.Popen:
    """``command`` in bash after sourcing the workspace's local_setup.bash (as a user would)."""
    script = f"source {workspace / 'install' / 'local_setup.bash'} && exec {command}"
    # Own process group: stopping it stops what `ros2 launch` started too, so no node outlives its test.
    return subprocess.Popen(
        ["bash", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _latched_info(process: subprocess.Popen, topic: str) -> object:
    """The first SegmentationInfo on ``topic`` (latched), received in this process on DOMAIN_ID."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from seg_perception.msg import SegmentationInfo

    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    try:
        node = rclpy.create_node("colcon_probe", context=context)
        received: list[object] = []
        qos = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        node.create_subscription(SegmentationInfo, topic, received.append, qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + NODE_TIMEOUT_S
        while not received and process.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return received[0] if received else None


def _stop(process: subprocess.Popen) -> str:
    """SIGINT to the whole process group (as Ctrl-C would), then SIGKILL to whatever is left of it."""
    for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the group may outlive its leader (e.g. the launched node)
    return process.stdout.read()[-4000:] if process.stdout else ""


@pytest.mark.ros
def test_colcon_installed_node_runs_from_the_sourced_workspace(workspace: Path, tmp_path: Path) -> None:
    env = _underlay_env(ROS_DOMAIN_ID=str(DOMAIN_ID), ROS_LOG_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    executable = workspace / "install" / "seg_perception" / "lib" / "seg_perception" / "segmentation_node"
    node = _run_sourced(workspace, f"{executable} --ros-args -p scenario:=parking", env=env)
    try:
        info = _latched_info(node, "/avm/segmentation_info")
    finally:
        output = _stop(node)
    assert info is not None, f"no segmentation_info from the colcon-installed node:\n{output}"
    cpu_model = load_scenario("parking").params["cpu_model_file"]  # the CPU default (weights/README.md)
    installed = workspace / "install" / "seg_perception" / "share" / "seg_perception" / "weights" / cpu_model
    assert info.model_file == str(installed)  # the workspace's install, not this venv's
    assert [c.name for c in info.classes] == ["background", "slot_line", "free_slot"]


@pytest.mark.ros
def test_colcon_installed_launch_file_starts_the_node(workspace: Path, tmp_path: Path) -> None:
    ros2 = Path(sys.prefix) / "bin" / "ros2"
    # find_spec, not import: importing launch replaces the logging setup of this test process
    # and every later caplog test would capture nothing.
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("the launch stack (launch_ros, ros2launch) is not installed in this venv")
    if not ros2.is_file():
        pytest.skip(f"{ros2} missing: ros2cli is not installed in this venv")
    # TMPDIR: launch_ros writes each node's parameters to a launch_params_* file it never deletes
    env = _underlay_env(
        ROS_DOMAIN_ID=str(DOMAIN_ID), ROS_LOG_DIR=str(tmp_path), TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1"
    )
    launched = _run_sourced(workspace, f"{ros2} launch seg_perception parking.launch.py", env=env)
    try:
        info = _latched_info(launched, "/avm/segmentation_info")
    finally:
        output = _stop(launched)
    assert info is not None, f"no segmentation_info from ros2 launch:\n{output}"
    assert info.model_file.startswith(str(workspace / "install")) and info.scenario == "parking"
