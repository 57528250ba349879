"""``seg-perception predict`` and the Python API on images, folders and videos (no ROS)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import seg_perception
from seg_perception.cli import main
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.reporting import count_video_frames

REAL_VIDEO = Path("realdata/front/highway_960x540/solidWhiteRight.mp4")
SHARED_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "shared",
    Path(__file__).resolve().parents[3] / "shared",
)


def stripe_image(height=96, width=128, offset=0):
    """Dark frame with one bright diagonal stripe: the tiny ``threshold`` model's only lane."""
    image = np.full((height, width, 3), 20, np.uint8)
    cv2.line(image, (20 + offset, height - 1), (70 + offset, 10), (255, 255, 255), 9)
    return image


@pytest.fixture
def lane_model(tiny_onnx_model):
    return tiny_onnx_model("highway", kind="threshold")


def test_python_api_in_three_lines(lane_model):
    pipeline = seg_perception.SegmentationPipeline.load(model_file=lane_model)
    result = pipeline.process(stripe_image())
    assert pipeline.scenario.name == "highway" and pipeline.camera == "front"
    assert result.mask.shape == (96, 128) and set(np.unique(result.mask)) == {0, 1}
    assert [p.class_name for p in result.polygons] == ["lane_marking"]
    picture = pipeline.draw(stripe_image(), result)
    assert picture.shape == (96, 128, 3) and not np.array_equal(picture, stripe_image())
    pipeline.close()


def test_api_builds_a_scenario_from_a_foreign_models_metadata(tiny_onnx_model):
    model = tiny_onnx_model("highway", kind="bright_green", classes=("background", "curb", "arrow"))
    with SegmentationPipeline.load(model_file=model) as pipeline:
        assert pipeline.class_names == ("background", "curb", "arrow")
        assert pipeline.camera == "camera"
        assert pipeline.process(stripe_image()).mask.max() >= 1


def test_api_refuses_a_model_of_another_scenario(lane_model):
    with pytest.raises(seg_perception.errors.ModelFileError, match="parking"):
        SegmentationPipeline.load("parking", model_file=lane_model)


def test_predict_folder_writes_overlays_masks_json_and_reports_unreadable(tmp_path, lane_model, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), stripe_image())
    cv2.imwrite(str(folder / "b.jpg"), stripe_image(offset=30))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model-file", str(lane_model), "--out", str(out)]) == 0
    for name in ("a", "b"):
        overlay = cv2.imread(str(out / "overlays" / f"{name}.png"))
        mask = cv2.imread(str(out / "masks" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert overlay.shape == (96, 128, 3) and mask.shape == (96, 128)
        bright = stripe_image(offset=0 if name == "a" else 30)[..., 0] > 128
        assert (mask[bright] == 1).mean() > 0.9 and (mask[~bright] == 0).mean() > 0.9
        record = json.loads((out / "json" / f"{name}.json").read_text())
        assert record["image_size"] == [96, 128] and record["polygons"][0]["class"] == "lane_marking"
        assert "boundaries" in record["lanes"]  # front scenarios: the lane boundaries, as process writes them
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 2 and summary["unreadable"] == ["broken"]
    assert "broken" in capsys.readouterr().err


def test_predict_with_no_readable_frame_says_so_without_a_latency(tmp_path, lane_model, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"")
    assert (
        main(["predict", str(broken), "--model-file", str(lane_model), "--out", str(tmp_path / "out")]) != 0
    )
    out, err = capsys.readouterr()
    assert "error: no frame of" in err
    assert "predict: 0 frames at 0.0 fps (pipeline p50 - ms), 1 unreadable" in out and "nan" not in out


def test_predict_takes_each_still_of_a_folder_alone(tmp_path, lane_model):
    # two unrelated pictures: the first one's lines must not coast into the second (as a video's would)
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), stripe_image(offset=0))
    cv2.imwrite(str(folder / "b.png"), stripe_image(offset=50))
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model-file", str(lane_model), "--out", str(out)]) == 0
    records = [json.loads((out / "json" / f"{name}.json").read_text()) for name in ("a", "b")]
    assert all(record["lanes"]["boundaries"] for record in records)
    for record in records:
        assert [b["missed_frames"] for b in record["lanes"]["boundaries"]] == [0] * len(
            record["lanes"]["boundaries"]
        )


