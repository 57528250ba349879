"""Markers, the polygon PointCloud2, ground projection, mailbox and statistics (no DDS needed)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("visualization_msgs")

from sensor_msgs.msg import PointField
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.ros.errors import NodeParameterError
from seg_perception.ros.mailbox import LatestMailbox
from seg_perception.ros.markers import MarkerStyle, build_marker_array
from seg_perception.ros.polygon_cloud import SLOT_CLASS_ID, build_polygon_cloud, cloud_to_points
from seg_perception.ros.projection import GroundProjection
from seg_perception.ros.stats import CameraStats, PerceptionSample, build_status

CLASSES = ("background", "slot_line", "free_slot")
COLORS = np.array([[0, 0, 0], [255, 255, 255], [48, 224, 96]], np.uint8)
SQUARE = np.array([[10, 10], [30, 10], [30, 40], [10, 40]], np.float32)
HEADER = Header(frame_id="base_link")


def shapes() -> tuple[list[Polygon], list[ParkingSlot]]:
    polygons = [Polygon(1, "slot_line", SQUARE, 0), Polygon(1, "slot_line", SQUARE + 50, 1)]
    slots = [
        ParkingSlot(SQUARE + 100, free=True, instance_id=0),
        ParkingSlot(SQUARE, free=False, instance_id=1),
    ]
    return polygons, slots


def test_marker_array_deleteall_then_closed_strips_per_class_namespace() -> None:
    polygons, slots = shapes()
    style = MarkerStyle("avm", CLASSES, COLORS, line_width=0.07, slot_line_id=1, free_space_id=2)
    projection = GroundProjection.from_parameters(metres_per_pixel=0.02, origin_px=[50, 50])
    markers = build_marker_array(
        header=HEADER,
        style=style,
        projection=projection,
        image_size=(200, 200),
        polygons=polygons,
        slots=slots,
    ).markers
    assert markers[0].action == Marker.DELETEALL
    assert [(m.ns, m.id) for m in markers[1:]] == [
        ("avm/slot_line", 0),
        ("avm/slot_line", 1),
        ("avm/parking_slot", 0),
        ("avm/parking_slot", 1),
    ]
    first = markers[1]
    assert first.type == Marker.LINE_STRIP and first.scale.x == pytest.approx(0.07)
    assert len(first.points) == 5 and first.points[0] == first.points[-1]
    assert (first.points[0].x, first.points[0].y) == pytest.approx(((50 - 10) * 0.02, (50 - 10) * 0.02))
    assert first.header.frame_id == "base_link"
    assert (first.color.r, first.color.a) == (1.0, 1.0)
    free, occupied = markers[3].color, markers[4].color
    assert (free.r, free.g, free.b) == pytest.approx((48 / 255, 224 / 255, 96 / 255))
    assert (occupied.r, occupied.g, occupied.b) == (1.0, 1.0, 1.0)


def test_duplicate_instance_ids_still_get_unique_marker_ids() -> None:
    polygons = [Polygon(1, "slot_line", SQUARE, 3), Polygon(1, "slot_line", SQUARE, 3)]
    markers = build_marker_array(
        header=HEADER,
        style=MarkerStyle("f", CLASSES, COLORS),
        projection=GroundProjection(),
        image_size=(100, 100),
        polygons=polygons,
    ).markers
    assert [m.id for m in markers[1:]] == [3, 4]


def test_projections_metric_homography_and_pixel_plane() -> None:
    scale = np.diag([0.1, 0.1, 1.0])
    homography = GroundProjection.from_parameters(ground_homography=scale.ravel().tolist())
    np.testing.assert_allclose(homography.metric_points(SQUARE, (100, 100))[:, :2], SQUARE * 0.1, rtol=1e-6)
    beyond = GroundProjection.from_parameters(ground_homography=[1, 0, 0, 0, 1, 0, 0, -1, 20])
    assert np.isnan(beyond.display_points(np.array([[0.0, 30.0]]), (100, 100))).all()  # above the horizon
    plane = GroundProjection(pixel_plane_scale=0.01)
    assert not plane.metric and np.isnan(plane.metric_points(SQUARE, (100, 80))).all()
    np.testing.assert_allclose(plane.display_points(np.array([[40.0, 100.0]]), (100, 80))[0], [0, 0, 0])
    with pytest.raises(NodeParameterError, match="9 finite numbers"):
        GroundProjection.from_parameters(ground_homography=[1.0] * 8, camera="front")
    with pytest.raises(NodeParameterError, match="singular"):
        GroundProjection.from_parameters(ground_homography=[0.0] * 9)
    with pytest.raises(NodeParameterError, match="origin_px"):
        GroundProjection.from_parameters(metres_per_pixel=0.02, origin_px=[1.0])


def test_polygon_cloud_fields_and_values() -> None:
    polygons, slots = shapes()
    projection = GroundProjection.from_parameters(metres_per_pixel=0.02, origin_px=[50, 50])
    msg = build_polygon_cloud(
        header=HEADER, projection=projection, image_size=(200, 200), polygons=polygons, slots=slots
    )
    fields = {f.name: (f.offset, f.datatype) for f in msg.fields}
    assert fields["x"] == (0, PointField.FLOAT32) and fields["class_id"] == (20, PointField.UINT16)
    assert fields["free"] == (26, PointField.UINT8)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 16, 28, 28 * 16)
    assert msg.is_dense and msg.header.frame_id == "base_link"
    points = cloud_to_points(msg)
    np.testing.assert_allclose(points["u"][:4], SQUARE[:, 0])
    np.testing.assert_allclose(points["x"][:4], (50 - SQUARE[:, 1]) * 0.02, rtol=1e-6)
    assert points["vertex_index"].tolist() == [0, 1, 2, 3] * 4
    assert points["instance_id"].tolist() == [0] * 4 + [1] * 4 + [0] * 4 + [1] * 4
    assert points["class_id"].tolist() == [1] * 8 + [SLOT_CLASS_ID] * 8
    assert points["free"].tolist() == [255] * 8 + [1] * 4 + [0] * 4
    uncalibrated = build_polygon_cloud(
        header=HEADER, projection=GroundProjection(), image_size=(9, 9), polygons=polygons
    )
    assert not uncalibrated.is_dense and np.isnan(cloud_to_points(uncalibrated)["z"]).all()
    empty = build_polygon_cloud(header=HEADER, projection=GroundProjection(), image_size=(9, 9))
    assert empty.width == 0 and len(empty.data) == 0


def test_mailbox_keeps_the_newest_and_reports_drops() -> None:
    mailbox: LatestMailbox[int] = LatestMailbox()
    assert mailbox.put(1) is False
    assert mailbox.put(2) is True
    assert mailbox.take(0.01) == 2 and mailbox.take(0.01) is None
    results: list[int | None] = []
    taker = threading.Thread(target=lambda: results.append(mailbox.take(5.0)))
    taker.start()
    mailbox.put(3)
    taker.join(2)
    assert results == [3]
    blocked = threading.Thread(target=lambda: results.append(mailbox.take(30.0)))
    blocked.start()
    mailbox.close()
    blocked.join(2)
    assert not blocked.is_alive() and results[-1] is None and mailbox.closed


def test_stats_and_status_levels() -> None:
    now = [100.0]
    stats = CameraStats(clock=lambda: now[0])
    for index in range(11):
        now[0] = 100.0 + index * 0.1
        stats.on_received(dropped=index == 3)
        stats.on_processed(latency_ms=float(index), processing_ms=5.0, stages_ms={"conversion": 1.0})
    stats.on_rejected("bad_step")
    snap = stats.snapshot()
    assert snap.fps == pytest.approx(10.0) and snap.dropped == 1 and snap.rejected == {"bad_step": 1}
    assert snap.latency_ms.p50 == pytest.approx(5.0) and snap.latency_ms.max == 10.0
    status = build_status(name="n: front", snapshot=snap, stale_timeout_s=1.0, seconds_since_start=5, info={})
    values = {kv.key: kv.value for kv in status.values}
    # the one percentile set of metrics.latency: 0..10 ms -> p95 9.5, p99 9.9
    assert [values[f"latency_ms_{key}"] for key in ("p50", "p95", "p99", "max")] == [
        "5.00",
        "9.50",
        "9.90",
        "10.00",
    ]
    assert status.level == b"\x00" and values["rejected.bad_step"] == "1" and values["stale"] == "false"
    now[0] += 3.0
    stale = build_status(
        name="n", snapshot=stats.snapshot(), stale_timeout_s=1.0, seconds_since_start=9, info={}
    )
    assert stale.level == b"\x01" and "stale" in stale.message
    stats.on_engine_error("RuntimeError: boom")
    failing = build_status(
        name="n", snapshot=stats.snapshot(), stale_timeout_s=1.0, seconds_since_start=9, info={}
    )
    assert failing.level == b"\x02" and "boom" in failing.message
    never = build_status(
        name="n", snapshot=CameraStats().snapshot(), stale_timeout_s=1.0, seconds_since_start=2, info={}
    )
    assert never.level == b"\x01"


def _level_message_values(stats: CameraStats, **limits: float) -> tuple[int, str, dict[str, str]]:
    """Level, message and key/values of a fresh camera status (``limits``: build_status's WARN limits)."""
    built = build_status(
        name="n", snapshot=stats.snapshot(), stale_timeout_s=1.0, seconds_since_start=9, info={}, **limits
    )
    return built.level[0], built.message, {kv.key: kv.value for kv in built.values}


def test_status_reports_the_ego_lane_and_warns_only_when_it_is_lost_long_enough() -> None:
    now = [0.0]
    stats = CameraStats(clock=lambda: now[0])

    def frame(ego: bool) -> None:
        now[0] += 0.1
        stats.on_received(dropped=False)
        stats.on_processed(
            latency_ms=1.0,
            processing_ms=1.0,
            perception=PerceptionSample(ego_lane=ego, boundaries=3 if ego else 1),
        )

    def status(lost_s: float) -> tuple[int, str, dict[str, str]]:
        return _level_message_values(stats, ego_lane_lost_s=lost_s)

    for _ in range(10):
        frame(True)
    for _ in range(30):  # 3 s without the ego lane
        frame(False)
    level, message, values = status(2.0)
    assert (level, message) == (1, "no ego lane for 3.0 s")
    assert values["lanes.ego_lane"] == "false" and values["lanes.boundaries"] == "1"
    assert values["lanes.ego_lane_share"] == "0.25" and values["lanes.seconds_without_ego_lane"] == "3.00"
    assert status(0.0)[0] == 0 and status(5.0)[0] == 0  # off, or not yet that long
    frame(True)
    assert status(2.0)[:2] == (0, "10.0 fps")

    never = CameraStats(clock=lambda: now[0])  # no frame has had one: counted from the first
    never.on_processed(latency_ms=None, processing_ms=1.0, perception=PerceptionSample(ego_lane=False))
    now[0] += 4.0
    assert (
        build_status(
            name="n",
            snapshot=never.snapshot(),
            stale_timeout_s=9.0,
            seconds_since_start=9,
            info={},
            ego_lane_lost_s=2.0,
        ).message
        == "no ego lane for 4.0 s"
    )


def test_status_warns_while_a_share_of_frames_is_dropped_and_not_for_a_handful() -> None:
    now = [0.0]
    stats = CameraStats(clock=lambda: now[0])

    def camera(frames: int, *, every_dropped: int) -> None:
        """A 30-fps camera; every ``every_dropped``-th frame replaces an unprocessed one."""
        for index in range(frames):
            now[0] += 1 / 30
            dropped = every_dropped > 0 and index % every_dropped == 0
            stats.on_received(dropped=dropped)
            if not dropped:
                stats.on_processed(latency_ms=40.0, processing_ms=40.0)

    def status(share_warn: float) -> tuple[int, str, dict[str, str]]:
        return _level_message_values(stats, dropped_share_warn=share_warn)

    camera(6, every_dropped=2)  # half dropped, but too few frames to say so
    level, _, values = status(0.25)
    assert level == 0 and values["dropped_share"] == "unknown"
    camera(150, every_dropped=3)  # 5 s at 30 fps, a third dropped: the model runs at 20 fps
    level, message, values = status(0.25)
    assert level == 1 and message.startswith("dropping 33% of frames, the model is slower than the camera")
    assert "30.0 fps in, 20.0 out, processing p50 40 ms" in message
    assert float(values["dropped_share"]) == pytest.approx(1 / 3, abs=0.01)
    assert float(values["input_fps"]) == pytest.approx(30.0, abs=0.01)
    assert status(0.0)[0] == 0 and status(0.4)[0] == 0  # off, or a larger share allowed
    camera(150, every_dropped=0)  # the model keeps up again: nothing dropped over the window
    assert status(0.25)[:2] == (0, "30.0 fps") and status(0.25)[2]["dropped_share"] == "0.000"


def test_status_reports_slots_and_no_lane_keys_without_a_lane_stage() -> None:
    stats = CameraStats()
    stats.on_processed(
        latency_ms=None, processing_ms=1.0, perception=PerceptionSample(slots=4, marking_points=9)
    )
    built = build_status(
        name="n", snapshot=stats.snapshot(), stale_timeout_s=1.0, seconds_since_start=0, info={}
    )
    values = {kv.key: kv.value for kv in built.values}
    assert values["slots.count"] == "4" and values["slots.marking_points"] == "9"
    assert not any(key.startswith("lanes.") for key in values)
    assert built.level[0] == 0


def test_markers_skip_unprojectable_vertices_and_each_build_is_independent() -> None:
    # Rows v >= 20 lie below this homography's horizon; v < 20 are above it (NaN).
    projection = GroundProjection.from_parameters(ground_homography=[1, 0, 0, 0, 1, 0, 0, 1, -20])
    partly = Polygon(1, "slot_line", np.array([[0, 10], [5, 30], [9, 40], [2, 50]], np.float32), 0)
    hidden = Polygon(1, "slot_line", np.array([[0, 1], [5, 2], [9, 3]], np.float32), 1)
    style = MarkerStyle("f", CLASSES, COLORS)
    build = dict(
        header=HEADER, style=style, projection=projection, image_size=(60, 60), polygons=[partly, hidden]
    )
    first = build_marker_array(**build).markers
    assert [(m.ns, m.id) for m in first[1:]] == [("f/slot_line", 0)]  # nothing drawable: no marker
    points = [(p.x, p.y, p.z) for p in first[1].points]
    expected = projection.display_points(partly.points[1:], (60, 60))
    assert len(points) == 4 and points[-1] == points[0]
    np.testing.assert_allclose(points[:3], expected, rtol=1e-6)
    second = build_marker_array(**build).markers
    assert second[1] is not first[1] and second[1].points is not first[1].points
    second[1].points.append(second[1].points[0])
    assert len(first[1].points) == 4  # a later frame's markers never alias an earlier frame's


def test_polygon_cloud_numbers_vertices_per_shape() -> None:
    triangle = np.array([[1, 1], [5, 1], [3, 4]], np.float32)
    polygons = [Polygon(2, "x", triangle, 70000), Polygon(1, "y", SQUARE, 3)]
    slots = [ParkingSlot(SQUARE, free=True, instance_id=5)]
    msg = build_polygon_cloud(
        header=HEADER, projection=GroundProjection(), image_size=(50, 50), polygons=polygons, slots=slots
    )
    points = cloud_to_points(msg)
    assert points["vertex_index"].tolist() == [0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3]
    assert points["class_id"].tolist() == [2] * 3 + [1] * 4 + [SLOT_CLASS_ID] * 4
    assert points["instance_id"].tolist() == [70000 & 0xFFFF] * 3 + [3] * 4 + [5] * 4
    np.testing.assert_array_equal(points["v"], np.concatenate([triangle, SQUARE, SQUARE])[:, 1])
