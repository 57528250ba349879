"""A one-slot mailbox: the newest frame wins, and every overwritten frame is a counted drop."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestMailbox(Generic[T]):
    """Holds at most one item; ``put`` replaces an item not yet taken.

    The subscription callback puts (never blocks beyond a short lock), the camera's
    worker thread takes, so memory stays bounded and the worker always sees the
    newest frame.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced an unprocessed item (a dropped frame)."""
        with self._condition:
            replaced = self._item is not None
            self._item = item
            self._condition.notify()
        return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` seconds; None on timeout or when closed."""
        with self._condition:
            if self._item is None and not self._closed:
                self._condition.wait(timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self) -> None:
        """Wake and release every waiting ``take``; later takes return None."""
        with self._condition:
            self._closed = True
            self._item = None
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
