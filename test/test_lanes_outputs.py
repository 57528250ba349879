"""Lane boundaries through the pipeline, the RViz markers, the frame JSON and ``seg-perception calibrate``."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from test_inference_pipeline import RED, colour_model
from test_postprocess_lanes import CAMERA, MAPPER, THREE_LANES, WHITE, draw_road

from seg_perception.cli import main
from seg_perception.config import load_scenario
from seg_perception.inference.engine import create_engine
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.metrics.lanes import PaintCoverage
from seg_perception.postprocess.camera_model import GroundMapper
from seg_perception.postprocess.lanes import LaneExtractor


def road_frame() -> np.ndarray:
    """The three-lane road of the lane tests, paint in red (the colour model's lane class)."""
    mask, _ = draw_road(THREE_LANES)
    image = np.full((*mask.shape, 3), 60, np.uint8)
    image[mask == 1] = RED
    return image


@pytest.fixture(scope="module")
def road_model(tmp_path_factory):
    return colour_model(tmp_path_factory.mktemp("models"), "road", input_hw=(180, 320))


def in_frame(line: np.ndarray) -> np.ndarray:
    """The points of an image polyline inside the lane tests' frame, as a label holds them."""
    return line[(line[:, 0] >= 0) & (line[:, 0] < CAMERA.width) & (line[:, 1] < CAMERA.height)]


def eval_tusimple_report(folder, model, *options: str) -> dict:
    """``eval --tusimple folder/labels.json`` with ``options``: its JSON report."""
    report = folder / "report.json"
    assert main(["eval", str(model), "--tusimple", str(folder / "labels.json"),
                 "--json", str(report), *options]) == 0  # fmt: skip
    return json.loads(report.read_text())


def test_pipeline_tracks_metric_boundaries_with_a_configured_homography(road_model):
    scenario = load_scenario("road")
    homography = [float(v) for v in CAMERA.image_to_ground_homography().ravel()]
    scenario.params["front"] = {**scenario.camera("front"), "ground_homography": homography}
    pipeline = SegmentationPipeline(create_engine(road_model), scenario, "front")
    frame = road_frame()
    for _ in range(3):
        result = pipeline.process(frame)
    lanes = result.lanes
    assert lanes is not None and lanes.metric
    assert [b.position for b in lanes.boundaries] == ["left_1", "ego_left", "ego_right", "right_1"]
    assert abs(lanes.ego_lane.width - 3.5) < 0.1
    ids = [b.id for b in lanes.boundaries]
    record = json.loads(json.dumps(result.to_json()))
    assert [b["id"] for b in record["lanes"]["boundaries"]] == ids
    assert record["lanes"]["boundaries"][1]["frame"] == "vehicle_ground"
    overlay = pipeline.overlay(frame, result.mask, lanes=lanes)
    assert overlay.shape == frame.shape and not np.array_equal(overlay, pipeline.overlay(frame, result.mask))
    pipeline.reset_tracking()
    assert [b.id for b in pipeline.process(frame).lanes.boundaries] != ids  # new stream, new ids


def test_pipeline_without_calibration_gives_image_space_boundaries(road_model):
    pipeline = SegmentationPipeline(create_engine(road_model), load_scenario("road"), "front")
    lanes = pipeline.process(road_frame()).lanes
    assert lanes is not None and not lanes.metric
    assert {"ego_left", "ego_right"} <= {b.position for b in lanes.boundaries}
    assert all(b.ground_points is None and b.to_json()["frame"] == "image" for b in lanes.boundaries)


def test_lanes_can_be_disabled(road_model):
    scenario = load_scenario("road")
    scenario.params["lanes"] = {"enabled": False}
    assert (
        SegmentationPipeline(create_engine(road_model), scenario, "front").process(road_frame()).lanes is None
    )


def test_markers_draw_boundaries_in_metres_and_markings():
    pytest.importorskip("visualization_msgs")
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker

    from seg_perception.ros.markers import MarkerStyle, build_marker_array
    from seg_perception.ros.projection import GroundProjection

    mask, image = draw_road(THREE_LANES[1:3], far=14.0, transverse=15.0)
    lanes = LaneExtractor(["background", "lane_marking", "crosswalk"], mapper=MAPPER).extract(mask, image)
    style = MarkerStyle(
        "front", ("background", "lane_marking"), np.array([[0, 0, 0], [255, 212, 0]], np.uint8)
    )
    projection = GroundProjection.from_parameters(
        ground_homography=[float(v) for v in CAMERA.image_to_ground_homography().ravel()]
    )
    markers = build_marker_array(
        header=Header(frame_id="base_link"),
        style=style,
        projection=projection,
        image_size=mask.shape,
        lanes=lanes,
    ).markers
    assert markers[0].action == Marker.DELETEALL
    strips = [m for m in markers if m.ns == "front/lane_boundary"]
    labels = [m for m in markers if m.ns == "front/lane_label"]
    assert sorted(m.id for m in strips) == sorted(b.id for b in lanes.boundaries)
    assert len(labels) == len(strips) and all(m.type == Marker.TEXT_VIEW_FACING for m in labels)
    left = next(m for m in strips if m.id == lanes.boundary_at("ego_left").id)
    assert all(abs(p.y - 1.75) < 0.1 and p.z == 0.0 for p in left.points if 5.0 < p.x < 14.0)
    assert style.line_strip_template.scale.x == style.line_width  # the shared template is untouched
    stop = [m for m in markers if m.ns == "front/stop_line"]
    assert len(stop) == 1 and min(p.x for p in stop[0].points) == pytest.approx(15.0, abs=0.5)


def test_calibrate_command_from_pairs_and_camera_info(tmp_path, capsys):
    ground = np.array([[5.0, 2.0], [5.0, -2.0], [20.0, 3.0], [20.0, -3.0], [40.0, 0.0]])
    pixels = MAPPER.to_image(ground)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(
        "# u v x y\n" + "".join(f"{u} {v} {x} {y}\n" for (u, v), (x, y) in zip(pixels, ground, strict=True))
    )
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.full((360, 640, 3), 80, np.uint8))
    grid, params = tmp_path / "grid.png", tmp_path / "front.yaml"
    assert (
        main(
            [
                "calibrate",
                "--pairs",
                str(pairs),
                "--image",
                str(frame),
                "--grid",
                str(grid),
                "--yaml",
                str(params),
            ]
        )
        == 0
    )
    assert "RMS ground error 0.000 m" in capsys.readouterr().out
    drawn = cv2.imread(str(grid))
    assert drawn is not None and (drawn[:, :, 1] > 200).sum() > 500  # green grid lines over the frame
    import yaml

    matrix = np.asarray(yaml.safe_load(params.read_text())["front"]["ground_homography"]).reshape(3, 3)
    truth = CAMERA.image_to_ground_homography()
    np.testing.assert_allclose(matrix / matrix[2, 2], truth / truth[2, 2], rtol=1e-4, atol=1e-7)

    info = tmp_path / "info.yaml"
    info.write_text(
        "image_width: 640\nimage_height: 360\ncamera_matrix: {data: [420, 0, 320, 0, 420, 180, 0, 0, 1]}\n"
    )
    assert (
        main(
            [
                "calibrate",
                "--camera-info",
                str(info),
                "--height",
                "1.4",
                "--pitch",
                "3",
                "--image",
                str(frame),
            ]
        )
        == 0
    )
    assert "bottom row:" in capsys.readouterr().out
    assert main(["calibrate", "--camera-info", str(info)]) == 1  # no mounting
    assert "--height" in capsys.readouterr().err
    assert main(["calibrate", "--pair", "1,2,3,4"]) == 1  # too few pairs
    assert "at least 4" in capsys.readouterr().err


