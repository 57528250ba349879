"""camera_engines: one engine shared by a node's cameras (calls serialised) or one per camera (parallel)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from test_reliability_helpers import FakeEngine, Harness, image_msg, scene, wait_for  # noqa: E402

from seg_perception.config import load_scenario  # noqa: E402
from seg_perception.inference.options import EngineOptions, available_cpus  # noqa: E402
from seg_perception.ros.node import SegmentationNode  # noqa: E402
from seg_perception.ros.parameters import NodeSettings  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 109
DELAY_S = 0.3
TOPICS = {"front": "/camera/front/image_raw", "avm": "/camera/avm/image_raw"}
options: list[EngineOptions] = []  # what each engine of the latest harness was created with


@pytest.fixture
def make_harness() -> Iterator[Callable[[str], tuple[Harness, list[FakeEngine]]]]:
    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    harnesses: list[Harness] = []
    options.clear()

    def make(camera_engines: str, *extra: Parameter) -> tuple[Harness, list[FakeEngine]]:
        engines: list[FakeEngine] = []

        def factory(settings: NodeSettings, logger: object) -> FakeEngine:
            engines.append(FakeEngine("highway", delay_s=DELAY_S))
            options.append(settings.engine_options())
            return engines[-1]

        harness = Harness(
            context,
            SegmentationNode,
            [
                Parameter("scenario", value="highway"),
                Parameter("cameras", value=list(TOPICS)),
                Parameter("camera_engines", value=camera_engines),
                Parameter("qos.reliability", value="reliable"),
                Parameter("stale_timeout_s", value=60.0),
                *extra,
            ],
            engine_factory=factory,
        )
        harnesses.append(harness)
        return harness, engines

    yield make
    for harness in harnesses:
        harness.close()
    rclpy.try_shutdown(context=context)


def _one_frame_per_camera(harness: Harness) -> dict[str, list]:
    masks = {name: harness.subscribe(Image, f"{name}/mask") for name in TOPICS}
    publishers = {name: harness.publisher(Image, topic) for name, topic in TOPICS.items()}
    for name in TOPICS:
        wait_for(lambda n=name: harness.node.count_subscribers(f"{n}/mask") > 0, f"{name} mask subscription")
    for publisher in publishers.values():
        publisher.publish(image_msg(scene()))
    for name in TOPICS:
        wait_for(lambda n=name: masks[n], f"{name} mask", timeout=10.0)
    return masks


def _overlap_s(first: tuple[float, float], second: tuple[float, float]) -> float:
    return min(first[1], second[1]) - max(first[0], second[0])


def test_per_camera_engines_run_the_cameras_in_parallel(make_harness) -> None:
    harness, engines = make_harness("per_camera")
    assert len(engines) == 2
    workers = {worker.camera.name: worker for worker in harness.node.workers}
    assert workers["front"].pipeline.engine is not workers["avm"].pipeline.engine
    # Each engine is warmed up for its own camera's configured size (highway has none for avm).
    assert engines[0].warmed_frame_sizes == [load_scenario("highway").image_size("front")]
    assert engines[1].warmed_frame_sizes == []
    _one_frame_per_camera(harness)
    (front_call,), (avm_call,) = engines[0].intervals, engines[1].intervals
    assert _overlap_s(front_call, avm_call) > DELAY_S / 2  # both inferences ran at the same time
    harness.node.shutdown()
    assert all(engine.closed for engine in engines)


def test_shared_engine_serialises_the_cameras(make_harness) -> None:
    harness, engines = make_harness("shared")
    assert len(engines) == 1
    _one_frame_per_camera(harness)
    first, second = sorted(engines[0].intervals)
    assert _overlap_s(first, second) <= 0.0  # one call at a time


def test_engines_inferring_side_by_side_split_the_cpu_cores_by_default(make_harness) -> None:
    make_harness("per_camera")
    # two engines inferring side by side: half the cores each (at least one thread)
    assert [o.intra_op_threads for o in options] == [max(1, available_cpus() // 2)] * 2


def test_one_shared_engine_gets_every_core_by_default(make_harness) -> None:
    make_harness("shared")  # both cameras run the same model: one engine, one call at a time
    assert [o.intra_op_threads for o in options] == [available_cpus()]


def test_inference_threads_parameter_overrides_the_split(make_harness) -> None:
    make_harness("shared", Parameter("inference_threads", value=3))
    assert [o.intra_op_threads for o in options] == [3]
