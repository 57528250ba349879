"""Reading and writing ROS 2 bags (MCAP or sqlite3) with ``rosbags``, errors made one-line.

ROS 1 bags (``.bag`` files) are read too: their messages are converted to the ROS 2 wire format
of the same type as they are read (``std_msgs/Header`` loses its ``seq``; the other types the
package reads are laid out alike in both), so every command reads them as it reads a ROS 2 bag.

Messages are (de)serialised with the ``rosbags`` type store of ROS 2 Jazzy, whose
definitions of the ``sensor_msgs``, ``std_msgs`` and ``visualization_msgs`` types used
here are the same as Humble's and Kilted's, plus this package's own messages registered
from their ``.msg`` files (:mod:`seg_perception.interfaces`), so MCAP files carry their
schemas and bags with them decode without ROS. Raw CDR bytes pass through untouched, so
bags can also carry messages serialised by rclpy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.rosbag1 import Reader as Ros1Reader
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys import Stores, get_typestore

from seg_perception import interfaces
from seg_perception.bags.errors import BagError

STORAGE_FORMATS = ("mcap", "sqlite3")
ROS1_BAG_MAGIC = b"#ROSBAG V2.0\n"
_TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
interfaces.register_types(_TYPESTORE)


def typestore() -> Any:
    """The shared ``rosbags`` type store (message classes under ``.types[msgtype]``)."""
    return _TYPESTORE


def message_class(msgtype: str) -> Any:
    """The ``rosbags`` dataclass of ``msgtype`` (e.g. ``sensor_msgs/msg/Image``)."""
    return _TYPESTORE.types[msgtype]


@dataclass(frozen=True)
class BagMessage:
    """One message read from a bag.

    Attributes:
        topic: Topic name.
        msgtype: ROS type name, ``pkg/msg/Type``.
        timestamp_ns: Receive (log) time in the bag, nanoseconds.
        rawdata: CDR bytes as stored.
    """

    topic: str
    msgtype: str
    timestamp_ns: int
    rawdata: bytes

    def decode(self) -> Any:
        """Deserialise into a ``rosbags`` message object.

        Raises:
            BagError: the bytes do not decode as ``msgtype``.
        """
        try:
            return _TYPESTORE.deserialize_cdr(self.rawdata, self.msgtype)
        except KeyError as err:
            raise BagError(f"topic {self.topic}: message type {self.msgtype} is not known") from err
        except Exception as err:  # rosbags raises assorted errors on corrupt CDR
            raise BagError(
                f"topic {self.topic}: corrupt message at t={self.timestamp_ns} ns ({err})"
            ) from err


class BagReader:
    """An opened bag: topic listing, topic selection and message iteration.

    Use as a context manager. Every failure of the underlying reader (missing,
    corrupt or truncated bag) is raised as :class:`BagError` with a one-line message.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        self.ros1 = is_ros1_bag(self.path)
        try:
            self._reader: Any = Ros1Reader(self.path) if self.ros1 else Reader(self.path)
            self._reader.open()
        except Exception as err:
            raise BagError(f"cannot open bag {self.path}: {_one_line(err)}") from err

    def __enter__(self) -> BagReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        is_open = self._reader.bio is not None if self.ros1 else self._reader.is_open
        if is_open:
            self._reader.close()

    @property
    def topics(self) -> dict[str, str]:
        """Topic name → message type, sorted by name."""
        return {conn.topic: conn.msgtype for conn in sorted(self._reader.connections, key=lambda c: c.topic)}

    @property
    def message_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for conn in self._reader.connections:
            counts[conn.topic] = counts.get(conn.topic, 0) + conn.msgcount
        return counts

    @property
    def start_time_ns(self) -> int:
        return int(self._reader.start_time)

    @property
    def duration_ns(self) -> int:
        return int(self._reader.duration) if self._reader.message_count else 0

    @property
    def custom_data(self) -> dict[str, str]:
        """Free-form key/value pairs stored in ``metadata.yaml`` (empty for bare storage files)."""
        metadata = getattr(getattr(self._reader, "storage", None), "metadata", None)
        raw = getattr(metadata, "custom", None)
        return dict(raw or {})

    def topic_listing(self) -> str:
        """``topic (type, N msgs)`` for every topic, on one line."""
        counts = self.message_counts
        items = [
            f"{topic} ({msgtype.split('/')[-1]}, {counts.get(topic, 0)})"
            for topic, msgtype in self.topics.items()
        ]
        return ", ".join(items) or "(none)"

    def require_topics(self, topics: Iterable[str], *, msgtypes: Sequence[str] = ()) -> list[str]:
        """Check that ``topics`` exist (and have one of ``msgtypes``); return them.

        Raises:
            BagError: a topic is missing (the message lists the bag's topics) or has
                another type, or the selection is empty.
        """
        selected = list(dict.fromkeys(topics))
        if not selected:
            raise BagError(f"no topics selected in {self.path}; the bag has: {self.topic_listing()}")
        available = self.topics
        for topic in selected:
            if topic not in available:
                raise BagError(f"topic {topic} is not in {self.path}; the bag has: {self.topic_listing()}")
            if msgtypes and available[topic] not in msgtypes:
                raise BagError(
                    f"topic {topic} has type {available[topic]}, expected one of {', '.join(msgtypes)}"
                )
        return selected

    def topics_of_type(self, msgtypes: Sequence[str]) -> list[str]:
        return [topic for topic, msgtype in self.topics.items() if msgtype in msgtypes]

    def messages(
        self, topics: Iterable[str] = (), *, start_ns: int | None = None, stop_ns: int | None = None
    ) -> Iterator[BagMessage]:
        """Messages of ``topics`` (all when empty) in log-time order.

        Raises:
            BagError: the storage is corrupt or truncated.
        """
        wanted = set(topics)
        connections = [c for c in self._reader.connections if not wanted or c.topic in wanted]
        if wanted and not connections:
            return
        try:
            for conn, timestamp, rawdata in self._reader.messages(connections, start=start_ns, stop=stop_ns):
                cdr = self._as_cdr(conn.topic, conn.msgtype, rawdata) if self.ros1 else bytes(rawdata)
                yield BagMessage(conn.topic, conn.msgtype, int(timestamp), cdr)
        except BagError:
            raise
        except Exception as err:
            raise BagError(f"bag {self.path} is corrupt or truncated: {_one_line(err)}") from err

    def _as_cdr(self, topic: str, msgtype: str, rawdata: bytes | memoryview) -> bytes:
        """A ROS 1 message's bytes in the ROS 2 wire format of its type."""
        if msgtype not in _TYPESTORE.fielddefs:
            raise BagError(f"topic {topic}: ROS 1 message type {msgtype} has no ROS 2 counterpart here")
        try:
            return bytes(_TYPESTORE.ros1_to_cdr(rawdata, msgtype))  # one copy, of the converted bytes
        except Exception as err:  # rosbags raises assorted errors on bytes that do not fit the type
            detail = _one_line(err)
            raise BagError(f"topic {topic}: cannot convert a ROS 1 {msgtype} message ({detail})") from err