def test_eval_scores_boundaries_on_tusimple_and_culane_folders(tmp_path, road_model, capsys):
    """Frames with red lane paint and their true lines: the boundaries of the colour model match them."""
    from seg_perception.data.lanes import (
        TuSimpleLabel,
        read_culane_lines,
        read_tusimple_labels,
        write_culane_lines,
        write_tusimple_labels,
    )
    from seg_perception.metrics.lanes import tusimple_frame

    truth = []
    for offset, *_ in THREE_LANES[1:3]:
        xs = np.geomspace(2.0, 45.0, 80)  # the paint: from below the image to 45 m
        truth.append(MAPPER.to_image(np.column_stack([xs, np.full_like(xs, offset)])))
    image = road_frame()
    (tmp_path / "clips").mkdir()
    cv2.imwrite(str(tmp_path / "clips" / "0001.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 98])
    h_samples = list(range(200, 360, 10))
    write_tusimple_labels(
        tmp_path / "labels.json", [TuSimpleLabel.from_polylines("clips/0001.jpg", truth, h_samples)]
    )
    write_culane_lines(tmp_path / "clips" / "0001.lines.txt", truth)

    def eval_tusimple(*options: str) -> int:
        return main(["eval", str(road_model), "--tusimple", str(tmp_path / "labels.json"), *options])

    # the two outer lines are painted but not labelled here: TuSimple's FP counts them
    assert eval_tusimple("--json", str(tmp_path / "s.json")) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("accuracy")[1].split()[0])
    assert accuracy >= 0.95, out
    # the JSON names each frame's scores, so a change's wins and losses can be found
    [frame] = json.loads((tmp_path / "s.json").read_text())["per_frame"]
    assert frame["raw_file"] == "clips/0001.jpg" and frame["num_gt"] == 2
    assert frame["accuracy"] == pytest.approx(accuracy, abs=1e-4) and frame["matched"] == 2
    assert frame["num_pred"] == 4 and frame["fp"] == pytest.approx(0.5)  # the two unlabelled lines
    # the paint itself scores about as the frame's true paint does (the model reads it at 180x320): the
    # ego lines' dash gaps hold labelled points far from any paint, and the unlabelled outer lines'
    # paint lies off the labelled lines
    paint = json.loads((tmp_path / "s.json").read_text())["paint"]
    true_paint = PaintCoverage().update(draw_road(THREE_LANES)[0] == 1, truth, h_samples)
    assert paint["frames"] == 1 and paint["points"] == frame["paint"]["points"] == true_paint.points
    assert paint["point_recall"] == pytest.approx(true_paint.points_near_paint / true_paint.points, abs=0.1)
    assert paint["pixel_precision"] == pytest.approx(
        true_paint.paint_on_lines / true_paint.paint_pixels, abs=0.1
    )
    assert paint["point_recall"] < 0.9 and paint["pixel_precision"] < 0.9, paint
    assert "of the labelled points have lane paint" in out
    # scoring only the ego lane's boundaries, as labelled here: no FP
    assert eval_tusimple("--lanes-per-side", "1", "--json", str(tmp_path / "s1.json")) == 0
    [frame] = json.loads((tmp_path / "s1.json").read_text())["per_frame"]
    assert frame["num_pred"] == 2 and frame["matched"] == 2 and frame["fp"] == 0.0
    # --predictions: the benchmark's own submission form, which its evaluator scores as eval did
    submission = tmp_path / "submissions" / "pred.json"  # its folder made as needed
    assert eval_tusimple("--predictions", str(submission), "--json", str(tmp_path / "s2.json")) == 0
    [submitted] = read_tusimple_labels(submission)
    [frame] = json.loads((tmp_path / "s2.json").read_text())["per_frame"]
    assert submitted.raw_file == "clips/0001.jpg" and submitted.h_samples == h_samples
    assert len(submitted.lanes) == frame["num_pred"] == 4 and submitted.extra["run_time"] > 0
    [label] = read_tusimple_labels(tmp_path / "labels.json")
    rescored = tusimple_frame(submitted.lanes, label.lanes, h_samples)
    assert (
        rescored.accuracy == pytest.approx(frame["accuracy"], abs=0.01)
        and rescored.matched == frame["matched"]
    )
    capsys.readouterr()
    assert (
        main(["eval", str(road_model), "--culane", str(tmp_path), "--predictions", str(tmp_path / "p")]) == 0
    )
    out = capsys.readouterr().out
    assert "CULane" in out and "TP 2" in out and "FN 0" in out, out
    assert len(read_culane_lines(tmp_path / "p" / "clips" / "0001.lines.txt")) == 4  # TP 2 + FP 2
    assert "of the labelled points have lane paint" in out
    # --overlays: the frame with its boundaries and its labelled lines
    assert eval_tusimple("--overlays", str(tmp_path / "o")) == 0
    written = sorted((tmp_path / "o").iterdir())
    assert [p.name for p in written] == ["00000_0001.png"]
    picture = cv2.imread(str(written[0]))
    assert picture.shape == image.shape and np.any(picture != image)


def test_eval_reads_the_lane_labels_generate_writes(tmp_path, road_model, capsys):
    """A folder written by ``generate --tusimple --culane`` is a TuSimple set and a CULane set as it is:
    its PNG frames are found beside their ``.lines.txt`` (CULane's own frames are JPEG)."""
    from seg_perception.data.lanes import CULaneDataset, culane_image_path

    out = tmp_path / "gen"
    generate = ["generate", "--scenario", "highway", "--count", "2", "--size", "90x160", "--no-preview"]
    assert main([*generate, "--tusimple", "--culane", "--out", str(out)]) == 0
    frames = sorted((out / "images").glob("*.png"))
    assert [culane_image_path(p.with_suffix(".lines.txt")) for p in frames] == frames
    assert CULaneDataset(out, list_file=None).images == frames
    capsys.readouterr()
    assert main(["eval", str(road_model), "--culane", str(out)]) == 0
    assert "2 frames" in capsys.readouterr().out
    assert main(["eval", str(road_model), "--tusimple", str(out / "tusimple.json")]) == 0
    assert "(2 frames)" in capsys.readouterr().out


def test_eval_scores_the_lines_the_benchmarks_label_unless_told_every_line(tmp_path, road_model, capsys):
    """TuSimple and CULane label the ego lane's lines and the next one out on each side: by default
    eval scores those boundaries; --lanes-per-side 0 scores every one, for labels of every line."""
    from seg_perception.data.lanes import TuSimpleLabel, write_tusimple_labels

    five_lanes = [*THREE_LANES, (8.75, "dashed", WHITE, 1.0), (-8.75, "dashed", WHITE, 3.0)]
    # a wide lens, so that all six lines cross most rows of the frame
    wide = GroundMapper.from_camera(replace(CAMERA, fx=200.0, fy=200.0))
    mask, _ = draw_road(five_lanes, mapper=wide)
    image = np.full((*mask.shape, 3), 60, np.uint8)
    image[mask == 1] = RED
    (tmp_path / "clips").mkdir()
    cv2.imwrite(str(tmp_path / "clips" / "0001.png"), image)
    xs = np.geomspace(2.0, 45.0, 200)
    every_line = []
    for offset, *_ in five_lanes:
        every_line.append(in_frame(wide.to_image(np.column_stack([xs, np.full_like(xs, offset)]))))
    h_samples = list(range(200, 250, 5))  # the rows where the outer lines are in the frame
    write_tusimple_labels(
        tmp_path / "labels.json", [TuSimpleLabel.from_polylines("clips/0001.png", every_line, h_samples)]
    )

    every = eval_tusimple_report(tmp_path, road_model, "--lanes-per-side", "0")
    [frame] = every["per_frame"]
    assert every["lanes_per_side"] == 0 and frame["num_gt"] == 6 and frame["num_pred"] == 6
    assert frame["matched"] == 6 and frame["fn"] == 0.0
    assert "every boundary" in capsys.readouterr().out
    nearest = eval_tusimple_report(
        tmp_path, road_model
    )  # the default: the ego lane's lines and the next one out, as TuSimple labels them
    [frame] = nearest["per_frame"]
    assert nearest["lanes_per_side"] == 2 and frame["num_pred"] == 4 and frame["fp"] == 0.0
    assert "the 2 nearest boundaries on each side" in capsys.readouterr().out
    assert main(["eval", str(road_model), "--tusimple", str(tmp_path / "labels.json"),
                 "--lanes-per-side", "-1"]) != 0  # fmt: skip
    assert "lanes_per_side" in capsys.readouterr().err


def test_clip_frames_before_a_labelled_frame_in_number_order(tmp_path):
    from seg_perception.training.lane_eval import clip_frames_before

    clip = tmp_path / "clips" / "0530" / "1492626047222176976_0"
    clip.mkdir(parents=True)
    for number in range(1, 21):
        (clip / f"{number}.jpg").touch()
    (clip / "notes.jpg").touch()
    labelled = clip / "20.jpg"
    assert clip_frames_before(labelled, 19) == [clip / f"{number}.jpg" for number in range(1, 20)]
    assert clip_frames_before(labelled, 3) == [clip / "17.jpg", clip / "18.jpg", clip / "19.jpg"]
    assert clip_frames_before(clip / "1.jpg", 19) == []
    assert clip_frames_before(labelled, 0) == []
    assert clip_frames_before(clip / "notes.jpg", 19) == []  # a still, not a clip's frame
    (clip / "12.jpg").unlink()  # a gap ends the clip
    assert clip_frames_before(labelled, 19) == [clip / f"{number}.jpg" for number in range(13, 20)]
    # labelled frames numbered in a row are stills, not one another's clip
    assert clip_frames_before(labelled, 19, {labelled, clip / "17.jpg"}) == [clip / "18.jpg", clip / "19.jpg"]
    stills = tmp_path / "stills"
    stills.mkdir()
    for number in range(1, 4):
        (stills / f"{number:04d}.png").touch()
    assert clip_frames_before(stills / "0003.png", 19) == [stills / "0001.png", stills / "0002.png"]
    assert clip_frames_before(stills / "0003.png", 19, {stills / f"{n:04d}.png" for n in range(1, 4)}) == []


def test_eval_tracks_a_tusimple_clip_up_to_its_labelled_frame(tmp_path, road_model, capsys):
    """The labelled 20th frame misses its left line's paint (a worn stretch); the 19 frames before it show it.
    Scored as the node runs on video, the tracker keeps the boundary; scored alone, the frame misses it."""
    from seg_perception.data.lanes import TuSimpleLabel, write_tusimple_labels

    def frame(lines: list) -> np.ndarray:
        mask, _ = draw_road(lines)
        image = np.full((*mask.shape, 3), 60, np.uint8)
        image[mask == 1] = RED
        return image

    clip = tmp_path / "clips" / "0001"
    clip.mkdir(parents=True)
    for number in range(1, 20):
        cv2.imwrite(str(clip / f"{number}.png"), frame(THREE_LANES))
    worn = [line for line in THREE_LANES if line[0] != 1.75]  # the ego lane's left line gone
    cv2.imwrite(str(clip / "20.png"), frame(worn))
    xs = np.geomspace(2.0, 45.0, 200)
    truth = []
    for offset, *_ in THREE_LANES:  # labelled where they are in the frame
        truth.append(in_frame(MAPPER.to_image(np.column_stack([xs, np.full_like(xs, offset)]))))
    h_samples = list(range(200, 360, 10))
    write_tusimple_labels(
        tmp_path / "labels.json", [TuSimpleLabel.from_polylines("clips/0001/20.png", truth, h_samples)]
    )

    alone = eval_tusimple_report(tmp_path, road_model, "--clip-frames", "0")
    [frame_alone] = alone["per_frame"]
    assert alone["tracked_frames"] == 0 and frame_alone["clip_frames"] == 0
    assert frame_alone["matched"] < 4 and frame_alone["fn"] > 0
    assert "tracked through" not in capsys.readouterr().out
    clip_run = eval_tusimple_report(tmp_path, road_model)
    [frame_tracked] = clip_run["per_frame"]
    assert (
        clip_run["tracked_frames"] == 1 and frame_tracked["clip_frames"] == 10
    )  # the default: the 10 before
    assert frame_tracked["matched"] == 4 and frame_tracked["fn"] == 0.0
    assert "1 of 1 frames tracked through" in capsys.readouterr().out


def test_camera_info_message_calibrates_the_pipeline(road_model):
    pytest.importorskip("sensor_msgs")
    from sensor_msgs.msg import CameraInfo

    from seg_perception.errors import ConfigError
    from seg_perception.ros.projection import GroundProjection, camera_info_projection

    info = CameraInfo(width=640, height=360, k=[420.0, 0.0, 320.0, 0.0, 420.0, 180.0, 0.0, 0.0, 1.0], d=[])
    base = GroundProjection.from_parameters()
    projection = camera_info_projection(info, [1.4, 3.0], base)
    assert projection.metric and not base.metric
    truth = CAMERA.image_to_ground_homography()
    np.testing.assert_allclose(
        projection.homography / projection.homography[2, 2], truth / truth[2, 2], atol=1e-9
    )
    with pytest.raises(ConfigError, match="mounting"):
        camera_info_projection(info, [], base)
    pipeline = SegmentationPipeline(create_engine(road_model), load_scenario("road"), "front")
    assert not pipeline.process(road_frame()).lanes.metric
    pipeline.set_ground(projection.ground_mapper())
    lanes = pipeline.process(road_frame()).lanes
    assert lanes.metric and abs(lanes.ego_lane.width - 3.5) < 0.1


def test_tracked_lanes_as_typed_messages():
    pytest.importorskip("seg_perception.msg")
    from std_msgs.msg import Header

    from seg_perception.interfaces import LaneColor, LanePosition, LaneType
    from seg_perception.ros.typed_messages import tracked_lane_array

    lines = [
        (5.25, "solid", (230, 230, 230), 0.0),
        (1.75, "double", (30, 190, 230), 0.0),
        (-1.75, "dashed", (230, 230, 230), 2.0),
    ]
    mask, image = draw_road(lines, far=30.0)
    lanes = LaneExtractor(["background", "lane_marking", "crosswalk"], mapper=MAPPER).extract(mask, image)
    msg = tracked_lane_array(header=Header(frame_id="base_link"), image_size=mask.shape, lanes=lanes)
    assert msg.metric and (msg.image_height, msg.image_width) == mask.shape
    by_position = {m.position: m for m in msg.boundaries}
    left, right = by_position[LanePosition.EGO_LEFT], by_position[LanePosition.EGO_RIGHT]
    assert by_position[LanePosition.ADJACENT_LEFT].type == LaneType.SOLID
    assert left.type == LaneType.DOUBLE_SOLID and left.color == LaneColor.YELLOW
    assert right.type == LaneType.DASHED and right.color == LaneColor.WHITE
    assert (
        left.has_curve
        and abs(left.curve_coefficients[0] - 1.75) < 0.06
        and len(left.points) == len(left.pixels)
    )
    assert left.has_image_curve and left.image_curve_v_min < left.image_curve_v_max
    assert msg.ego_lane_valid and abs(msg.ego_lane_width - 3.5) < 0.08 and abs(msg.lateral_offset) < 0.05
    uncalibrated = LaneExtractor(["background", "lane_marking", "crosswalk"]).extract(mask, image)
    msg = tracked_lane_array(header=Header(), image_size=mask.shape, lanes=uncalibrated)
    assert not msg.metric and not msg.ego_lane_valid
    assert all(not m.has_curve and not m.points and m.has_image_curve for m in msg.boundaries)


def test_eval_uses_the_lane_settings_the_node_uses(road_model):
    from seg_perception.training.lane_eval import scenario_lane_settings

    scenario = load_scenario("road")
    scenario.params["lanes"] = {"extend_to_m": 25.0, "cluster_gap_m": 0.6, "tracking": {"max_missed": 3}}
    settings, tracking = scenario_lane_settings(scenario)
    pipeline = SegmentationPipeline(create_engine(road_model), scenario, "front")
    assert settings == pipeline._lanes.settings and tracking == pipeline._tracker.settings
    assert (settings.extend_to_m, settings.cluster_gap_m, tracking.max_missed) == (25.0, 0.6, 3)
    # each shipped scenario's own block: the road runs urban lines on only to the frame's farthest paint
    # (any extend_to_m below it), the highway on to a planner's lookahead
    road, highway = (scenario_lane_settings(load_scenario(name))[0] for name in ("road", "highway"))
    assert road.extend_to_m == load_scenario("road").params["lanes"]["extend_to_m"] < highway.extend_to_m
    assert road.unmarked_junction_m > 0.0 == highway.unmarked_junction_m


def test_lane_eval_reports_each_drive_with_its_scene():
    from seg_perception.training.lane_eval import evaluate_lane_drives, format_lane_summary

    frames = 3
    summary = evaluate_lane_drives(
        "highway", predict=None, drives=2, frames=frames, seed_start=200000, size=(270, 480)
    )
    drives = summary["per_drive"]
    assert [d["seed"] for d in drives] == [200000, 200001]
    for drive in drives:
        assert drive["time"] in ("day", "dusk", "night") and drive["weather"]
        assert 20.0 < drive["hfov_deg"] < 120.0 and 0.5 < drive["camera_height_m"] < 3.0
        assert drive["line_styles"] and set(drive["line_styles"]) <= {"solid", "dashed", "double", "dots"}
        assert 0.0 <= drive["tusimple_accuracy"] <= 1.0 and 0.0 <= drive["id_persistence"] <= 1.0
    # every drive has the same number of frames: the overall scores are the drives' means
    for key in ("tusimple_accuracy", "tusimple_fp", "tusimple_fn"):
        assert summary[key] == pytest.approx(np.mean([d[key] for d in drives]))
    text = format_lane_summary(summary)
    for drive in drives:
        assert f"seed {drive['seed']}: TuSimple {drive['tusimple_accuracy']:.3f}" in text
        assert f"({drive['time']}, {drive['weather']}" in text


def test_a_lane_change_keeps_ids_and_renumbers_positions_on_a_generated_drive():
    """A generated drive in which the car moves one lane over (seed 4248: to the right over 3.6 s,
    across a solid line), scored with the true masks and the highway's settings: the crossed line
    keeps its id all along (the blob test once cut it to its centre: id persistence 0.77) and
    positions follow the lines as the truth names them."""
    from seg_perception.training.lane_eval import evaluate_lane_drives, format_lane_summary

    summary = evaluate_lane_drives(
        "highway", predict=None, drives=1, frames=150, seed_start=4248, size=(270, 480), lane_change_p=1.0
    )
    assert summary["per_drive"][0]["lane_change"] is True
    assert summary["id_persistence"] == 1.0
    assert summary["position_accuracy"] >= 0.97 and summary["position_pairs"] > 250
    assert "position right in" in format_lane_summary(summary)
    assert summary["by_scene"]["lane change"]["drives"] == 1


def test_lane_eval_also_scores_the_boundaries_against_the_generators_labels():
    """Beside the drives' truth, the same boundaries are scored against the labels ``generate --tusimple``
    writes of each frame (a line ends at the last paint in sight, as a labeller stops): the true masks'
    boundaries match both; a model that paints nothing matches neither."""
    from seg_perception.training.lane_eval import evaluate_lane_drives, format_lane_summary

    def drives(predict):
        return evaluate_lane_drives(
            "highway", predict=predict, drives=2, frames=3, seed_start=200000, size=(270, 480)
        )

    oracle = drives(None)
    assert oracle["labels_tusimple_frames"] == oracle["tusimple_frames"] == 6
    assert oracle["labels_tusimple_accuracy"] > 0.9 and oracle["tusimple_accuracy"] > 0.9
    assert f"accuracy {oracle['labels_tusimple_accuracy']:.4f}" in format_lane_summary(oracle)
    blind = drives(lambda image: np.zeros(image.shape[:2], np.uint8))
    assert blind["labels_tusimple_accuracy"] == blind["tusimple_accuracy"] == 0.0
    assert blind["labels_tusimple_fn"] == 1.0


def test_lane_eval_reports_how_much_of_the_true_lines_the_paint_covers():
    """The true masks' paint lies on the scored lines (all but other lines' and markings' paint) and
    covers most of their points (not the dash gaps); a model that paints nothing covers none."""
    from seg_perception.training.lane_eval import evaluate_lane_drives, format_lane_summary

    def drives(predict):
        return evaluate_lane_drives(
            "highway", predict=predict, drives=2, frames=3, seed_start=200000, size=(270, 480)
        )

    truth = drives(None)
    assert 0.8 <= truth["paint_pixel_precision"] <= 1.0, truth
    assert 0.3 <= truth["paint_point_recall"] < 1.0, truth
    assert "of the scored lines' points have lane paint" in format_lane_summary(truth)
    nothing = drives(lambda image: np.zeros(image.shape[:2], np.uint8))
    assert nothing["paint_point_recall"] == 0.0 and np.isnan(nothing["paint_pixel_precision"])


def test_lane_eval_overlays_show_boundaries_over_the_true_lines(tmp_path):
    from seg_perception.training.lane_eval import evaluate_lane_drives

    evaluate_lane_drives(
        "highway",
        predict=None,
        drives=1,
        frames=12,
        seed_start=200000,
        size=(270, 480),
        overlays=tmp_path,
        overlay_every=10,
    )
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["drive200000_000.png", "drive200000_010.png"]
    picture = cv2.imread(str(tmp_path / written[0]))
    assert picture.shape == (270, 480, 3)
    cyan = np.all(picture == (255, 255, 0), axis=2)  # the true lines
    green = (picture[..., 1] > 180) & (picture[..., 0] < 120) & (picture[..., 2] < 120)  # ego boundaries
    assert cyan.sum() > 50 and green.sum() > 50


def test_the_drives_true_lines_run_to_the_frame_edge():
    """The truth a drive is scored against starts where each line enters the frame (the bottom row
    or a side), as a labelled real frame's lines do; it used to start one sample spacing inside,
    so a boundary that reached the bottom row was scored wrong there."""
    from seg_perception.config import load_scenario
    from seg_perception.training.lane_eval import _frames, drive_world, lanes_of_sample, true_lanes

    height, width = size = (270, 480)
    config = load_scenario("highway")
    sample = next(_frames(config, 200000, 2, size, 30.0))
    truths = [true_lanes(drive_world(config, 200000, 2, size, 30.0), sample.meta["time_s"])]
    if getattr(sample, "lanes", None):
        truths.append(lanes_of_sample(sample.lanes, size))
    for truth in truths:
        assert truth
        on_bottom = 0
        for lane in truth:
            image = lane.image
            assert np.all((image >= -1e-9) & (image <= [width - 1 + 1e-9, height - 1 + 1e-9]))
            near = image[np.argmax(image[:, 1])]  # the line's lowest point
            on_edge = min(near[0], width - 1 - near[0], height - 1 - near[1])
            assert on_edge == pytest.approx(0.0, abs=1e-6), near
            on_bottom += bool(abs(near[1] - (height - 1)) < 1e-6)
        assert on_bottom >= 2  # the ego lane's lines enter through the bottom row


def test_a_line_the_frame_never_shows_is_not_scored():
    """The drives' truth keeps the lines a labeller could mark, as the generator's TuSimple labels
    do: a line hidden all along (under a snow bank) is left out, a line seen anywhere keeps its
    whole course through what hides it."""
    from seg_perception.data.lanes import scene_lane_polylines
    from seg_perception.data.synthetic.sample import LaneTruth
    from seg_perception.training.lane_eval import lanes_of_sample

    height, width = size = (270, 480)
    forward = np.linspace(3.0, 40.0, 12)

    def line(lane_id: int, offset: float, visible: np.ndarray) -> LaneTruth:
        image = np.column_stack([np.full_like(forward, 100.0 + 100 * lane_id), np.linspace(269, 140, 12)])
        ground = np.column_stack([np.full_like(forward, offset), forward])
        return LaneTruth(lane_id, lane_id, "solid", "white", ground, image, visible)

    buried = line(0, -1.8, np.zeros(12, bool))
    glimpsed = np.zeros(12, bool)
    glimpsed[5:8] = True  # a vehicle hides the rest
    partly = line(1, 1.8, glimpsed)
    truth = lanes_of_sample([buried, partly], size)
    assert [lane.index for lane in truth] == [1]
    assert len(truth[0].image) == 12  # its whole course, not only the glimpse
    assert not buried.in_sight and partly.in_sight

    sample = SimpleNamespace(mask=np.zeros((height, width), np.uint8), lanes=[buried, partly])
    assert [len(points) for points in scene_lane_polylines(sample)] == [3]  # the labels agree


def test_the_generators_lane_labels_run_to_the_frame_edge():
    """A TuSimple / CULane label the generator writes starts where its line enters the frame or comes
    out from under the hood, as a labeller draws it and as the drives' truth does: the generator
    samples a line every few metres, so its nearest sample in sight can lie tens of rows above that
    edge, and a label that started there scored a boundary drawn down to the edge as wrong on the
    rows between. A line a vehicle hides up to some point starts where it is seen."""
    from seg_perception.data.lanes import scene_lane_polylines, scene_tusimple_label
    from seg_perception.data.synthetic.sample import LaneTruth

    height, width = (720, 1280)
    ground = np.column_stack([np.full(5, -1.8), np.linspace(2.0, 30.0, 5)])
    seen = np.array([False, True, True, True, True])

    def line(lane_id: int, columns: tuple[float, float], rows: list[float]) -> LaneTruth:
        image = np.column_stack([np.linspace(*columns, 5), rows])
        return LaneTruth(lane_id, lane_id, "solid", "white", ground, image, seen)

    entering = line(0, (400.0, 600.0), [760.0, 690.0, 600.0, 500.0, 420.0])  # first sample below the frame
    behind_a_car = line(1, (900.0, 700.0), [719.0, 690.0, 600.0, 500.0, 420.0])  # first sample hidden
    road = SimpleNamespace(mask=np.zeros((height, width), np.uint8), lanes=[entering, behind_a_car], meta={})
    from_bottom, from_car = scene_lane_polylines(road)
    assert from_bottom[0] == pytest.approx([400.0 + 50.0 * 41.0 / 70.0, height - 1.0])  # on the bottom row
    assert from_car[0] == pytest.approx([850.0, 690.0])  # its first sample seen
    label = scene_tusimple_label(road, "x.png")
    bottom = label.h_samples.index(710.0)
    assert label.lanes[0][bottom] >= 0 and label.lanes[1][bottom] < 0

    hood = np.array([[0.0, 700.0], [width - 1.0, 700.0]])  # the hood's edge on row 700
    hooded = SimpleNamespace(
        mask=np.zeros((height, width), np.uint8), lanes=[behind_a_car], meta={"hood_edge_px": hood}
    )
    (from_hood,) = scene_lane_polylines(hooded)
    assert from_hood[0] == pytest.approx([900.0 - 50.0 * 19.0 / 29.0, 700.0])  # on the hood's edge


def test_a_short_stretch_in_a_frame_corner_is_scored_as_the_labels_hold_it():
    """A line whose stretch shows two samples in the frame (between its side and a stop line) is a
    line of the generator's TuSimple labels, and so of the drives' truth: boundaries drawn on it are
    not false ones."""
    from seg_perception.data.lanes import scene_lane_polylines
    from seg_perception.data.synthetic.sample import LaneTruth
    from seg_perception.training.lane_eval import lanes_of_sample

    height, width = size = (270, 480)
    columns = np.array([-60.0, -30.0, 5.0, 25.0])  # enters through the left side, two samples inside
    image = np.column_stack([columns, np.linspace(200, 185, 4)])
    ground = np.column_stack([np.full(4, -5.4), np.linspace(8.0, 9.5, 4)])
    stub = LaneTruth(0, -2, "solid", "white", ground, image, np.array([False, False, True, True]))
    sample = SimpleNamespace(mask=np.zeros((height, width), np.uint8), lanes=[stub])
    (label,) = scene_lane_polylines(sample)
    assert len(label) == 3 and label[0, 0] == pytest.approx(0.0)  # the two samples and the frame's edge
    assert [lane.index for lane in lanes_of_sample([stub], size)] == [0]


def test_a_line_cut_by_a_junction_is_one_true_lane_before_it_or_across_it():
    """The generator cuts a line where a junction interrupts its paint; the drives' truth scores its
    stretch up to the junction, or the stretch across it once the car is at the junction (the frame
    shows none of the lines before it, or none for AT_JUNCTION_M), never both (two true lanes on one
    line pushed the next line out of the scored set). The generator's TuSimple / CULane labels take the
    same stretches (they labelled both: six to nine lanes on a frame of an urban drive)."""
    from seg_perception.data.lanes import scene_lane_polylines
    from seg_perception.data.synthetic.sample import LaneTruth
    from seg_perception.postprocess.lanes import AT_JUNCTION_M
    from seg_perception.training.lane_eval import lanes_by_side, lanes_of_sample, nearest_lanes

    size = (270, 480)

    def stretch(lane_id: int, offset: float, near: float, far: float, seen: bool) -> LaneTruth:
        forward = np.linspace(near, far, 8)
        # the first sample lies half a row below the frame, as the generator's does
        rows = np.linspace(269.5, 140, 8) if near < 10.0 else np.linspace(180, 130, 8)
        image = np.column_stack([np.full(8, 240.0 + 40.0 * offset), rows])
        ground = np.column_stack([np.full(8, offset), forward])
        return LaneTruth(lane_id, lane_id, "solid", "white", ground, image, np.full(8, seen))

    def lines(before_seen: bool, junction_at: float) -> list[LaneTruth]:
        found = []
        for lane_id, offset in enumerate((-5.4, -1.8, 1.8, 5.4)):
            found.append(stretch(lane_id, offset, 3.0, junction_at, before_seen))  # up to the junction
            found.append(stretch(lane_id, offset, 20.0, 60.0, True))  # across it
        return found

    def scored(before_seen: bool, junction_at: float = 8.0) -> list[tuple[int, float]]:
        lanes = lines(before_seen, junction_at)
        truth = nearest_lanes(*lanes_by_side(lanes_of_sample(lanes, size)), 2)
        labels = scene_lane_polylines(SimpleNamespace(mask=np.zeros(size, np.uint8), lanes=lanes, meta={}))
        nearest_rows = [float(label[:, 1].max()) for label in labels]  # before the junction: 251
        before = truth[0].ground[0, 0] < 20.0
        assert len(labels) == 4 and all((row > 200) == before for row in nearest_rows), nearest_rows
        return sorted((lane.index, round(float(lane.ground[0, 0]), 3)) for lane in truth)

    assert scored(before_seen=True) == [(0, 3.0), (1, 3.0), (2, 3.0), (3, 3.0)]  # all four lines, once
    assert scored(before_seen=False) == [(0, 20.0), (1, 20.0), (2, 20.0), (3, 20.0)]  # at the junction
    # the lines before it are in sight, but for less than AT_JUNCTION_M: the car is at the junction
    assert scored(True, junction_at=3.0 + 0.8 * AT_JUNCTION_M) == [(0, 20.0), (1, 20.0), (2, 20.0), (3, 20.0)]
    assert scored(True, junction_at=3.0 + 1.2 * AT_JUNCTION_M)[0][1] < 20.0


def test_a_lines_stretches_across_junctions_are_told_apart_for_id_persistence():
    """Id persistence follows each painted stretch: the stretch of a line across a junction is
    another line (with an id of its own), the same stretch seen from farther on is not."""
    from seg_perception.training.lane_eval import junctions_before

    world = SimpleNamespace(gaps=[(10.0, 22.0), (80.0, 95.0)])
    assert [junctions_before(world, s) for s in (3.0, 9.0)] == [0, 0]  # before the first junction
    assert [junctions_before(world, s) for s in (22.4, 40.0, 79.0)] == [1, 1, 1]  # across it
    assert junctions_before(world, 96.0) == 2
    assert junctions_before(SimpleNamespace(gaps=[]), 500.0) == 0  # a highway: one stretch per line


def test_lane_eval_scores_the_published_line_types_against_the_generators():
    from collections import Counter

    from seg_perception.metrics.lanes import TuSimpleMetrics
    from seg_perception.training.lane_eval import LaneScores, evaluate_lane_drives, format_lane_summary

    scores = LaneScores(TuSimpleMetrics(), types=Counter({("dashed", "dashed"): 3, ("dashed", "solid"): 1}))
    summary = scores.summary()
    assert summary["line_type_accuracy"] == pytest.approx(0.75) and summary["line_type_pairs"] == 4
    assert summary["line_types"] == {"dashed->dashed": 3, "dashed->solid": 1}
    assert "line_type_accuracy" not in LaneScores(TuSimpleMetrics()).summary()  # nothing matched, no score

    # on the true masks every matched line is typed, from the styles the extractor names (dots have none)
    summary = evaluate_lane_drives(
        "highway", predict=None, drives=2, frames=3, seed_start=200000, size=(270, 480)
    )
    assert summary["line_type_pairs"] == sum(summary["line_types"].values()) > 0
    assert {pair.split("->")[0] for pair in summary["line_types"]} <= {"solid", "dashed", "double"}
    assert summary["line_type_accuracy"] > 0.8
    assert "line type right in" in format_lane_summary(summary)
    # without a calibration the lines are matched in the image, as TuSimple matches them
    image_space = evaluate_lane_drives(
        "highway", predict=None, drives=2, frames=3, seed_start=200000, size=(270, 480), calibrated=False
    )
    assert image_space["line_type_pairs"] > 0 and image_space["line_type_accuracy"] > 0.8
    assert "line type right in" in format_lane_summary(image_space)
    # ids, the ego lane and positions are scored in metres only: absent in image space, not 0
    assert summary["id_persistence"] > 0.9 and "ego_boundary_missing" in summary
    metric_only = ("id_persistence", "line_detected", "ego_boundary_missing", "position_accuracy")
    assert not any(key in image_space for key in metric_only)
    assert "id persistence" not in format_lane_summary(image_space)


def test_lane_eval_breaks_its_drives_down_by_scene():
    from seg_perception.training.lane_eval import format_lane_summary, scene_breakdown

    def drive(accuracy: float, **scene: object) -> dict[str, object]:
        return {"tusimple_accuracy": accuracy, "tusimple_fp": 1.0 - accuracy, "tusimple_fn": 0.0, **scene}

    per_drive = [
        drive(0.9, time="day", weather="snow", wet=0.0, worn_lines=2),
        drive(0.7, time="day", weather="clear", low_sun=True, line_styles=["dots", "solid"]),
        drive(0.5, time="night", weather="snow", wet=0.4, worn_lines=0),
    ]
    groups = scene_breakdown(per_drive)
    facets = ["day", "night", "clear", "snow", "low sun", "wet road", "worn lines", "Botts' dots"]
    assert list(groups) == facets  # those some drive has, in SCENE_FACETS' order
    assert groups["day"]["drives"] == 2 and groups["day"]["accuracy"] == pytest.approx(0.8)
    assert groups["snow"]["fp"] == pytest.approx(0.3) and groups["snow"]["fn"] == 0.0
    assert [groups[name]["drives"] for name in facets[-3:]] == [1, 1, 1]
    assert scene_breakdown([]) == {}
    printed = format_lane_summary(evaluate_summary_stub(groups))
    assert "by scene (drives: accuracy / FP / FN): day 2: 0.800 / 0.200 / 0.000" in printed


def evaluate_summary_stub(groups: dict[str, dict[str, float | int]]) -> dict[str, object]:
    """The least a lane summary holds for format_lane_summary (image space, no drives listed)."""
    return {
        "calibrated": False,
        "source": "model",
        "scenario": "highway",
        "seeds": "1..3",
        "frames_per_drive": 1,
        "tusimple_accuracy": 0.7,
        "tusimple_fp": 0.3,
        "tusimple_fn": 0.0,
        "tusimple_frames": 3,
        "by_scene": groups,
    }
