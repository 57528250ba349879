"""``seg-perception play``: publish a bag's topics over ROS 2 at the recorded timing.

Like ``ros2 bag play`` for the topics the segmentation node needs, without rosbag2:
the bag is read with ``rosbags`` and each message's CDR bytes are published as they are
(``Publisher.publish(bytes)``), so any message type whose Python package is installed
plays. Publishers are RELIABLE / VOLATILE / KEEP_LAST, which matches both
sensor-data (best-effort) and reliable subscribers. ``--clock`` publishes ``/clock``
for nodes run with ``use_sim_time:=true``.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seg_perception.bags.errors import BagError
from seg_perception.bags.storage import BagMessage, BagReader

DEFAULT_CLOCK_HZ = 40.0


def parse_remaps(items: Sequence[str]) -> dict[str, str]:
    """``old:=new`` strings → mapping.

    Raises:
        BagError: an item is not ``old:=new``.
    """
    remaps: dict[str, str] = {}
    for item in items:
        old, sep, new = item.partition(":=")
        if not sep or not old or not new:
            raise BagError(f"--remap {item!r}: expected OLD:=NEW, e.g. /camera/avm/image_raw:=/avm/image")
        remaps[old] = new
    return remaps


def message_type(msgtype: str) -> Any:
    """The rclpy message class of ``pkg/msg/Type``.

    Raises:
        BagError: the message package is not installed.
    """
    package, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as err:
        raise BagError(
            f"message type {msgtype} is not installed here (no Python package {package}.msg)"
        ) from err


class BagPlayer:
    """Publishes a bag's messages on a node at ``rate`` × the recorded speed.

    Args:
        node: rclpy node that owns the publishers.
        reader: Opened bag.
        topics: Topics to play (already validated).
        remaps: Recorded topic → published topic.
        rate: Speed factor (2.0: twice as fast).
        start_s: Skip the first ``start_s`` seconds of the bag.
        clock_hz: Publish ``/clock`` at this rate (0: no clock).
        reliability: ``reliable`` or ``best_effort``.
    """

    def __init__(
        self,
        node: Any,
        reader: BagReader,
        topics: Sequence[str],
        *,
        remaps: dict[str, str],
        rate: float = 1.0,
        start_s: float = 0.0,
        clock_hz: float = 0.0,
        reliability: str = "reliable",
        depth: int = 10,
    ) -> None:
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock

        self.node = node
        self.reader = reader
        self.topics = list(topics)
        self.rate = rate
        self.start_ns = reader.start_time_ns + int(start_s * 1e9)
        self.clock_period = 1.0 / clock_hz if clock_hz > 0 else 0.0
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
            reliability=ReliabilityPolicy.RELIABLE
            if reliability == "reliable"
            else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.VOLATILE,
        )
        bag_topics = reader.topics
        self.publishers = {
            topic: node.create_publisher(message_type(bag_topics[topic]), remaps.get(topic, topic), qos)
            for topic in self.topics
        }
        self._clock_cls = Clock
        self._clock_pub = node.create_publisher(Clock, "/clock", 10) if self.clock_period else None
        self.published = 0

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        """Wait until every publisher has a subscriber or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(pub.get_subscription_count() > 0 for pub in self.publishers.values()):
                return True
            time.sleep(0.05)
        return False

    def play_once(self, *, progress: Any = None) -> int:
        """Play the selection once; returns the number of messages published."""
        count = 0
        wall_start = time.monotonic()
        for message in self.reader.messages(self.topics, start_ns=self.start_ns):
            target = wall_start + (message.timestamp_ns - self.start_ns) / 1e9 / self.rate
            self._sleep_until(target, message, wall_start)
            self._publish_clock(message.timestamp_ns)
            self.publishers[message.topic].publish(message.rawdata)
            count += 1
            if progress is not None:
                progress.update(1)
        self.published += count
        return count

    def flush(self, timeout_s: float = 2.0) -> None:
        """Wait until reliable subscribers acknowledged everything (the last frames are not lost at exit)."""
        from rclpy.duration import Duration

        for publisher in self.publishers.values():
            publisher.wait_for_all_acked(Duration(nanoseconds=int(timeout_s * 1e9)))

    def _sleep_until(self, target: float, message: BagMessage, wall_start: float) -> None:
        while True:
            remaining = target - time.monotonic()
            if remaining <= 0:
                return
            if self._clock_pub is None:
                time.sleep(remaining)
                return
            time.sleep(min(remaining, self.clock_period))
            # bag time that corresponds to now, for /clock between messages
            elapsed_ns = int((time.monotonic() - wall_start) * self.rate * 1e9)
            self._publish_clock(min(self.start_ns + elapsed_ns, message.timestamp_ns))

    def _publish_clock(self, stamp_ns: int) -> None:
        if self._clock_pub is None:
            return
        msg = self._clock_cls()
        msg.clock.sec = int(stamp_ns // 1_000_000_000)
        msg.clock.nanosec = int(stamp_ns % 1_000_000_000)
        self._clock_pub.publish(msg)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="bag directory, .mcap or .db3 (or a ROS 1 .bag)")
    parser.add_argument("--topics", nargs="+", metavar="TOPIC", help="topics to play (default: all)")
    parser.add_argument("--rate", type=float, default=1.0, help="speed factor (default 1.0)")
    parser.add_argument("--loop", action="store_true", help="play again from the start until Ctrl-C")
    parser.add_argument("--start", type=float, default=0.0, metavar="SECONDS", help="skip the first SECONDS")
    parser.add_argument("--remap", nargs="+", default=[], metavar="OLD:=NEW", help="publish OLD on NEW")
    parser.add_argument(
        "--clock",
        nargs="?",
        type=float,
        const=DEFAULT_CLOCK_HZ,
        default=0.0,
        metavar="HZ",
        help=f"publish /clock (default {DEFAULT_CLOCK_HZ:g} Hz) for use_sim_time",
    )
    parser.add_argument(
        "--reliability",
        choices=("reliable", "best_effort"),
        default="reliable",
        help="publisher reliability (default reliable; matches sensor-data subscribers too)",
    )
    parser.add_argument(
        "--wait-for-subscribers",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for a subscriber on every topic before playing",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        raise BagError("--rate must be positive")
    if args.start < 0:
        raise BagError("--start must not be negative")
    remaps = parse_remaps(args.remap)
    with BagReader(args.bag) as reader:
        topics = reader.require_topics(args.topics) if args.topics else list(reader.topics)
        if not topics:
            raise BagError(f"{args.bag} holds no topics")
        unknown = set(remaps) - set(topics)
        if unknown:
            raise BagError(
                f"--remap of topics not played: {', '.join(sorted(unknown))}; playing: {', '.join(topics)}"
            )
        if args.start * 1e9 >= reader.duration_ns and reader.duration_ns > 0:
            raise BagError(
                f"--start {args.start:g} s is past the bag's end ({reader.duration_ns / 1e9:.2f} s)"
            )
        counts = reader.message_counts
        if not sum(counts.get(topic, 0) for topic in topics):
            raise BagError(f"{args.bag} holds no messages on {', '.join(topics)}: nothing to play")
        for topic in topics:
            message_type(reader.topics[topic])
        return _play(args, reader, topics, remaps)


def _play(args: argparse.Namespace, reader: BagReader, topics: list[str], remaps: dict[str, str]) -> int:
    import rclpy
    from rclpy.exceptions import InvalidTopicNameException
    from tqdm import tqdm

    rclpy.init()
    node = rclpy.create_node("seg_perception_bag_player")
    try:
        try:
            player = BagPlayer(
                node,
                reader,
                topics,
                remaps=remaps,
                rate=args.rate,
                start_s=args.start,
                clock_hz=args.clock,
                reliability=args.reliability,
            )
        except InvalidTopicNameException as err:
            raise BagError(f"--remap: {' '.join(str(err).split())}") from err
        if args.wait_for_subscribers > 0 and not player.wait_for_subscribers(args.wait_for_subscribers):
            node.get_logger().warning("not every topic has a subscriber; playing anyway")
        per_pass = sum(reader.message_counts.get(t, 0) for t in topics)
        while True:
            with tqdm(
                total=per_pass, unit="msg", desc="play", disable=True if args.quiet else None
            ) as progress:
                player.play_once(progress=progress)
            if not args.loop:
                break
        player.flush()
        print(f"published {player.published} messages on {len(topics)} topic(s)")
    except KeyboardInterrupt:
        print("play: interrupted")
    except Exception:
        if rclpy.ok():
            raise
        print("play: interrupted")  # SIGTERM shut the context down under a publish
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
