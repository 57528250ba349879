"""Bad frames through the real node: each is rejected, counted and warned about; the next good frame works.

Also property-based: random image messages (encodings incl. invalid ones, random
width/height/step/data lengths) and random compressed payloads, fed to the real
conversion and to the real node's callback path over DDS. Nothing escapes the node
and every frame is accounted for (received = processed + dropped + rejected + failed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from unittest import mock

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")
hypothesis = pytest.importorskip("hypothesis")

from hostile_payloads import bmp_rle8, encoded, jpeg_late_sof_bomb  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from test_reliability_helpers import (  # noqa: E402
    HEIGHT,
    WIDTH,
    Harness,
    export_threshold_model,
    image_msg,
    scene,
    wait_for,
)

from seg_perception.image_encodings import ENCODINGS as RAW_ENCODINGS  # noqa: E402
from seg_perception.ros.errors import ImageConversionError  # noqa: E402
from seg_perception.ros.image_conversion import (  # noqa: E402
    compressed_msg_to_bgr,
    image_msg_to_bgr,
    peek_compressed_size,
)
from seg_perception.ros.node import SegmentationNode  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 104
MAX_PIXELS = 4096 * 4096
FRONT, AVM = "/camera/front/image_raw", "/camera/avm/image_raw/compressed"
ENCODINGS = [
    "bgr8",
    "rgb8",
    "bgra8",
    "rgba8",
    "mono8",
    "8UC1",
    "8UC3",
    "yuv422",
    "yuv422_yuy2",
    "yuv999",
    "mono16",
    "rgb16",
    "bayer_rggb8",
    "bayer_gbrg16",
    "",
    "?",
]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One node, two cameras: front raw, avm compressed (highway model on both)."""
    model = export_threshold_model(tmp_path_factory.mktemp("models"), "highway")
    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    harness = Harness(
        context,
        SegmentationNode,
        [
            Parameter("scenario", value="highway"),
            Parameter("model_file", value=str(model)),
            Parameter("cameras", value=["front", "avm"]),
            Parameter("avm.transport", value="compressed"),
            Parameter("avm.topic", value=AVM),
            Parameter("qos.reliability", value="reliable"),
            Parameter("qos.depth", value=50),
            Parameter("stale_timeout_s", value=60.0),
        ],
    )
    harness.front = harness.publisher(Image, FRONT)  # type: ignore[attr-defined]
    harness.avm = harness.publisher(CompressedImage, AVM)  # type: ignore[attr-defined]
    harness.masks = harness.subscribe(Image, "front/mask")  # type: ignore[attr-defined]
    yield harness
    harness.close()
    rclpy.try_shutdown(context=context)


def deliver(harness: Harness, camera: int, msg: object) -> None:
    """Publish and wait until the node has accounted for the frame."""
    stats = harness.node.workers[camera].stats
    before = stats.snapshot().received
    (harness.front if camera == 0 else harness.avm).publish(msg)  # type: ignore[attr-defined]
    wait_for(
        lambda: stats.snapshot().received == before + 1 and stats.snapshot().pending == 0,
        "the frame to be accounted for",
    )


def _raw(**fields: object) -> Callable[[], Image]:
    def build() -> Image:
        msg = image_msg(scene())
        for name, value in fields.items():
            setattr(msg, name, value)
        return msg

    return build


def _eight_k_png() -> CompressedImage:
    # a tiny PNG header declaring 7680x4320: rejected from the header, never decoded
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    assert ok
    data = bytearray(png.tobytes())
    data[16:20], data[20:24] = (7680).to_bytes(4, "big"), (4320).to_bytes(4, "big")
    return CompressedImage(format="png", data=bytes(data))


