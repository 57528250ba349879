"""SIGINT and SIGTERM end the node process cleanly: exit code 0, no traceback, in under 2 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from test_reliability_helpers import export_threshold_model

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

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY not in self.output:
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
