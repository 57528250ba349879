"""Log-rate limits and a logger adapter for rclpy (pure Python, testable without ROS).

rclpy's own ``throttle_duration_sec`` is keyed by call site, so one noisy reason
would hide every other one; :class:`KeyedThrottle` throttles per key (a rejection
reason, an exception type) and reports how many messages it suppressed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Protocol


class _RclpyLogger(Protocol):
    def debug(self, message: str) -> Any: ...
    def info(self, message: str) -> Any: ...
    def warning(self, message: str) -> Any: ...
    def error(self, message: str) -> Any: ...


class KeyedThrottle:
    """Allows one message per key every ``period_s`` seconds (the first one at once)."""

    def __init__(self, period_s: float, *, clock: Callable[[], float] | None = None) -> None:
        self.period_s = period_s
        self._now = clock or time.monotonic
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def allow(self, key: Hashable) -> int | None:
        """None while ``key`` is throttled; otherwise how many messages were suppressed since the last."""
        now = self._now()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)


class OncePerKey:
    """True the first time a key is seen (e.g. log each kind of engine exception once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[Hashable] = set()

    def first(self, key: Hashable) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True


class PercentFormattingLogger:
    """A ``logging``-style facade over an rclpy logger.

    Library code (the inference layer) calls ``logger.warning("%s ...", value)``;
    rclpy loggers take exactly one pre-formatted string, so the arguments are applied
    here before the message reaches the node's log.
    """

    def __init__(self, logger: _RclpyLogger) -> None:
        self._logger = logger

    @staticmethod
    def _format(message: object, args: tuple[Any, ...]) -> str:
        text = str(message)
        if not args:
            return text
        try:
            return text % args
        except (TypeError, ValueError):  # malformed format: keep every piece readable
            return " ".join([text, *map(str, args)])

    def debug(self, message: object, *args: Any, **_: Any) -> None:
        self._logger.debug(self._format(message, args))

    def info(self, message: object, *args: Any, **_: Any) -> None:
        self._logger.info(self._format(message, args))

    def warning(self, message: object, *args: Any, **_: Any) -> None:
        self._logger.warning(self._format(message, args))

    warn = warning

    def error(self, message: object, *args: Any, **_: Any) -> None:
        self._logger.error(self._format(message, args))

    def exception(self, message: object, *args: Any, **_: Any) -> None:
        self._logger.error(self._format(message, args))

    def critical(self, message: object, *args: Any, **_: Any) -> None:
        self._logger.error(self._format(message, args))