BAD_FRAMES = {
    "unknown encoding": (0, _raw(encoding="yuv999"), "unknown_encoding"),
    "odd width in a 4:2:2 encoding": (
        0,
        _raw(encoding="yuv422", width=WIDTH - 1, step=2 * (WIDTH - 1), data=bytes(2 * (WIDTH - 1) * HEIGHT)),
        "odd_width",
    ),
    "encoding mismatched with data (rgb8 label, mono rows)": (
        0,
        _raw(encoding="rgb8", step=WIDTH),
        "bad_step",
    ),
    "step too small": (0, _raw(step=WIDTH * 3 - 1), "bad_step"),
    "truncated data": (0, _raw(data=bytes(100)), "truncated"),
    "oversized data": (0, _raw(data=bytes(HEIGHT * WIDTH * 3 + 7)), "oversized_data"),
    "zero width": (0, _raw(width=0), "empty_image"),
    "zero height": (0, _raw(height=0), "empty_image"),
    "8K raw image": (0, _raw(width=7680, height=4320, step=7680 * 3, data=bytes(16)), "too_large"),
    "bytes that are no Image message (published serialized, cut short)": (
        0,
        lambda: serialize_message(image_msg(scene()))[:40],
        "undecodable_message",
    ),
    "random bytes as JPEG": (
        1,
        lambda: CompressedImage(format="jpeg", data=bytes(range(256)) * 4),
        "undecodable",
    ),
    "empty compressed payload": (1, lambda: CompressedImage(format="jpeg", data=b""), "empty_data"),
    "8K PNG": (1, _eight_k_png, "too_large"),
    "BMP RLE8 bomb (64 bytes declaring 16384x16384)": (
        1,
        lambda: CompressedImage(format="bmp", data=bmp_rle8()),
        "too_large",
    ),
    "JPEG bomb with its SOF after 128 KiB of APP data": (
        1,
        lambda: CompressedImage(format="jpeg", data=jpeg_late_sof_bomb()),
        "too_large",
    ),
    "TIFF (a format whose header is not parsed)": (
        1,
        lambda: CompressedImage(format="tiff", data=encoded(".tiff")),
        "unsupported_format",
    ),
    "JPEG cut before its frame header": (
        1,
        lambda: CompressedImage(format="jpeg", data=encoded(".jpg")[:20]),
        "bad_header",
    ),
}
_warned: set[str] = set()


@pytest.mark.parametrize("case", list(BAD_FRAMES))
def test_bad_frame_is_rejected_warned_counted_and_next_frame_processed(
    harness: Harness, case: str, capfd: pytest.CaptureFixture[str]
) -> None:
    camera, build, reason = BAD_FRAMES[case]
    worker = harness.node.workers[camera]
    before = worker.stats.snapshot()
    deliver(harness, camera, build())
    after = worker.stats.snapshot()
    assert after.rejected.get(reason, 0) == before.rejected.get(reason, 0) + 1
    assert after.processed == before.processed
    err = capfd.readouterr().err
    if reason not in _warned:  # the warning is throttled per reason: the first one is always logged
        line = next(line for line in err.splitlines() if f"rejected.{reason}" in line)
        assert line.startswith("[WARN]") and f"camera '{worker.camera.name}'" in line
        _warned.add(reason)
    good = image_msg(scene()) if camera == 0 else CompressedImage(format="png", data=_png(scene()))
    deliver(harness, camera, good)
    assert worker.stats.snapshot().processed == before.processed + 1


