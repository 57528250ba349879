"""The node's executor: camera frames in the spinning thread, slow callbacks beside it.

rclpy's ``MultiThreadedExecutor`` hands every callback to a thread pool through a task, a future
and a wake-up of the wait set. For a camera frame that costs more than the callback itself, and the
threads then contend for the interpreter lock with the camera workers: the drive demo (two cameras
at 30 Hz, 2 cores) delivered 11-15 masks a second per camera at a p50 latency of 36-46 ms, and on a
16-core machine the executor's thread spun and starved the workers (0.2-3.2 masks a second). With the
frames handled in the spinning thread the same demo delivers 29-30 masks a second at 9-14 ms
(docs/benchmarks.md, "The executor was the limit").

A ``SingleThreadedExecutor`` alone would stall the frames while a callback blocks: a scenario switch
loads and warms up its model inside the parameter callback, and a lifecycle ``configure`` loads the
engines. So the callbacks of each node's default callback group (parameters, lifecycle transitions,
services, timers) run in a small pool beside the spinning thread, and every other group's (the
camera subscriptions each have their own) run inline. The default group is mutually exclusive, so
one pool thread per node keeps each node's slow callbacks in order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rclpy.context import Context
from rclpy.executors import (
    ConditionReachedException,
    Executor,
    ShutdownException,
    TimeoutException,
)
from rclpy.task import Future, Task

BACKGROUND_THREADS = 2
"""Pool threads for default-group callbacks: one per node of a process (the node; a test's client)."""


class FramesInlineExecutor(Executor):
    """Runs callbacks of non-default callback groups inline and default-group ones in a pool.

    Args:
        background_threads: threads for the default groups' callbacks (at least one per node
            whose default-group callbacks may block while another node's must run).
        context: the rclpy context (default: the global one).
    """

    def __init__(
        self, *, background_threads: int = BACKGROUND_THREADS, context: Context | None = None
    ) -> None:
        super().__init__(context=context)
        self._pool = ThreadPoolExecutor(max(1, background_threads), thread_name_prefix="seg_executor")
        self._background: list[Task[Any]] = []

    def _in_background(self, entity: Any) -> bool:
        return entity is not None and any(
            entity.callback_group is node.default_callback_group for node in self.get_nodes()
        )

    def _spin_once_impl(
        self, timeout_sec: Any = None, wait_condition: Callable[[], bool] = lambda: False
    ) -> None:
        try:
            handler, entity, _node = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except (ShutdownException, TimeoutException, ConditionReachedException):
            return
        if self._in_background(entity):
            self._pool.submit(handler)
            self._background.append(handler)
        else:
            handler()
            handler.result()  # raises the callback's exception
        for task in [task for task in self._background if task.done()]:
            self._background.remove(task)
            task.result()  # raises the callback's exception

    def spin_once(self, timeout_sec: float | None = None) -> None:
        self._spin_once_impl(timeout_sec)

    def _spin_once_until_future_complete(self, future: Future[Any], timeout_sec: Any = None) -> None:
        self._spin_once_impl(timeout_sec, future.done)

    def spin_once_until_future_complete(self, future: Future[Any], timeout_sec: Any = None) -> None:
        future.add_done_callback(lambda _future: self.wake())
        self._spin_once_until_future_complete(future, timeout_sec)

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        """Stop executing callbacks; wait for the running ones up to ``timeout_sec``
        (then for the pool's threads, unless the wait timed out)."""
        finished = super().shutdown(timeout_sec)
        self._pool.shutdown(wait=finished)
        return finished
