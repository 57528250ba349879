"""An executor spun in a background thread, and joined before anything it waits on is destroyed.

Why not ``Thread(target=executor.spin)`` and ``executor.shutdown()`` from the main thread: rclpy's
``Executor.shutdown`` (Kilted) does not wait for a wait in progress in another thread. It destroys
at once the guard condition that wakes that wait, so a spinning thread that builds its wait set just
then waits on without it, with no timeout. Whoever then destroys the nodes or the context under that
wait can crash the process: a CI run died with a segmentation fault while a test's spinning thread
sat in ``wait_set.wait``. :class:`BackgroundSpin` spins in short slices instead, so the thread sees
:meth:`BackgroundSpin.stop` within one slice even when nothing wakes it, and ``stop`` joins it; the
caller shuts the executor down and destroys the nodes afterwards, with nothing waiting on them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rclpy.executors import Executor, ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation

SPIN_SLICE_S = 0.05
"""Longest single wait: how soon the thread notices :meth:`BackgroundSpin.stop` when nothing wakes it."""
STOP_TIMEOUT_S = 10.0
"""How long :meth:`BackgroundSpin.stop` waits for a callback in progress to return."""


def ended_by_shutdown(err: BaseException, executor: Executor) -> bool:
    """Whether ``err`` is the context's shutdown rather than a failure.

    A signal's handler shuts the context down while the thread may be between two waits: the
    executor then raises ``ExternalShutdownException``, or, building its next wait set on the dead
    context, ``RCLError``. An ``RCLError`` while the context is still valid is a failure.
    """
    if isinstance(err, ExternalShutdownException):
        return True
    return isinstance(err, rclpy_implementation.RCLError) and not executor.context.ok()


class BackgroundSpin:
    """Spins ``executor`` in a daemon thread, in :data:`SPIN_SLICE_S` slices, until :meth:`stop`.

    The spinning also ends when the executor's context shuts down (a signal). Call :meth:`stop`
    before ``executor.shutdown()`` and before destroying any node the executor spins.

    Args:
        executor: the executor to spin (its nodes added before or after).
        name: the thread's name.
        on_error: called with an exception that escapes a callback (the spinning then ends); without
            it the exception ends the thread through ``threading.excepthook``. The context's shutdown
            is not an error (:func:`ended_by_shutdown`).
    """

    def __init__(
        self,
        executor: Executor,
        *,
        name: str = "spin",
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.executor = executor
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while not self._stop.is_set() and self.executor.context.ok():
                self.executor.spin_once(timeout_sec=SPIN_SLICE_S)
        except BaseException as err:
            if ended_by_shutdown(err, self.executor):
                return
            if self._on_error is None:
                raise
            self._on_error(err)

    @property
    def running(self) -> bool:
        """The thread still spins (:meth:`stop`, the context's shutdown or an error ends it)."""
        return self._thread.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """End the spinning and join the thread.

        Args:
            timeout: seconds to wait for a callback in progress to return.

        Returns:
            Whether the thread ended: only then may the executor be shut down and its nodes destroyed.
        """
        self._stop.set()
        self.executor.wake()
        self._thread.join(timeout)
        return not self._thread.is_alive()
