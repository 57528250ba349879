"""``BackgroundSpin``: a background spin that stops, and is joined, before its executor is shut down."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor  # noqa: E402
from rclpy.impl.implementation_singleton import rclpy_implementation  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from test_reliability_helpers import wait_for  # noqa: E402

from seg_perception.ros.background_spin import BackgroundSpin  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 108
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _failing_executor(error: BaseException, *, context_ok: bool) -> Any:  # an Executor for the class
    """Its context is valid until ``spin_once`` raises ``error``; then ``context_ok`` says."""
    state = {"ok": True}

    def spin_once(timeout_sec: float | None = None) -> None:
        state["ok"] = context_ok
        raise error

    context = SimpleNamespace(ok=lambda: state["ok"])
    return SimpleNamespace(spin_once=spin_once, wake=lambda: None, context=context)


def _errors_of(executor: Any) -> list[BaseException]:
    errors: list[BaseException] = []
    spinner = BackgroundSpin(executor, on_error=errors.append)
    assert spinner.stop()
    return errors


def test_the_context_shut_down_under_the_spin_ends_it_quietly() -> None:
    # the race seen in CI: a signal's handler shut the context down between two waits
    dead = rclpy_implementation.RCLError("failed to initialize wait set: the given context is not valid")
    assert _errors_of(_failing_executor(dead, context_ok=False)) == []
    assert _errors_of(_failing_executor(ExternalShutdownException(), context_ok=False)) == []


def test_an_rcl_error_on_a_live_context_and_a_callback_bug_are_errors() -> None:
    live = rclpy_implementation.RCLError("broken")
    assert _errors_of(_failing_executor(live, context_ok=True)) == [live]
    bug = ValueError("a callback's bug")
    assert _errors_of(_failing_executor(bug, context_ok=False)) == [bug]


def test_stop_ends_a_spin_that_nothing_wakes_and_leaves_nothing_waiting(ros_context: Any) -> None:
    node = rclpy.create_node("background_spin_test", context=ros_context)
    received = threading.Event()
    node.create_subscription(String, "background_spin", lambda msg: received.set(), RELIABLE)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    spinner = BackgroundSpin(executor)
    try:
        publisher = node.create_publisher(String, "background_spin", RELIABLE)
        wait_for(lambda: publisher.get_subscription_count() > 0, "the subscription")
        publisher.publish(String(data="frame"))
        wait_for(received.is_set, "the callback, run by the spinning thread")
        # What rclpy's shutdown leaves a wait that started as it ran: no guard condition to wake it.
        executor.wake = lambda: None  # type: ignore[method-assign]
        assert spinner.stop(timeout=5.0) and not spinner.running
    finally:
        executor.shutdown()
        node.destroy_node()