def _png(image: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", image)
    assert ok
    return png.tobytes()


def test_size_change_mid_stream_is_processed_at_the_new_size_and_logged(
    harness: Harness, capfd: pytest.CaptureFixture[str]
) -> None:
    worker = harness.node.workers[0]
    masks = harness.masks  # type: ignore[attr-defined]
    count = len(masks)
    deliver(harness, 0, image_msg(scene()))
    # the small frame's mask must have arrived before counting, or it would pass for the big one's
    wait_for(lambda: len(masks) > count, "the mask of the first frame")
    capfd.readouterr()
    before = worker.stats.snapshot()
    count = len(masks)
    deliver(harness, 0, image_msg(scene(HEIGHT * 2, WIDTH * 2)))
    wait_for(lambda: len(masks) > count, "the mask of the bigger frame")
    assert (masks[-1].height, masks[-1].width) == (HEIGHT * 2, WIDTH * 2)
    after = worker.stats.snapshot()
    assert after.processed == before.processed + 1 and after.frame_size == (HEIGHT * 2, WIDTH * 2)
    assert after.size_changes == before.size_changes + 1
    err = capfd.readouterr().err
    assert f"frame size changed from {WIDTH}x{HEIGHT} to {WIDTH * 2}x{HEIGHT * 2}" in err
    deliver(harness, 0, image_msg(scene()))  # and back: processed, the log line is throttled
    assert worker.stats.snapshot().processed == before.processed + 2
    assert "frame size changed" not in capfd.readouterr().err


@st.composite
def raw_messages(draw: st.DrawFn) -> Image:
    encoding = draw(st.sampled_from(ENCODINGS))
    small = st.integers(0, 80)
    width = draw(st.one_of(small, st.integers(0, 2**32 - 1)))
    height = draw(st.one_of(small, st.integers(0, 2**32 - 1)))
    row = width * (RAW_ENCODINGS[encoding].bytes_per_pixel if encoding in RAW_ENCODINGS else 1)
    step = draw(
        st.one_of(st.integers(0, 2**32 - 1), st.integers(max(row - 2, 0), row + 8).map(lambda s: s % 2**32))
    )
    consistent = min(step * height, 60_000)
    length = draw(st.one_of(st.just(consistent), st.integers(0, 60_000)))
    data = draw(st.binary(min_size=length, max_size=length)) if length < 512 else bytes(length)
    return Image(height=height, width=width, encoding=encoding, step=step, data=data)


def _compressed_payloads() -> st.SearchStrategy[bytes]:
    valid_png = st.builds(
        lambda h, w: _png(np.full((h, w, 3), 200, np.uint8)), st.integers(1, 40), st.integers(1, 40)
    )
    truncated = st.tuples(valid_png, st.floats(0.0, 1.0)).map(lambda p: p[0][: int(len(p[0]) * p[1])])
    return st.one_of(st.binary(max_size=2000), valid_png, truncated)


def _accounting_holds(harness: Harness) -> None:
    for worker in harness.node.workers:
        snapshot = worker.stats.snapshot()
        assert snapshot.received == snapshot.processed + snapshot.dropped + snapshot.rejected_total
        assert snapshot.failed == 0 and worker.running
    assert not harness.errors and harness.spinner.running


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(msg=raw_messages())
def test_random_raw_messages_convert_or_raise_conversion_errors_only(msg: Image) -> None:
    try:
        image = image_msg_to_bgr(msg, max_pixels=MAX_PIXELS)
    except ImageConversionError as err:
        assert err.reason in {
            "empty_image",
            "too_large",
            "unknown_encoding",
            "bad_step",
            "truncated",
            "oversized_data",
            "odd_width",
        }
    else:
        assert image.shape == (msg.height, msg.width, 3) and image.dtype == np.uint8


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=_compressed_payloads(), fmt=st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed rgb8", ""]))
def test_random_compressed_payloads_decode_or_raise_conversion_errors_only(data: bytes, fmt: str) -> None:
    try:
        image = compressed_msg_to_bgr(CompressedImage(format=fmt, data=data), max_pixels=MAX_PIXELS)
    except ImageConversionError as err:
        assert err.reason in {
            "empty_data",
            "undecodable",
            "unsupported_format",
            "bad_header",
            "empty_image",
            "too_large",
        }
    else:
        assert image.ndim == 3 and image.shape[2] == 3


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(msg=raw_messages())
def test_random_raw_messages_through_the_node_are_all_accounted_for(harness: Harness, msg: Image) -> None:
    deliver(harness, 0, msg)
    _accounting_holds(harness)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=_compressed_payloads())
def test_random_compressed_payloads_through_the_node_are_all_accounted_for(
    harness: Harness, data: bytes
) -> None:
    deliver(harness, 1, CompressedImage(format="jpeg", data=data))
    _accounting_holds(harness)


