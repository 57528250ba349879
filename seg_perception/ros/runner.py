"""Process entry point shared by the node launchers: init, spin, clean exit codes.

Exit code 0 after Ctrl-C (SIGINT) or SIGTERM, in any state (a lifecycle node that is
unconfigured, inactive, active or finalized alike), and 1 with one logged line for a
user error: :class:`~seg_perception.errors.SegPerceptionError` (bad parameter, missing
or wrong model file, CUDA absent under ``cuda_policy: fail``) and the errors rclpy
raises for bad command-line arguments, names and parameter overrides; never a
traceback for either. rclpy's signal handlers shut the context down, which ends the
spinning (checked at least every :data:`SHUTDOWN_POLL_S`); the workers then finish their
current frame and are joined. Whatever fails because the context is already shutting
down (a publish, a timer) is part of the shutdown, not an error. Only the first SIGINT
interrupts; later ones are ignored with a note, so a second Ctrl-C (or the SIGINT
``ros2 launch`` forwards on top of the terminal's) cannot break the cleanup halfway.

The node spins on :class:`~seg_perception.ros.executor.FramesInlineExecutor`: frames (the
cameras' own callback groups) are handled in the spinning thread, and the default group's
callbacks beside it, so a parameter request that loads a new model (a scenario switch) does
not hold them up.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType

import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node

from seg_perception.errors import SegPerceptionError
from seg_perception.ros.executor import FramesInlineExecutor

# What a user's arguments can make rclpy raise: bad --ros-args, names, parameter overrides.
ARGUMENT_ERRORS: tuple[type[BaseException], ...] = (
    NameValidationException,
    ParameterException,
    rclpy_implementation.RCLError,
)


def one_line(err: BaseException) -> str:
    """``err`` as a single line (rclpy's name errors add a line with a caret under the bad character)."""
    lines = str(err).splitlines()
    if isinstance(err, NameValidationException):
        lines = lines[:2]
    return " ".join(" ".join(lines).split()) or type(err).__name__


# The executor also wakes this often to check the context: rclpy's signal handler shuts the
# context down and then wakes waiting executors, and about one SIGTERM in 60 after a lifecycle
# shutdown transition left the wait asleep for good (the process never exited).
SHUTDOWN_POLL_S = 0.25
NOTE_AGAIN = "[seg_perception] already shutting down; Ctrl-C again is ignored"


class _SigintGuard:
    """SIGINT handler under rclpy's (which chains to it): the first one interrupts, later ones only note.

    rclpy shuts the context down on every SIGINT and then calls the handler it replaced; Python's
    default raises KeyboardInterrupt each time, so a second Ctrl-C during the cleanup (or the one
    ``ros2 launch`` forwards on top of the terminal's) would break it halfway (exit code -2).
    """

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            raise KeyboardInterrupt
        with contextlib.suppress(Exception):  # stderr may be closed by then
            print(NOTE_AGAIN, file=sys.stderr, flush=True)


def _install_sigint_guard() -> _SigintGuard | None:
    guard = _SigintGuard()
    try:
        signal.signal(signal.SIGINT, guard)
    except ValueError:  # not the main thread (tests): nothing to protect
        return None
    return guard


def run_node(
    make_node: Callable[[], Node],
    *,
    logger_name: str,
    args: Sequence[str] | None = None,
    start: Callable[[Node], None] | None = None,
) -> int:
    """Create a node, optionally ``start`` it, spin until shutdown; return the exit code."""
    logger = rclpy.logging.get_logger(logger_name)
    guard = _install_sigint_guard()  # before rclpy.init, so rclpy's handler chains to it
    try:
        rclpy.init(args=None if args is None else list(args))
    except ARGUMENT_ERRORS as err:
        logger.error(f"invalid arguments: {one_line(err)}")
        return 1
    node: Node | None = None
    executor: FramesInlineExecutor | None = None
    code = 0
    try:
        node = make_node()
        if start is not None:
            start(node)
        executor = FramesInlineExecutor()
        executor.add_node(node)
        while executor.context.ok():
            executor.spin_once(timeout_sec=SHUTDOWN_POLL_S)
    except SegPerceptionError as err:
        if rclpy.ok():  # else a signal during start-up: not the user's error
            logger.error(str(err))
            code = 1
    except ARGUMENT_ERRORS as err:
        if rclpy.ok():
            logger.error(one_line(err))
            code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise  # a bug: keep its traceback
        # raised because the context shut down under it (e.g. a publish during SIGTERM)
    finally:
        if guard is not None:  # stopping now, whatever the cause: no SIGINT interrupts the cleanup
            guard.count = max(guard.count, 1)
        try:
            if executor is not None:
                executor.shutdown(timeout_sec=5.0)
            if node is not None:
                node.shutdown()  # type: ignore[attr-defined]
                node.destroy_node()
            rclpy.try_shutdown()
        except KeyboardInterrupt:  # only if SIGINT came before the guard was installed
            pass
        # Interpreter exit puts SIGINT's default action back (killed: exit code -2) unless it is
        # ignored; the node is gone, so one arriving now has nothing left to stop.
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code
