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
        """Store ``item``; True when it replaced an unprocessed item (a dropped frame).

        After :meth:`close` the item is discarded and True returned: it is a drop too.
        """
        with self._condition:
            if self._closed:
                return True
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

    def close(self) -> bool:
        """Wake and release every waiting ``take``; later takes return None.

        Returns:
            True when an untaken item was discarded (the caller counts it as a drop).
        """
        with self._condition:
            discarded = self._item is not None
            self._closed = True
            self._item = None
            self._condition.notify_all()
        return discarded

    @property
    def closed(self) -> bool:
        return self._closed