def test_bombs_among_good_frames_cost_no_good_frame_and_are_never_decoded(harness: Harness) -> None:
    """Ten 16384x16384 bombs, each followed by a good frame: every good frame gets its mask, every
    bomb is refused as too large, and the decoder sees only the good frames.

    Decoding a bomb took ~3 s and 1.5 GB before the header check, so most good frames of a 5 Hz
    stream were overwritten in the mailbox (3 of 10 processed); refused from the header, a bomb
    costs next to nothing. Each message is sent once the previous one is accounted for (the bomb
    refused, the good frame masked), because the mailbox keeps the latest frame by design: a fixed
    0.1 s pause once let a good frame overwrite a bomb the worker thread of a loaded CI machine had
    not yet taken (one drop, nine refusals). What a bomb costs is checked by what runs (no decoder
    call), not by a clock: a timed budget failed CI once under load (a good frame waited 2.0 s).
    """
    worker = harness.node.workers[1]
    bombs = [bmp_rle8(), jpeg_late_sof_bomb()]
    good = CompressedImage(format="png", data=_png(scene()))
    before = worker.stats.snapshot()
    with mock.patch.object(cv2, "imdecode", wraps=cv2.imdecode) as decoder:
        for index in range(10):
            done = worker.stats.snapshot().processed
            refused = worker.stats.snapshot().rejected.get("too_large", 0)
            harness.avm.publish(CompressedImage(format="bmp", data=bombs[index % 2]))  # type: ignore[attr-defined]
            wait_for(
                lambda refused=refused: worker.stats.snapshot().rejected.get("too_large", 0) == refused + 1,
                f"bomb {index} refused",
            )
            harness.avm.publish(good)  # type: ignore[attr-defined]
            wait_for(
                lambda done=done: worker.stats.snapshot().processed == done + 1, f"good frame {index}'s mask"
            )
    after = worker.stats.snapshot()
    assert after.received == before.received + 20
    assert after.rejected.get("too_large", 0) == before.rejected.get("too_large", 0) + 10
    assert after.processed == before.processed + 10
    assert after.dropped == before.dropped
    assert decoder.call_count == 10  # one per good frame: no bomb reached the decoder


