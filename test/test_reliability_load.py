"""Load: two cameras at ~200 Hz into a 50 ms engine (about 10x faster than it can process).

Memory stays bounded, the newest frame wins, every frame is accounted for exactly
and latency stays near one frame's processing time. Bounded in time and frames.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Iterator

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from test_reliability_helpers import (  # noqa: E402
    RELIABLE,
    FakeEngine,
    Harness,
    fake_factory,
    image_msg,
    scene,
    wait_for,
)

from seg_perception.ros.node import SegmentationNode  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 105
ENGINE_DELAY_S = 0.05
RATE_HZ = 200.0
DURATION_S = 3.0
FRAMES_AFTER_FLOOD = 3  # in flight + in the mailbox + one still in transit when the flood stops
HEIGHT, WIDTH = 120, 160  # 57.6 kB per frame: 1,000+ queued frames would show as tens of MB
MAX_GROWTH_BYTES = 4 * 2**20
TOPICS = {"front": "/camera/front/image_raw", "avm": "/camera/avm/image_raw"}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def harness() -> Iterator[Harness]:
    """The node under flood, traced by ``tracemalloc`` from before its threads start to after they end.

    ``tracemalloc.start()`` / ``stop()`` while other threads allocate can crash CPython before 3.12.9
    (python/cpython#128679, #131566: a thread tracing an allocation without the GIL meets ``stop``
    freeing the tables). CI ran 3.11.7 and died once with a segmentation fault in this test, which
    started and stopped tracing mid-flood. Tracing now spans the harness: started before any of its
    threads exist, stopped after :meth:`Harness.close` joined them (left on if the harness fails to
    start or stop); the test reads the growth with ``reset_peak`` instead.
    """
    tracemalloc.start()
    context = Context()
    try:
        rclpy.init(context=context, domain_id=DOMAIN_ID)
        harness = Harness(
            context,
            SegmentationNode,
            [
                Parameter("scenario", value="highway"),
                Parameter("cameras", value=["front", "avm"]),
                Parameter("qos.reliability", value="reliable"),
                Parameter("qos.depth", value=1),  # latency-minded: DDS keeps only the newest frame too
                Parameter("stale_timeout_s", value=60.0),
            ],
            engine_factory=fake_factory(FakeEngine("highway", delay_s=ENGINE_DELAY_S)),
        )
        try:
            yield harness
        finally:
            harness.close()  # joins every thread the harness started
    except BaseException:
        # tracing stays on: stopping it beside threads that may still run is the crash above
        rclpy.try_shutdown(context=context)
        raise
    rclpy.try_shutdown(context=context)
    tracemalloc.stop()


def test_flood_keeps_memory_bounded_newest_frame_wins_and_counts_every_frame(harness: Harness) -> None:
    publishers = {name: harness.publisher(Image, topic) for name, topic in TOPICS.items()}
    mask_stamps: dict[str, list] = {name: [] for name in TOPICS}
    for name in TOPICS:  # keep only stamps, so the test's own inbox does not count as node memory
        harness.client.create_subscription(
            Image, f"{name}/mask", lambda msg, n=name: mask_stamps[n].append(msg.header.stamp), RELIABLE
        )
    clock = harness.client.get_clock()
    frame = scene(HEIGHT, WIDTH)
    published = {name: 0 for name in TOPICS}
    last_stamp = {}

    def publish_for(seconds: float) -> None:
        start = time.monotonic()
        tick = start
        while time.monotonic() - start < seconds:
            for name, publisher in publishers.items():
                msg = image_msg(frame, stamp=clock.now().to_msg())
                publisher.publish(msg)
                published[name] += 1
                last_stamp[name] = msg.header.stamp
            tick += 1.0 / RATE_HZ
            time.sleep(max(0.0, tick - time.monotonic()))

    publish_for(0.5)  # warm up: buffers, DDS history, statistics windows
    rss_before = _rss_bytes()
    tracemalloc.reset_peak()
    baseline, _ = tracemalloc.get_traced_memory()
    publish_for(DURATION_S)
    workers = {worker.camera.name: worker for worker in harness.node.workers}
    processed_at_stop = {name: worker.stats.snapshot().processed for name, worker in workers.items()}
    current, peak = tracemalloc.get_traced_memory()
    rss_growth = _rss_bytes() - rss_before

    for worker in workers.values():
        wait_for(lambda w=worker: w.stats.snapshot().pending == 0, "the last frames to be processed")
    report: dict[str, object] = {
        "published": published,
        "traced_growth_kib": (current - baseline) // 1024,
        "traced_peak_kib": (peak - baseline) // 1024,
        "rss_growth_kib": rss_growth // 1024,
    }
    for name, worker in workers.items():
        snapshot = worker.stats.snapshot()
        p50_processing = snapshot.processing_ms.p50
        p95_latency = snapshot.latency_ms.p95
        report[name] = {
            "received": snapshot.received,
            "processed": snapshot.processed,
            "dropped": snapshot.dropped,
            "rejected": snapshot.rejected_total,
            "processing_ms_p50": round(p50_processing, 1),
            "latency_ms_p95": round(p95_latency, 1),
        }
        # exact accounting, and far more frames than the engine can take are dropped, not queued
        assert snapshot.received == snapshot.processed + snapshot.dropped + snapshot.rejected_total
        assert snapshot.failed == 0 and snapshot.rejected_total == 0
        assert snapshot.dropped > 2 * snapshot.processed > 0
        assert snapshot.received <= published[name]
        assert p50_processing >= ENGINE_DELAY_S * 1e3
        # no queue: once the flood stops, a camera processes at most the frame in flight, the one
        # waiting in its mailbox and one that was still in transit; a queue of N frames would
        # process N more. Counted, not timed: latency bounds (0.9 s, or ratios to the processing
        # time) flaked on slow or loaded 2-core machines, where processing alone took 0.2-0.9 s
        # under tracemalloc, while a queue of 8 frames stayed inside the looser ones
        assert snapshot.processed - processed_at_stop[name] <= FRAMES_AFTER_FLOOD, report
        # newest frame wins: the last frame published is the last one processed
        wait_for(lambda n=name: mask_stamps[n] and mask_stamps[n][-1] == last_stamp[n], f"{name} newest mask")
    print(f"load report: {report}")
    assert peak - baseline < MAX_GROWTH_BYTES, report