def test_predict_sequence_tracks_a_folder_of_one_videos_frames_in_natural_order(tmp_path, lane_model, capsys):
    """A clip dumped to files (TuSimple's 1.jpg ... 20.jpg): --sequence FPS reads it as one video, so a
    frame that misses its line keeps the boundary the frames before it found, as a video's would."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for number in range(1, 12):
        cv2.imwrite(str(folder / f"{number}.png"), stripe_image(offset=number))
    cv2.imwrite(str(folder / "12.png"), np.full((96, 128, 3), 20, np.uint8))  # the line hidden
    out = tmp_path / "out"
    argv = ["predict", str(folder), "--model-file", str(lane_model), "--out", str(out), "--video", "none"]
    assert main([*argv, "--sequence", "20"]) == 0
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [record["frame_index"] for record in records] == list(range(12))
    assert [record["stamp_ns"] for record in records] == [k * 50_000_000 for k in range(12)]
    ids = [[b["id"] for b in record["lanes"]["boundaries"]] for record in records]
    assert ids[0] and all(
        frame_ids == ids[0] for frame_ids in ids[1:11]
    )  # 10.png after 9.png, not after 1.png
    [held] = records[-1]["lanes"]["boundaries"]
    assert held["id"] == ids[0][0] and held["missed_frames"] == 1
    assert json.loads((out / "summary.json").read_text())["kind"] == "sequence"
    # without --sequence the same folder is stills: the last frame has no boundary
    assert main([*argv[:-2], "--out", str(tmp_path / "stills")]) == 0
    assert json.loads((tmp_path / "stills" / "json" / "12.json").read_text())["lanes"]["boundaries"] == []
    assert main([*argv, "--sequence", "0"]) == 1
    assert main([*argv, "--sequence", "20"]) == 0
    image = folder / "1.png"
    assert main(["predict", str(image), "--model-file", str(lane_model), "--sequence", "20"]) == 1
    assert "reads a folder of frames as a video" in capsys.readouterr().err


def write_video(path, frames, fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def test_predict_video_writes_jsonl_video_and_preview(tmp_path, lane_model):
    video = tmp_path / "drive.mp4"
    write_video(video, [stripe_image(offset=k * 4) for k in range(6)])
    out = tmp_path / "out"
    argv = ["predict", str(video), "--model-file", str(lane_model), "--out", str(out), "--max-frames", "4"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [record["frame_index"] for record in lines] == [0, 1, 2, 3]
    assert [record["stamp_ns"] for record in lines] == [0, 100_000_000, 200_000_000, 300_000_000]
    assert all(record["polygons"] for record in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert count_video_frames(summary["outputs"]["video"]) == 4
    assert (out / "preview.png").is_file() and not (out / "overlays").exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [("missing.png", "does not exist"), ("notes.txt", "unknown file type"), ("empty", "holds no images")],
)
def test_predict_input_errors_name_the_input(tmp_path, lane_model, capsys, source, message):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    argv = ["predict", str(tmp_path / source), "--model-file", str(lane_model), "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and source in err


def test_predict_wrong_scenario_for_the_model_fails_with_the_fix(tmp_path, lane_model, capsys):
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", stripe_image())[1].tobytes())
    argv = ["predict", str(tmp_path / "a.png"), "--scenario", "parking", "--model-file", str(lane_model)]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 1
    assert "set model_file to the parking model" in capsys.readouterr().err


def test_predict_on_the_real_highway_video(tmp_path):
    shared = next((path for path in SHARED_CANDIDATES if (path / REAL_VIDEO).is_file()), None)
    if shared is None:
        pytest.skip("shared/realdata is not beside this checkout")
    out = tmp_path / "real"
    argv = [
        "predict",
        str(shared / REAL_VIDEO),
        "--scenario",
        "highway",
        "--out",
        str(out),
        "--max-frames",
        "3",
    ]
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(record["image_size"] == [540, 960] for record in records)
    assert all(len(record["polygons"]) >= 2 for record in records)  # the solid and the dashed line at least
    for record in records:  # and as lane boundaries: the ego lane's two
        positions = {boundary["position"] for boundary in record["lanes"]["boundaries"]}
        assert {"ego_left", "ego_right"} <= positions


def test_predict_says_when_avm_frames_are_not_the_size_their_scale_was_set_for_and_takes_theirs(
    tmp_path, capsys
):
    image = np.full((300, 300, 3), 90, np.uint8)
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", image)[1].tobytes())
    base = ["predict", str(tmp_path / "a.png"), "--scenario", "parking", "--threads", "1"]
    assert main([*base, "--out", str(tmp_path / "as_set")]) == 0
    err = capsys.readouterr().err
    assert "300x300" in err and "metres_per_pixel 0.02" in err and "--metres-per-pixel" in err
    argv = [
        *base,
        "--metres-per-pixel",
        "0.0333",
        "--origin-px",
        "150",
        "150",
        "--out",
        str(tmp_path / "given"),
    ]
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err
    record = json.loads((tmp_path / "given" / "json" / "a.json").read_text())
    assert record["metres_per_pixel"] == pytest.approx(0.0333)
    assert record["origin_px"] == pytest.approx([150.0, 150.0])