@pytest.mark.parametrize(
    ("case", "stamp", "hint"),
    [
        ("zero", (0, 0), "unset"),
        ("an hour old (a bag replayed without use_sim_time)", (-3600, 0), "use_sim_time:=true"),
        ("a day in the future", (86400, 0), "synchronised"),
        ("the largest sec", None, "ahead of the node clock"),
    ],
    ids=["zero", "past", "future", "huge-sec"],
)
def test_absurd_stamps_are_counted_as_clock_mismatch_and_kept_out_of_latency(
    harness: Harness, case: str, stamp: tuple[int, int] | None, hint: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from builtin_interfaces.msg import Time

    worker = harness.node.workers[0]
    now_s = time.time_ns() // 10**9
    if stamp is None:
        absurd = Time(sec=2**31 - 1, nanosec=999_999_999)
    elif stamp == (0, 0):
        absurd = Time(sec=0, nanosec=0)
    else:
        absurd = Time(sec=now_s + stamp[0], nanosec=stamp[1])
    deliver(harness, 0, image_msg(scene()))  # a well-stamped frame first: latency is measured
    before = worker.stats.snapshot()
    count = len(harness.diagnostics)
    deliver(harness, 0, image_msg(scene(), stamp=absurd))
    after = worker.stats.snapshot()
    assert after.processed == before.processed + 1, case  # processed and published as usual
    assert after.clock_mismatch == before.clock_mismatch + 1
    assert hint in after.clock_mismatch_detail
    assert after.latency_ms.max < harness.node.settings.stamp_window_s * 1e3  # max stays plausible
    wait_for(lambda: len(harness.diagnostics) > count, "a diagnostics message")
    wait_for(
        lambda: any(
            "clock mismatch" in status.message and hint in status.message
            for status in harness.diagnostics[-1].status
        ),
        "diagnostics to report the clock mismatch",
    )
    values = {kv.key: kv.value for kv in harness.diagnostics[-1].status[0].values}
    assert int(values["clock_mismatch"]) >= 1 and hint in values["clock_mismatch_last"]
    deliver(harness, 0, image_msg(scene()))
    assert worker.stats.snapshot().clock_mismatch == after.clock_mismatch
    assert not worker.stats.snapshot().clock_mismatch_now


def test_stamps_that_go_back_or_pause_start_tracking_afresh(harness: Harness) -> None:
    from builtin_interfaces.msg import Time

    worker = harness.node.workers[0]
    base = time.time_ns() // 10**9
    restarts: list[int] = []

    def send(sec: int, nanosec: int = 0) -> None:
        deliver(harness, 0, image_msg(scene(), stamp=Time(sec=sec, nanosec=nanosec)))

    with mock.patch.object(worker.pipeline, "reset_tracking", side_effect=lambda: restarts.append(1)):
        send(base)  # the last test's frames came a while ago: this one may restart
        restarts.clear()
        send(base, 33_000_000)
        send(base, 66_000_000)
        send(base, 900_000_000)  # within tracking_gap_s (1 s)
        assert restarts == []
        send(base - 20)  # the stamps went back: a bag played again
        assert len(restarts) == 1
        send(base - 20, 33_000_000)
        send(base - 15)  # a 5 s pause
        assert len(restarts) == 2
        send(0)  # an unset stamp tells nothing
        send(base - 15, 33_000_000)
        assert len(restarts) == 2
    assert worker.tracking_restarts >= 2


def test_a_frame_unrelated_to_the_last_restarts_tracking_and_is_counted_in_diagnostics(
    harness: Harness, capfd: pytest.CaptureFixture[str]
) -> None:
    from seg_perception.data.synthetic.scenes import generate_drive, generate_scene

    worker = harness.node.workers[0]
    drive = [sample.image for sample in generate_drive("highway", 994800, 3, size=(180, 320), fps=10.0)]
    for image in drive:  # one stream (the frame before, another test's, may count as a cut)
        deliver(harness, 0, image_msg(image))
    before = worker.scene_cuts
    deliver(harness, 0, image_msg(drive[-1]))
    assert worker.scene_cuts == before  # the same picture again continues the stream
    restart = mock.patch.object(worker.pipeline, "_restart_trackers", wraps=worker.pipeline._restart_trackers)
    unthrottled = mock.patch.object(worker._warnings, "allow", return_value=0)  # other tests' cuts logged too
    with restart as restarted, unthrottled:
        deliver(harness, 0, image_msg(generate_scene("highway", 994801, size=(180, 320)).image))
    assert worker.scene_cuts == before + 1 and restarted.call_count == 1
    count = len(harness.diagnostics)
    wait_for(lambda: len(harness.diagnostics) > count, "a diagnostics message")
    values = {kv.key: kv.value for kv in harness.diagnostics[-1].status[0].values}
    assert int(values["scene_cuts"]) == worker.scene_cuts
    assert "does not continue the last one" in capfd.readouterr().err


def test_frames_near_the_transport_limit_are_warned_about_once(
    harness: Harness, capfd: pytest.CaptureFixture[str]
) -> None:
    from seg_perception.ros.dds_limits import FrameSizeLimit

    worker = harness.node.workers[0]
    saved = worker.size_limit
    big = scene(HEIGHT * 2, WIDTH * 2)  # 36 KiB of bgr8
    worker.size_limit = FrameSizeLimit(64 * 1024, 32 * 1024, "a 64 KiB test segment", "raise it")
    try:
        capfd.readouterr()
        deliver(harness, 0, image_msg(scene()))  # 9 KiB: below the limit, no warning
        assert "near the transport's limit" not in capfd.readouterr().err
        deliver(harness, 0, image_msg(big))
        deliver(harness, 0, image_msg(big))
        warnings = [line for line in capfd.readouterr().err.splitlines() if "near the transport" in line]
        assert len(warnings) == 1 and "a 64 KiB test segment" in warnings[0] and "raise it" in warnings[0]
    finally:
        worker.size_limit = saved
        worker._large_frame_warned = False


def test_peek_reads_png_and_jpeg_sizes_without_decoding() -> None:
    image = np.zeros((30, 50, 3), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    assert peek_compressed_size(jpeg.tobytes()) == (30, 50)
    assert peek_compressed_size(_png(image)) == (30, 50)
    assert peek_compressed_size(b"not an image") is None
