"""SIGINT and SIGTERM end the node process cleanly: exit code 0, no traceback, in under 2 s.

In every lifecycle state (finalized included), during a flood of frames, and for the
camera stand-in too; bad parameters and arguments end the process with one line and exit 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from test_reliability_helpers import export_threshold_model, image_msg, scene  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 107
ROOT = Path(__file__).resolve().parents[1]
READY = "cameras: front <- /camera/front/image_raw"
START_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_threshold_model(tmp_path_factory.mktemp("models"), "highway")


class NodeProcess:
    """The node in a subprocess, its stderr collected by a thread."""

    def __init__(self, module: str, *params: str) -> None:
        arguments = [sys.executable, "-m", module, "--ros-args"]
        for param in params:
            arguments += ["-p", param]
        env = {**os.environ, "ROS_DOMAIN_ID": str(DOMAIN_ID), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            arguments, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, marker: str = READY) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while marker not in self.output:
            assert self.process.poll() is None, f"node exited early:\n{self.output}"
            assert time.monotonic() < deadline, f"node not up after {START_TIMEOUT_S} s:\n{self.output}"
            time.sleep(0.05)

    def stop(self, signum: int) -> tuple[int, float]:
        start = time.monotonic()
        self.process.send_signal(signum)
        code = self.process.wait(timeout=10)
        elapsed = time.monotonic() - start
        self.reader.join(timeout=5)
        return code, elapsed


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("module", "extra"),
    [("seg_perception.ros.node", ()), ("seg_perception.ros.lifecycle_node", ("autostart:=true",))],
    ids=["node", "lifecycle"],
)
def test_signal_ends_the_node_cleanly_and_fast(
    model: Path, signum: int, module: str, extra: tuple[str, ...]
) -> None:
    node = NodeProcess(module, f"model_file:={model}", *extra)
    try:
        node.wait_ready()
        code, elapsed = node.stop(signum)
    finally:
        if node.process.poll() is None:
            node.process.kill()
    assert code == 0, node.output
    assert "Traceback" not in node.output
    assert elapsed < 2.0, f"took {elapsed:.2f} s"


def _client_context() -> Context:
    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    return context


def _change_state(context: Context, transition_id: int) -> None:
    """Call the node's ``change_state`` service (what ``ros2 lifecycle set`` does)."""
    node = rclpy.create_node("signals_client", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        client = node.create_client(ChangeState, "/segmentation_node/change_state")
        assert client.wait_for_service(timeout_sec=START_TIMEOUT_S)
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        executor.spin_until_future_complete(future, timeout_sec=START_TIMEOUT_S)
        assert future.result() is not None and future.result().success
    finally:
        executor.shutdown()
        node.destroy_node()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("state", ["unconfigured", "inactive", "finalized"])
def test_signal_ends_the_lifecycle_node_in_every_state(model: Path, signum: int, state: str) -> None:
    """Unconfigured, inactive and finalized (after the shutdown transition) as well as active (above)."""
    extra = () if state == "unconfigured" else ("autostart:=true",)
    node = NodeProcess("seg_perception.ros.lifecycle_node", f"model_file:={model}", *extra)
    context = _client_context()
    try:
        if state == "unconfigured":
            node.wait_ready("unconfigured; run 'ros2 lifecycle set")
            time.sleep(0.5)  # logged just before spinning starts: signal the spinning node
        else:
            node.wait_ready()
            transition = (
                Transition.TRANSITION_DEACTIVATE
                if state == "inactive"
                else (Transition.TRANSITION_ACTIVE_SHUTDOWN)
            )
            _change_state(context, transition)
        code, elapsed = node.stop(signum)
    finally:
        rclpy.try_shutdown(context=context)
        if node.process.poll() is None:
            node.process.kill()
    assert code == 0, node.output
    assert "Traceback" not in node.output
    assert elapsed < 2.0, f"took {elapsed:.2f} s"


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_during_a_flood_exits_0_without_a_traceback(model: Path, attempt: int) -> None:
    """Frames at full speed while SIGTERM arrives: publishing after shutdown began is no error."""
    node = NodeProcess("seg_perception.ros.node", f"model_file:={model}", "diagnostics_period_s:=0.01")
    context = _client_context()
    stop = threading.Event()
    try:
        node.wait_ready()
        client = rclpy.create_node("flood", context=context)
        publisher = client.create_publisher(Image, "/camera/front/image_raw", 10)
        frame = image_msg(scene())

        def flood() -> None:
            while not stop.is_set():
                publisher.publish(frame)

        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        time.sleep(1.0 + 0.3 * attempt)
        code, _ = node.stop(signal.SIGTERM)
        stop.set()
        thread.join(timeout=5)
    finally:
        stop.set()
        rclpy.try_shutdown(context=context)
        if node.process.poll() is None:
            node.process.kill()
    assert code == 0, node.output
    assert "Traceback" not in node.output and "RCLError" not in node.output


@pytest.mark.parametrize(
    ("module", "param", "expected"),
    [
        ("seg_perception.ros.node", "front.topic:=bad topic!", "parameter 'front.topic' = 'bad topic!'"),
        ("seg_perception.ros.lifecycle_node", "front.topic:=/a//b", "parameter 'front.topic' = '/a//b'"),
        ("seg_perception.ros.node", "qos.depth:=many", "parameter 'qos.depth'"),
    ],
    ids=["node-topic", "lifecycle-topic", "node-type"],
)
def test_bad_parameter_is_one_line_and_exit_1(model: Path, module: str, param: str, expected: str) -> None:
    extra = ("autostart:=true",) if "lifecycle" in module else ()
    node = NodeProcess(module, f"model_file:={model}", param, *extra)
    code = node.process.wait(timeout=START_TIMEOUT_S)
    node.reader.join(timeout=5)
    assert code == 1, node.output
    assert "Traceback" not in node.output
    errors = [line for line in node.output.splitlines() if line.startswith("[ERROR]")]
    assert errors and expected in errors[0], node.output


def test_malformed_ros_arguments_are_one_line_and_exit_1() -> None:
    node = NodeProcess("seg_perception.ros.node", "no_value_here")
    code = node.process.wait(timeout=START_TIMEOUT_S)
    node.reader.join(timeout=5)
    assert code == 1, node.output
    assert "Traceback" not in node.output and "[ERROR]" in node.output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_camera_stand_in_ends_cleanly_on_a_signal(signum: int) -> None:
    camera = NodeProcess(
        "seg_perception.tools.synthetic_camera", "num_frames:=4", "rate_hz:=100.0", "image_size:=[32,48]"
    )
    try:
        camera.wait_ready("streaming on")
        time.sleep(0.3)
        code, elapsed = camera.stop(signum)
    finally:
        if camera.process.poll() is None:
            camera.process.kill()
    assert code == 0, camera.output
    assert "Traceback" not in camera.output
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
