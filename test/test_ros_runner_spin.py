"""``spin_until_shutdown``: a background spin that a signal's shutdown ends without a traceback."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation

from seg_perception.ros.runner import spin_until_shutdown


def _executor(error: BaseException, *, context_ok: bool) -> Any:  # an Executor for the function
    def spin() -> None:
        raise error

    return SimpleNamespace(spin=spin, context=SimpleNamespace(ok=lambda: context_ok))


def test_a_wait_set_on_a_context_a_signal_shut_down_ends_the_spin_quietly() -> None:
    # the race seen in CI: the signal handler shut the context down between two waits
    dead = rclpy_implementation.RCLError("failed to initialize wait set: the given context is not valid")
    spin_until_shutdown(_executor(dead, context_ok=False))
    spin_until_shutdown(_executor(ExternalShutdownException(), context_ok=False))


def test_an_rcl_error_on_a_live_context_is_still_an_error() -> None:
    with pytest.raises(rclpy_implementation.RCLError):
        spin_until_shutdown(_executor(rclpy_implementation.RCLError("broken"), context_ok=True))
    with pytest.raises(ValueError):
        spin_until_shutdown(_executor(ValueError("a callback's bug"), context_ok=False))
