"""The segmentation node over real rclpy and DDS: outputs, rejection, diagnostics, parameters, exit codes.

A tiny hand-weighted ONNX model (``tiny_onnx_model`` kind ``bright_green``) stands in for the
shipped weights: bright pixels → class 1, green pixels → class 2 (parking), everything else background.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import (  # noqa: E402
    Parameter,
    parameter_dict_from_yaml_file,
    parameter_value_to_python,
)
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image, PointCloud2  # noqa: E402
from std_msgs.msg import Float32, Header  # noqa: E402
from test_reliability_helpers import wait_for  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from seg_perception.config import share_dir  # noqa: E402
from seg_perception.msg import (  # noqa: E402
    LaneBoundary,
    LaneBoundaryArray,
    ParkingSlot,
    ParkingSlotArray,
    SegmentationInfo,
)
from seg_perception.ros.background_spin import BackgroundSpin  # noqa: E402
from seg_perception.ros.errors import NodeParameterError  # noqa: E402
from seg_perception.ros.frame_messages import FrameMessages  # noqa: E402
from seg_perception.ros.node import SegmentationNode, main  # noqa: E402
from seg_perception.ros.parameters import unused_parameter_overrides  # noqa: E402
from seg_perception.ros.polygon_cloud import SLOT_CLASS_ID, cloud_to_points  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 101  # unique per test module: no cross-talk with other DDS tests
HEIGHT, WIDTH = 120, 160
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


@pytest.fixture(scope="module")
def models(tiny_onnx_model: Callable[..., Path]) -> dict[str, Path]:
    return {
        scenario: tiny_onnx_model(scenario, kind="bright_green", input_size=(HEIGHT, WIDTH))
        for scenario in ("highway", "parking")
    }


class Harness:
    """The node under test, a client node and an executor spinning both in a thread."""

    def __init__(self, context: Context, overrides: list[Parameter]) -> None:
        self.node = SegmentationNode(context=context, parameter_overrides=overrides)
        self.client = Node("test_client", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self.spinner = BackgroundSpin(self.executor)
        self.received: dict[str, list] = {}
        self._lock = threading.Lock()

    def subscribe(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE) -> list:
        self.received[topic] = inbox = []

        def store(msg: object) -> None:
            with self._lock:
                inbox.append(msg)

        self.client.create_subscription(msg_type, topic, store, qos)
        return inbox

    def publisher(self, msg_type: type, topic: str):
        publisher = self.client.create_publisher(msg_type, topic, RELIABLE)
        wait_for(lambda: publisher.get_subscription_count() > 0, "the node's subscription")
        return publisher

    def close(self) -> None:
        assert self.spinner.stop(), "the executor's thread did not stop"
        self.executor.shutdown()
        self.node.shutdown()
        self.node.destroy_node()
        self.client.destroy_node()


def scene(*, green: bool = False) -> np.ndarray:
    """Dark BGR frame with two bright lane stripes (and a green slot)."""
    image = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
    image[10:110, 20:30] = 255
    image[10:110, 120:130] = 255
    if green:
        image[40:80, 50:100] = (0, 255, 0)
    return image


def image_msg(image: np.ndarray, *, stamp_sec: int, encoding: str = "bgr8", pad: int = 0) -> Image:
    rows = image.reshape(image.shape[0], -1)
    if pad:
        rows = np.hstack([rows, np.zeros((rows.shape[0], pad), np.uint8)])
    msg = Image(height=image.shape[0], width=image.shape[1], encoding=encoding, step=rows.shape[1])
    msg.header = Header(frame_id="base_link")
    msg.header.stamp.sec = stamp_sec
    msg.data = rows.tobytes()
    return msg


@pytest.fixture
def highway(ros_context: Context, models: dict[str, Path]) -> Iterator[Harness]:
    harness = Harness(
        ros_context,
        [
            Parameter("scenario", value="highway"),
            Parameter("model_file", value=str(models["highway"])),
            Parameter("qos.reliability", value="reliable"),
            Parameter("diagnostics_period_s", value=0.2),
            Parameter("stale_timeout_s", value=30.0),
            Parameter("polygon.min_area_px", value=20.0),
            Parameter("visualization_rate_hz", value=0.0),  # overlay and markers for every frame
        ],
    )
    yield harness
    harness.close()


def test_outputs_are_stamped_sized_and_overlay_only_when_subscribed(highway: Harness) -> None:
    masks = highway.subscribe(Image, "front/mask")
    markers = highway.subscribe(MarkerArray, "front/markers")
    lanes = highway.subscribe(LaneBoundaryArray, "front/lanes")
    times = highway.subscribe(Float32, "front/processing_time_ms")
    publisher = highway.publisher(Image, "/camera/front/image_raw")
    worker = highway.node.workers[0]
    assert worker.polygons_pub is None  # the PointCloud2 is opt-in
    matched = (worker.mask_pub, worker.markers_pub, worker.lanes_pub, worker.time_pub)
    wait_for(lambda: all(pub.get_subscription_count() > 0 for pub in matched), "output subscriptions")
    publisher.publish(image_msg(scene(), stamp_sec=11))
    wait_for(lambda: masks and markers and lanes and times, "mask, markers, lanes and processing time")
    assert highway.node.workers[0].overlay_pub.get_subscription_count() == 0

    mask_msg = masks[0]
    assert (mask_msg.encoding, mask_msg.height, mask_msg.width) == ("mono8", HEIGHT, WIDTH)
    assert mask_msg.header.stamp.sec == 11 and mask_msg.header.frame_id == "base_link"
    mask = np.frombuffer(mask_msg.data, np.uint8).reshape(HEIGHT, WIDTH)
    assert mask[50, 25] == 1 and mask[50, 70] == 0

    marker_list = markers[0].markers
    assert marker_list[0].action == Marker.DELETEALL
    strips = marker_list[1:]
    assert len(strips) == 2
    for strip in strips:
        assert strip.type == Marker.LINE_STRIP and strip.ns == "front/lane_marking"
        assert strip.header.stamp.sec == 11
        assert (strip.points[0].x, strip.points[0].y) == (strip.points[-1].x, strip.points[-1].y)
    assert len({strip.id for strip in strips}) == 2

    lane_array = lanes[0]
    assert lane_array.header.stamp.sec == 11 and lane_array.header.frame_id == "base_link"
    assert (lane_array.image_width, lane_array.image_height) == (WIDTH, HEIGHT)
    assert not lane_array.metric and not lane_array.ego_lane_valid  # no homography: pixels only
    assert times[0].data > 0

    overlays = highway.subscribe(Image, "front/overlay")
    wait_for(lambda: highway.node.workers[0].overlay_pub.get_subscription_count() > 0, "overlay subscription")
    publisher.publish(image_msg(scene(), stamp_sec=12))
    wait_for(lambda: overlays, "overlay")
    assert overlays[0].encoding == "bgr8" and overlays[0].header.stamp.sec == 12
    overlay = np.frombuffer(overlays[0].data, np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert not np.array_equal(overlay[50, 25], scene()[50, 25])  # lane pixel tinted
    assert np.array_equal(overlay[50, 70], scene()[50, 70])  # background untouched


def road() -> np.ndarray:
    """Dark BGR frame with two lane lines converging ahead (as a front camera sees them: towards a
    vanishing point just above the image centre, where a forward camera's horizon lies)."""
    image = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
    cv2.line(image, (20, HEIGHT - 1), (72, 62), (255, 255, 255), 4)
    cv2.line(image, (WIDTH - 20, HEIGHT - 1), (88, 62), (255, 255, 255), 4)
    return image


def test_lane_boundaries_are_published_as_typed_messages(highway: Harness) -> None:
    lanes = highway.subscribe(LaneBoundaryArray, "front/lanes")
    publisher = highway.publisher(Image, "/camera/front/image_raw")
    worker = highway.node.workers[0]
    wait_for(lambda: worker.lanes_pub.get_subscription_count() > 0, "lanes subscription")
    publisher.publish(image_msg(road(), stamp_sec=13))
    wait_for(lambda: lanes, "lanes")
    array = lanes[0]
    assert array.header.stamp.sec == 13 and not array.metric  # no calibration: image space
    by_position = {b.position: b for b in array.boundaries}
    assert set(by_position) == {LaneBoundary.POSITION_EGO_LEFT, LaneBoundary.POSITION_EGO_RIGHT}
    left, right = by_position[LaneBoundary.POSITION_EGO_LEFT], by_position[LaneBoundary.POSITION_EGO_RIGHT]
    assert left.id != right.id and left.type == LaneBoundary.TYPE_SOLID
    assert len(left.points) == 0 and not left.has_curve and left.has_image_curve
    assert left.pixels[0].y > left.pixels[-1].y  # near (image bottom) first
    assert left.pixels[0].x < 40 < 120 < right.pixels[0].x  # the lines where they were drawn
    u_bottom = sum(c * left.pixels[0].y ** k for k, c in enumerate(left.image_curve_coefficients))
    assert u_bottom == pytest.approx(left.pixels[0].x, abs=3.0)


def test_a_camera_info_topic_calibrates_the_camera_and_an_uncalibrated_drivers_is_refused(
    ros_context: Context, models: dict[str, Path]
) -> None:
    """A camera driver without a calibration publishes CameraInfo with a zero K: the node warns and
    stays uncalibrated (it died of a singular matrix in the callback before); the first usable
    message, a fisheye calibration here, puts the lanes in metres."""
    from sensor_msgs.msg import CameraInfo

    harness = Harness(
        ros_context,
        [
            Parameter("scenario", value="highway"),
            Parameter("model_file", value=str(models["highway"])),
            Parameter("qos.reliability", value="reliable"),
            Parameter("front.camera_info_topic", value="/camera/front/camera_info"),
            Parameter("front.mounting", value=[1.4, 3.0]),
        ],
    )
    try:
        lanes = harness.subscribe(LaneBoundaryArray, "front/lanes")
        info = harness.publisher(CameraInfo, "/camera/front/camera_info")
        images = harness.publisher(Image, "/camera/front/image_raw")
        worker = harness.node.workers[0]
        wait_for(lambda: worker.lanes_pub.get_subscription_count() > 0, "lanes subscription")
        info.publish(CameraInfo(width=WIDTH, height=HEIGHT))  # an uncalibrated driver's
        time.sleep(0.5)
        images.publish(image_msg(road(), stamp_sec=21))
        wait_for(lambda: lanes, "lanes")
        assert not lanes[-1].metric and worker.projection.homography is None
        k = [100.0, 0.0, WIDTH / 2, 0.0, 100.0, HEIGHT / 2, 0.0, 0.0, 1.0]
        info.publish(
            CameraInfo(
                width=WIDTH, height=HEIGHT, k=k, d=[0.02, 0.0, 0.0, 0.0], distortion_model="equidistant"
            )
        )
        wait_for(lambda: worker.projection.camera_model is not None, "calibration from the CameraInfo")
        assert worker.projection.camera_model.distortion_model == "equidistant"
        images.publish(image_msg(road(), stamp_sec=22))
        wait_for(lambda: lanes[-1].header.stamp.sec == 22, "lanes of the second frame")
        assert lanes[-1].metric
    finally:
        harness.close()


def test_markers_and_polygons_are_built_only_for_subscribers(
    highway: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []

    def counted(name: str) -> Callable[..., object]:
        original = getattr(FrameMessages, name)

        def build(self: FrameMessages, *args: object) -> object:
            built.append(name)
            return original(self, *args)

        return build

    for name in ("markers", "lanes", "slots"):
        monkeypatch.setattr(FrameMessages, name, counted(name))
    masks = highway.subscribe(Image, "front/mask")
    publisher = highway.publisher(Image, "/camera/front/image_raw")
    worker = highway.node.workers[0]
    wait_for(lambda: worker.mask_pub.get_subscription_count() > 0, "mask subscription")
    publisher.publish(image_msg(scene(), stamp_sec=21))
    wait_for(lambda: masks, "mask")
    assert built == []  # nobody listens: nothing built
    markers = highway.subscribe(MarkerArray, "front/markers")
    wait_for(lambda: worker.markers_pub.get_subscription_count() > 0, "markers subscription")
    publisher.publish(image_msg(scene(), stamp_sec=22))
    wait_for(lambda: markers, "markers")
    assert built and set(built) == {"markers"}  # markers only: nobody listens to lanes yet
    before_lanes = len(built)
    lanes = highway.subscribe(LaneBoundaryArray, "front/lanes")
    wait_for(lambda: worker.lanes_pub.get_subscription_count() > 0, "lanes subscription")
    publisher.publish(image_msg(scene(), stamp_sec=23))
    wait_for(lambda: lanes, "lanes")
    # how many frames a busy machine lets through is not the point: what is built, and from when
    assert "lanes" in built[before_lanes:] and "lanes" not in built[:before_lanes]
    assert "slots" not in built  # a highway camera has no slots


def test_polygons_are_traced_only_on_frames_that_draw_them(
    highway: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = highway.node.workers[0]
    postprocess = worker.pipeline.postprocess
    traced: list[bool] = []
    results: list[object] = []

    def recording_postprocess(segmentation: object, *, polygons: bool = True) -> object:
        traced.append(polygons)
        results.append(postprocess(segmentation, polygons=polygons))
        return results[-1]

    monkeypatch.setattr(worker.pipeline, "postprocess", recording_postprocess)
    highway.subscribe(Image, "front/mask")  # the mask publisher has a subscriber, as in use
    publisher = highway.publisher(Image, "/camera/front/image_raw")
    wait_for(lambda: worker.mask_pub.get_subscription_count() > 0, "mask subscription")
    publisher.publish(image_msg(scene(), stamp_sec=31))
    wait_for(lambda: results, "post-processing")
    assert traced == [False] and results[0].polygons == []  # nothing draws them: not traced
    markers = highway.subscribe(MarkerArray, "front/markers")
    wait_for(lambda: worker.markers_pub.get_subscription_count() > 0, "markers subscription")
    publisher.publish(image_msg(scene(), stamp_sec=32))
    wait_for(lambda: markers, "markers")
    assert traced[-1] is True and results[-1].polygons  # the markers draw the lane regions
    assert any(marker.type == Marker.LINE_STRIP for marker in markers[-1].markers)


def test_overlay_and_markers_at_most_visualization_rate_hz_mask_and_lanes_every_frame(
    highway: Harness,
) -> None:
    masks = highway.subscribe(Image, "front/mask")
    lanes = highway.subscribe(LaneBoundaryArray, "front/lanes")
    markers = highway.subscribe(MarkerArray, "front/markers")
    overlays = highway.subscribe(Image, "front/overlay")
    times = highway.subscribe(Float32, "front/processing_time_ms")
    worker = highway.node.workers[0]
    matched = (worker.mask_pub, worker.lanes_pub, worker.markers_pub, worker.overlay_pub, worker.time_pub)
    wait_for(lambda: all(pub.get_subscription_count() > 0 for pub in matched), "output subscriptions")
    highway.node.set_parameters([Parameter("visualization_rate_hz", value=0.2)])  # one per 5 s
    publisher = highway.publisher(Image, "/camera/front/image_raw")
    for stamp in (31, 32, 33):
        publisher.publish(image_msg(scene(), stamp_sec=stamp))
        wait_for(lambda n=stamp - 30: len(times) >= n, "frame processed")
    wait_for(lambda: len(masks) == 3 and len(lanes) == 3 and markers and overlays, "outputs")
    assert (len(markers), len(overlays)) == (1, 1)  # the first frame's; the next two within 5 s
    assert markers[0].markers[-1].header.stamp.sec == 31 and overlays[0].header.stamp.sec == 31
    highway.node.set_parameters([Parameter("visualization_rate_hz", value=0.0)])  # every frame again
    publisher.publish(image_msg(scene(), stamp_sec=34))
    wait_for(lambda: len(markers) == 2 and len(overlays) == 2, "overlay and markers of the next frame")
    assert overlays[1].header.stamp.sec == 34


def test_mask_goes_out_before_the_post_processing(highway: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    masks = highway.subscribe(Image, "front/mask")
    lanes = highway.subscribe(LaneBoundaryArray, "front/lanes")
    worker = highway.node.workers[0]
    wait_for(lambda: worker.mask_pub.get_subscription_count() > 0, "mask subscription")
    wait_for(lambda: worker.lanes_pub.get_subscription_count() > 0, "lanes subscription")
    postprocess = worker.pipeline.postprocess
    mask_received_before: list[bool] = []

    def waiting_postprocess(segmentation: object, **options: bool) -> object:
        # the mask must reach a subscriber while post-processing has not finished
        deadline = time.monotonic() + 5.0
        while not masks and time.monotonic() < deadline:
            time.sleep(0.01)
        mask_received_before.append(bool(masks))
        return postprocess(segmentation, **options)

    monkeypatch.setattr(worker.pipeline, "postprocess", waiting_postprocess)
    highway.publisher(Image, "/camera/front/image_raw").publish(image_msg(scene(), stamp_sec=41))
    wait_for(lambda: lanes, "lanes")
    assert mask_received_before == [True]


def test_a_subscriber_count_failing_as_the_context_shuts_down_skips_the_frame_quietly(
    highway: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SIGTERM during a flood: the worker thread asked for the overlay's subscribers on a dead context
    from rclpy.impl.implementation_singleton import rclpy_implementation

    worker = highway.node.workers[0]

    def dead_context() -> int:
        raise rclpy_implementation.RCLError(
            "failed to get subscription count: publisher's context is invalid"
        )

    monkeypatch.setattr(worker.overlay_pub, "get_subscription_count", dead_context)
    before = worker.stats.snapshot()
    worker.process(image_msg(scene(), stamp_sec=51))  # raises nothing
    after = worker.stats.snapshot()
    assert after.publish_errors == before.publish_errors + 1
    assert after.processed == before.processed


def test_segmentation_info_is_latched_with_the_class_map(highway: Harness) -> None:
    infos = highway.subscribe(SegmentationInfo, "front/segmentation_info", LATCHED)  # after it was published
    wait_for(lambda: infos, "latched segmentation info")
    info = infos[0]
    assert (info.camera, info.scenario, info.engine) == ("front", "highway", "onnxruntime")
    assert info.model_file.endswith("highway.onnx") and "CPUExecutionProvider" in info.providers
    assert [(c.id, c.name) for c in info.classes] == [(0, "background"), (1, "lane_marking")]
    assert (info.input_height, info.input_width) == (HEIGHT, WIDTH)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda m: setattr(m, "encoding", "yuv999"), "unknown_encoding"),
        (lambda m: setattr(m, "step", 10), "bad_step"),
        (lambda m: setattr(m, "data", bytes(100)), "truncated"),
    ],
)
def test_bad_frame_is_rejected_and_counted_then_next_frame_processed(
    highway: Harness, bad: Callable[[Image], None], reason: str
) -> None:
    masks = highway.subscribe(Image, "front/mask")
    publisher = highway.publisher(Image, "/camera/front/image_raw")
    wait_for(lambda: highway.node.count_subscribers("front/mask") > 0, "mask subscription")
    broken = image_msg(scene(), stamp_sec=20)
    bad(broken)
    publisher.publish(broken)
    stats = highway.node.workers[0].stats
    wait_for(lambda: stats.snapshot().rejected.get(reason) == 1, f"rejection {reason}")
    publisher.publish(image_msg(scene(), stamp_sec=21, pad=8))  # padded rows are fine
    wait_for(lambda: masks and stats.snapshot().processed == 1, "the next good frame")
    assert [m.header.stamp.sec for m in masks] == [21]
    snapshot = stats.snapshot()
    assert snapshot.processed == 1 and snapshot.rejected_total == 1


def test_diagnostics_report_fps_counters_and_providers(highway: Harness) -> None:
    diagnostics = highway.subscribe(DiagnosticArray, "/diagnostics")
    publisher = highway.publisher(Image, "/camera/front/image_raw")
    now = int(time.time())  # stamps on the node's clock: latency is measured, no clock_mismatch
    for _ in range(5):
        publisher.publish(image_msg(scene(), stamp_sec=now))
        time.sleep(0.05)
    bad = image_msg(scene(), stamp_sec=now, encoding="yuv999")
    publisher.publish(bad)
    stats = highway.node.workers[0].stats
    wait_for(
        lambda: (
            stats.snapshot().processed + stats.snapshot().dropped >= 5 and stats.snapshot().rejected_total
        ),
        "frames processed",
    )
    count = len(diagnostics)
    wait_for(lambda: len(diagnostics) > count + 1, "a fresh diagnostics message")
    status = diagnostics[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert status.name.endswith(": front") and status.level == b"\x00"
    assert "CPUExecutionProvider" in values["providers"]
    assert values["model_file"].endswith("highway.onnx") and values["engine"] == "onnxruntime"
    assert int(values["frames_processed"]) + int(values["frames_dropped"]) == 5
    assert values["rejected.unknown_encoding"] == "1" and values["frames_rejected"] == "1"
    assert float(values["fps"]) > 0
    assert float(values["processing_ms_p95"]) >= float(values["processing_ms_p50"]) > 0
    for key in ("latency_ms_p50", "latency_ms_max", "stage_ms.conversion", "stage_ms.publish", "stale"):
        assert key in values
    assert values["clock_mismatch"] == "0" and 0 <= float(values["latency_ms_max"]) < 5000
    # what the lane stage found (a highway camera has no slot stage)
    assert values["lanes.ego_lane"] in ("true", "false") and int(values["lanes.boundaries"]) >= 0
    assert float(values["lanes.seconds_without_ego_lane"]) >= 0 and "slots.count" not in values


def test_parking_compressed_markers_in_metres(
    ros_context: Context, models: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    harness = Harness(
        ros_context,
        [
            Parameter("scenario", value="parking"),
            Parameter("model_file", value=str(models["parking"])),
            Parameter("qos.reliability", value="reliable"),
            Parameter("avm.transport", value="compressed"),
            Parameter("avm.topic", value="/camera/avm/image_raw/compressed"),
            Parameter("avm.origin_px", value=[80.0, 60.0]),
            Parameter("avm.frame_id", value="vehicle"),
            Parameter("polygon.min_area_px", value=20.0),
            Parameter("publish_polygon_cloud", value=True),
        ],
    )
    try:
        markers = harness.subscribe(MarkerArray, "avm/markers")
        clouds = harness.subscribe(PointCloud2, "avm/polygons")
        slot_arrays = harness.subscribe(ParkingSlotArray, "avm/slots")
        publisher = harness.publisher(CompressedImage, "/camera/avm/image_raw/compressed")
        worker = harness.node.workers[0]
        outputs = (worker.markers_pub, worker.polygons_pub, worker.slots_pub)
        wait_for(
            lambda: all(pub.get_subscription_count() > 0 for pub in outputs),
            "markers and polygons subscriptions",
        )
        garbage = CompressedImage(format="jpeg", data=b"not a jpeg at all")
        publisher.publish(garbage)
        stats = harness.node.workers[0].stats
        wait_for(lambda: stats.snapshot().rejected.get("undecodable") == 1, "rejection of garbage JPEG")
        ok, png = cv2.imencode(".png", scene(green=True))
        assert ok
        msg = CompressedImage(format="png", data=png.tobytes())
        msg.header.stamp.sec = 50
        publisher.publish(msg)
        wait_for(lambda: markers and clouds and slot_arrays, "parking markers, polygons and slots")
        namespaces = {m.ns for m in markers[0].markers[1:]}
        assert "avm/slot_line" in namespaces
        assert all(m.header.frame_id == "vehicle" for m in markers[0].markers)
        points = cloud_to_points(clouds[0])
        lines = points[points["class_id"] == 1]
        assert np.isfinite(lines["x"]).all()
        # metres: x = (v0 - v) * 0.02, y = (u0 - u) * 0.02 with origin (80, 60)
        np.testing.assert_allclose(lines["x"], (60 - lines["v"]) * 0.02, atol=1e-5)
        np.testing.assert_allclose(lines["y"], (80 - lines["u"]) * 0.02, atol=1e-5)
        slots = points[points["class_id"] == SLOT_CLASS_ID]
        assert set(np.unique(slots["free"])) <= {0, 1}
        typed = slot_arrays[0]
        assert typed.metric and typed.header.frame_id == "vehicle" and typed.header.stamp.sec == 50
        assert len(typed.slots) == len(np.unique(slots["instance_id"])) >= 1
        slot = typed.slots[0]
        assert slot.occupancy == ParkingSlot.OCCUPANCY_FREE
        for corner, pixel in zip(slot.corners, slot.corner_pixels, strict=True):
            expected = ((60 - pixel.y) * 0.02, (80 - pixel.x) * 0.02)
            assert (corner.x, corner.y) == pytest.approx(expected, abs=1e-5)
        assert slot.width > 0 and slot.depth > 0
        # the frames are not the 640x640 the camera's scale was set for: said once, and used as set
        notes = capfd.readouterr().err.count(f"frames are {WIDTH}x{HEIGHT} but its ground geometry")
        assert notes == 1
        received = stats.snapshot().processed
        publisher.publish(msg)
        wait_for(lambda: stats.snapshot().processed > received, "a second frame of the same size")
        assert "ground geometry" not in capfd.readouterr().err
    finally:
        harness.close()


@pytest.mark.parametrize(("image_size", "warned"), [(None, True), ([HEIGHT, WIDTH], False), ([0, 0], False)])
def test_avm_image_size_says_which_frames_its_scale_is_for(
    ros_context: Context,
    models: dict[str, Path],
    capfd: pytest.CaptureFixture[str],
    image_size: list[int] | None,
    warned: bool,
) -> None:
    """The frames are HEIGHT x WIDTH; the parking scale is for 640x640 unless avm.image_size says."""
    overrides = [
        Parameter("scenario", value="parking"),
        Parameter("model_file", value=str(models["parking"])),
        Parameter("qos.reliability", value="reliable"),
    ]
    if image_size is not None:
        overrides.append(Parameter("avm.image_size", value=image_size))
    harness = Harness(ros_context, overrides)
    try:
        worker = harness.node.workers[0]
        assert harness.node.core.settings.cameras[0].image_size == (
            (640, 640) if image_size is None else (tuple(image_size) if min(image_size) else None)
        )
        publisher = harness.publisher(Image, "/camera/avm/image_raw")
        capfd.readouterr()
        publisher.publish(image_msg(scene(green=True), stamp_sec=5))
        wait_for(lambda: worker.stats.snapshot().processed == 1, "the frame to be processed")
        assert ("but its ground geometry" in capfd.readouterr().err) == warned
    finally:
        harness.close()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([Parameter("engine", value="tensorflow")], ["'engine'", "tensorflow", "onnxruntime, torch"]),
        ([Parameter("overlay_alpha", value=1.5)], ["'overlay_alpha'", "1.5", "[0.0, 1.0]"]),
        ([Parameter("device", value="gpu")], ["'device'", "gpu", "cuda"]),
        ([Parameter("front.transport", value="h264")], ["'front.transport'", "h264", "raw, compressed"]),
        ([Parameter("front.ground_homography", value=[1.0, 2.0])], ["'front.ground_homography'", "9"]),
        ([Parameter("front.image_size", value=[480])], ["'front.image_size'", "[480]", "[height, width]"]),
        ([Parameter("front.image_size", value=[480, 0])], ["'front.image_size'", "[480, 0]", "[0, 0]"]),
        ([Parameter("scenario", value="moon")], ["'scenario'", "moon"]),
        ([Parameter("qos.depth", value=0)], ["'qos.depth'", "0"]),
        ([Parameter("precision", value="int8")], ["'precision'", "int8", "auto, fp32, fp16, bf16"]),
    ],
)
def test_invalid_parameter_fails_with_one_clear_line(
    ros_context: Context, models: dict[str, Path], overrides: list[Parameter], expected: list[str]
) -> None:
    base = [Parameter("model_file", value=str(models["highway"]))]
    with pytest.raises(NodeParameterError) as raised:
        SegmentationNode(context=ros_context, parameter_overrides=base + overrides)
    message = str(raised.value)
    assert "\n" not in message
    for fragment in expected:
        assert fragment in message


def test_overrides_that_are_no_parameter_of_the_node_are_named_in_a_warning(
    ros_context: Context, models: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    """A scenario-file key passed as a parameter (or a typo) is not silently ignored."""
    overrides = [
        Parameter("model_file", value=str(models["highway"])),
        Parameter("slots.test_time_flips", value=4),
        Parameter("fornt.topic", value="/camera/typo"),
    ]
    node = SegmentationNode(context=ros_context, parameter_overrides=overrides)
    try:
        scenario = node.core.settings.scenario.params
        assert unused_parameter_overrides(node, scenario) == ["fornt.topic", "slots.test_time_flips"]
        logged = capfd.readouterr().err
        assert "ignored, not parameters of this node: fornt.topic, slots.test_time_flips." in logged
        assert "scenario:=FILE" in logged
    finally:
        node.shutdown()
        node.destroy_node()


@pytest.mark.parametrize(("scenario", "camera"), [("highway", "front"), ("parking", "avm")])
def test_the_scenario_file_as_parameter_file_warns_of_nothing(
    ros_context: Context,
    models: dict[str, Path],
    capfd: pytest.CaptureFixture[str],
    scenario: str,
    camera: str,
) -> None:
    """What the launch files do: config/<scenario>.yaml is also the node's parameter file."""
    params_file = share_dir() / "config" / f"{scenario}.yaml"
    from_file = parameter_dict_from_yaml_file(str(params_file), use_wildcard=True)
    overrides = [
        Parameter(name, value=parameter_value_to_python(message.value))
        for name, message in from_file.items()
        if name != "model_file"
    ]
    overrides += [
        Parameter("model_file", value=str(models[scenario])),
        Parameter(f"{camera}.topic", value="/x"),
    ]
    assert sum("." in p.name and not p.name.startswith(camera) for p in overrides) > 3  # scenario keys
    node = SegmentationNode(context=ros_context, parameter_overrides=overrides)
    try:
        assert unused_parameter_overrides(node, node.core.settings.scenario.params) == []
        assert "not parameters of this node" not in capfd.readouterr().err
    finally:
        node.shutdown()
        node.destroy_node()


def test_main_exits_1_naming_a_missing_model_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere" / "absent.onnx"
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN_ID + 1))
    code = main(["segmentation_node", "--ros-args", "-p", f"model_file:={missing}"])
    captured = capfd.readouterr()
    assert code == 1
    assert str(missing) in captured.err and "Traceback" not in captured.err
    assert rclpy.ok() is False


def test_main_exits_1_on_bad_parameter(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN_ID + 1))
    code = main(["segmentation_node", "--ros-args", "-p", "overlay_alpha:=-0.5"])
    captured = capfd.readouterr()
    assert code == 1 and "overlay_alpha" in captured.err and "Traceback" not in captured.err
