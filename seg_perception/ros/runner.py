"""Process entry point shared by the node launchers: init, spin, clean exit codes.

Exit code 0 after Ctrl-C (SIGINT) or SIGTERM, 1 with one logged line for a user
error (:class:`~seg_perception.errors.SegPerceptionError`: bad parameter, missing or
wrong model file, CUDA absent under ``cuda_policy: fail``); never a traceback for
either. rclpy's signal handlers shut the context down, which ends ``spin``; the
workers then finish their current frame and are joined.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from seg_perception.errors import SegPerceptionError


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
    try:
        node = make_node()
        if start is not None:
            start(node)
        rclpy.spin(node)
    except SegPerceptionError as err:
        rclpy.logging.get_logger(logger_name).error(str(err))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.shutdown()  # type: ignore[attr-defined]
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
