"""The node's executor: frames inline in the spinning thread, default-group callbacks beside it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.node import Node  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from seg_perception.ros.executor import FramesInlineExecutor  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 133
WAIT_S = 10.0


@pytest.fixture
def node() -> Iterator[Node]:
    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    node = Node("executor_test", context=context)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def _spin_until(executor: FramesInlineExecutor, done: threading.Event) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done.is_set():
        assert time.monotonic() < deadline, "timed out"
        executor.spin_once(timeout_sec=0.05)


def _spin_expecting_error(executor: FramesInlineExecutor, message: str) -> None:
    try:
        with pytest.raises(RuntimeError, match=message):
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
    finally:
        executor.shutdown(timeout_sec=WAIT_S)


def test_frames_run_in_the_spinning_thread_while_a_default_group_callback_blocks(node: Node) -> None:
    executor = FramesInlineExecutor(context=node.context)
    executor.add_node(node)
    release, blocked, got_frames = threading.Event(), threading.Event(), threading.Event()
    threads: dict[str, list[threading.Thread]] = {"slow": [], "frame": []}
    frames: list[str] = []

    def slow() -> None:  # like a scenario switch loading a model inside a parameter callback
        threads["slow"].append(threading.current_thread())
        blocked.set()
        assert release.wait(WAIT_S)

    def on_frame(msg: String) -> None:
        threads["frame"].append(threading.current_thread())
        frames.append(msg.data)
        if len(frames) == 3:
            got_frames.set()

    timer = node.create_timer(0.01, slow)  # the node's default callback group
    node.create_subscription(String, "frames", on_frame, 10, callback_group=MutuallyExclusiveCallbackGroup())
    publisher = node.create_publisher(String, "frames", 10)
    try:
        _spin_until(executor, blocked)
        timer.cancel()
        for index in range(3):
            publisher.publish(String(data=str(index)))
        _spin_until(executor, got_frames)  # the timer's callback is still blocked meanwhile
        assert not release.is_set() and frames == ["0", "1", "2"]
        assert set(threads["frame"]) == {threading.current_thread()}
        assert threads["slow"] and threading.current_thread() not in threads["slow"]
    finally:
        release.set()
        assert executor.shutdown(timeout_sec=WAIT_S)


def test_an_inline_callbacks_exception_reaches_the_spinning_thread(node: Node) -> None:
    executor = FramesInlineExecutor(context=node.context)
    executor.add_node(node)

    def broken(_msg: String) -> None:
        raise RuntimeError("a bug in a frame callback")

    node.create_subscription(String, "broken", broken, 10, callback_group=MutuallyExclusiveCallbackGroup())
    node.create_publisher(String, "broken", 10).publish(String(data="x"))
    _spin_expecting_error(executor, "a bug in a frame callback")


def test_a_default_group_callbacks_exception_reaches_the_spinning_thread(node: Node) -> None:
    executor = FramesInlineExecutor(context=node.context)
    executor.add_node(node)

    def broken() -> None:
        raise RuntimeError("a bug in a timer")

    node.create_timer(0.01, broken)
    _spin_expecting_error(executor, "a bug in a timer")
