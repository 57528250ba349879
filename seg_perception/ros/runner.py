"""Process entry point shared by the node launchers: init, spin, clean exit codes.

Exit code 0 after Ctrl-C (SIGINT) or SIGTERM, 1 with one logged line for a user
error (:class:`~seg_perception.errors.SegPerceptionError`: bad parameter, missing or
wrong model file, CUDA absent under ``cuda_policy: fail``); never a traceback for
either. rclpy's signal handlers shut the context down, which ends ``spin``; the
workers then finish their current frame and are joined. From then on SIGINT is
ignored with a note: a second Ctrl-C (or the SIGINT ``ros2 launch`` forwards on
top of the terminal's) must not interrupt the cleanup halfway.

The node spins on a two-thread executor: frames arrive in the cameras' own callback
groups, so a parameter request that loads a new model (a scenario switch) does not
hold them up.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from seg_perception.errors import SegPerceptionError

EXECUTOR_THREADS = 2


def _ignore_sigint_while_stopping(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(Exception):  # stderr may be closed by then
        print("[seg_perception] already shutting down; Ctrl-C again is ignored", file=sys.stderr, flush=True)


def _stop_taking_sigint() -> None:
    """From now on SIGINT only prints a note (rclpy's handler would interrupt the cleanup)."""
    with contextlib.suppress(Exception):
        rclpy.signals.uninstall_signal_handlers()
    with contextlib.suppress(ValueError):  # not the main thread (tests): nothing to protect
        signal.signal(signal.SIGINT, _ignore_sigint_while_stopping)


def run_node(
    make_node: Callable[[], Node],
    *,
    logger_name: str,
    args: Sequence[str] | None = None,
    start: Callable[[Node], None] | None = None,
) -> int:
    """Create a node, optionally ``start`` it, spin until shutdown; return the exit code."""
    rclpy.init(args=args)
    node: Node | None = None
    executor: MultiThreadedExecutor | None = None
    code = 0
    try:
        node = make_node()
        if start is not None:
            start(node)
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
        executor.add_node(node)
        executor.spin()
    except SegPerceptionError as err:
        rclpy.logging.get_logger(logger_name).error(str(err))
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        _stop_taking_sigint()
        try:
            if executor is not None:
                executor.shutdown(timeout_sec=5.0)
            if node is not None:
                node.shutdown()  # type: ignore[attr-defined]
                node.destroy_node()
            rclpy.try_shutdown()
        except KeyboardInterrupt:  # a SIGINT that came in before the handler changed
            pass
        _stop_taking_sigint()  # rclpy.try_shutdown may have put its own handler back
    return code