def is_ros1_bag(path: Path) -> bool:
    """Whether ``path`` is a ROS 1 bag file (by its first bytes, whatever its name)."""
    if not path.is_file():
        return False
    with path.open("rb") as stream:
        return stream.read(len(ROS1_BAG_MAGIC)) == ROS1_BAG_MAGIC


class BagWriter:
    """Writes a new bag; topics are added on first use.

    Args:
        path: Bag directory to create.
        storage: ``mcap`` or ``sqlite3``.
        overwrite: Replace an existing bag directory at ``path`` (only one holding ``metadata.yaml``).
        custom_data: Key/value strings stored in ``metadata.yaml``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        storage: str = "mcap",
        overwrite: bool = False,
        custom_data: dict[str, str] | None = None,
    ) -> None:
        if storage not in STORAGE_FORMATS:
            raise BagError(f"unknown storage {storage!r}; choose one of {', '.join(STORAGE_FORMATS)}")
        self.path = Path(path)
        _prepare_destination(self.path, overwrite=overwrite)
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        try:
            self._writer = Writer(self.path, version=9, storage_plugin=plugin)
            for key, value in (custom_data or {}).items():
                self._writer.set_custom_data(key, value)
            self._writer.open()
        except Exception as err:
            raise BagError(f"cannot create bag {self.path}: {_one_line(err)}") from err
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic in self._connections:
            return
        try:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=_TYPESTORE)
        except Exception as err:
            raise BagError(f"cannot add topic {topic} ({msgtype}) to {self.path}: {_one_line(err)}") from err

    def write(self, topic: str, timestamp_ns: int, message: Any) -> None:
        """Serialise a ``rosbags`` message and write it."""
        self.write_raw(
            topic, message.__msgtype__, timestamp_ns, _TYPESTORE.serialize_cdr(message, message.__msgtype__)
        )

    def write_raw(self, topic: str, msgtype: str, timestamp_ns: int, rawdata: bytes | memoryview) -> None:
        """Write already serialised CDR bytes (from another bag or from rclpy)."""
        self.add_topic(topic, msgtype)
        try:
            self._writer.write(self._connections[topic], int(timestamp_ns), rawdata)
        except OSError as err:
            raise BagError(f"cannot write to bag {self.path}: {err.strerror or err}") from err

    def set_custom_data(self, key: str, value: str) -> None:
        """Set a ``metadata.yaml`` key/value pair; written when the bag is closed (also after an error)."""
        self._writer.set_custom_data(key, value)

    def close(self) -> None:
        try:
            self._writer.close()
        except OSError as err:
            raise BagError(f"cannot finish bag {self.path}: {err.strerror or err}") from err


def prepare_output_directory(path: Path) -> Path:
    """Create the output directory ``path`` (and its parents) and check that it is writable.

    Raises:
        BagError: ``path`` or one of its parents is a regular file, or the directory cannot be
            created or written (one line, naming the path and the reason).
    """
    for parent in (path, *path.parents):
        if parent.exists() and not parent.is_dir():
            raise BagError(f"cannot write to {path}: {parent} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BagError(f"cannot create directory {path}: {err.strerror or err}") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise BagError(f"cannot write to {path}: permission denied")
    return path


def _prepare_destination(path: Path, *, overwrite: bool) -> None:
    if not path.exists():
        prepare_output_directory(path.parent)
        return
    if not overwrite:
        raise BagError(f"{path} exists already; pass --overwrite to replace it")
    if not (path.is_dir() and (path / "metadata.yaml").is_file()):
        raise BagError(f"{path} exists and is not a bag directory; refusing to replace it")
    try:
        shutil.rmtree(path)
    except OSError as err:
        raise BagError(f"cannot replace {path}: {err.strerror or err}") from err


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:300]
