"""make-bag → bag → read back, through MCAP and sqlite3, raw and JPEG-compressed."""

import json

import cv2
import numpy as np
import pytest
import yaml

from seg_perception.bags import frame_json, messages, topics
from seg_perception.bags.errors import BagError
from seg_perception.bags.storage import BagReader
from seg_perception.cli import main
from seg_perception.data.synthetic import generate_drive
from seg_perception.postprocess.camera_model import CameraModel, Mounting, camera_info_mapping

SIZE = (48, 64)
SECONDS = 0.2
FRAMES = 6  # 0.2 s at 30 Hz


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("compressed", [False, True])
def test_round_trip_keeps_frames_stamps_and_ground_truth(synthetic_bag, storage, compressed):
    options = ("--storage", storage, *(["--compressed"] if compressed else []))
    bag = synthetic_bag("parking", seconds=SECONDS, size="48x64", seed=3, options=options)
    expected = list(generate_drive("parking", 3, FRAMES, size=SIZE, fps=30.0))
    image_topic = topics.image_topic("avm", compressed=compressed)
    start = int(topics.DEFAULT_START_TIME_S * 1e9)

    with BagReader(bag) as reader:
        assert reader.message_counts == {
            image_topic: FRAMES,
            "/camera/avm/ground_truth/mask": FRAMES,
            "/camera/avm/ground_truth/polygons": FRAMES,
        }
        by_topic = {}
        for message in reader.messages():
            by_topic.setdefault(message.topic, []).append(message)

    for index, (sample, image_msg, mask_msg, json_msg) in enumerate(
        zip(
            expected,
            *(
                by_topic[t]
                for t in (
                    image_topic,
                    topics.ground_truth_mask_topic("avm"),
                    topics.ground_truth_polygons_topic("avm"),
                )
            ),
            strict=True,
        )
    ):
        stamp = start + round(index * 1e9 / 30.0)
        image = image_msg.decode()
        assert image_msg.timestamp_ns == stamp == messages.stamp_ns(image)
        assert image.header.frame_id == "camera_avm_optical_frame"
        pixels = messages.decode_image(image, image_msg.msgtype)
        if compressed:  # the frame is the JPEG of the scene (quality 90, make-bag's default)
            ok, encoded = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            assert np.abs(pixels.astype(int) - cv2.imdecode(encoded, cv2.IMREAD_COLOR)).mean() < 1.0
        else:
            np.testing.assert_array_equal(pixels, sample.image)
        mask = mask_msg.decode()
        assert messages.stamp_ns(mask) == stamp and mask.encoding == "mono8"
        np.testing.assert_array_equal(messages.decode_mask(mask), sample.mask)
        record = json.loads(json_msg.decode().data)
        assert record["stamp_ns"] == stamp and record["camera"] == "avm"
        assert record["stamp"] == {"sec": stamp // 10**9, "nanosec": stamp % 10**9}
        assert [p["vertices"] for p in record["polygons"]] == [
            p.to_json()["vertices"] for p in sample.polygons
        ]
        assert len(record["slots"]) == len(sample.slots)
        for slot_json, slot in zip(record["slots"], sample.slots, strict=True):
            metres = np.asarray(slot_json["vertices_m"])
            scale, (u0, v0) = sample.meta["metres_per_pixel"], sample.meta["origin_px"]
            np.testing.assert_allclose(metres[:, 0], (v0 - slot.corners[:, 1]) * scale, atol=2e-3)
            np.testing.assert_allclose(metres[:, 1], (u0 - slot.corners[:, 0]) * scale, atol=2e-3)
        marks = frame_json.marking_point_positions(record, visible_only=False)
        expected_marks = np.array([m.position for m in sample.marking_points]).reshape(-1, 2)
        if len(expected_marks):
            np.testing.assert_allclose(marks, expected_marks, atol=0.01)


def test_two_scenarios_share_one_timeline(tmp_path):
    bag = tmp_path / "both"
    assert (
        main(
            [
                "make-bag",
                "--scenario",
                "highway",
                "--scenario",
                "parking",
                "--seconds",
                "0.1",
                "--size",
                "32x48",
                "--out",
                str(bag),
                "--no-ground-truth",
            ]
        )
        == 0
    )
    with BagReader(bag) as reader:
        assert set(reader.topics) == {"/camera/front/image_raw", "/camera/avm/image_raw"}
        stamps = {}
        for message in reader.messages():
            stamps.setdefault(message.topic, []).append(messages.stamp_ns(message.decode()))
        assert stamps["/camera/front/image_raw"] == stamps["/camera/avm/image_raw"]
        assert len(stamps["/camera/front/image_raw"]) == 3
        assert json.loads(reader.custom_data["seg_perception.drive"])["scenarios"] == ["highway", "parking"]


def test_existing_output_needs_overwrite(tmp_path, capsys):
    bag = tmp_path / "drive"
    argv = ["make-bag", "--scenario", "parking", "--size", "48x64", "--out", str(bag)]
    assert main([*argv, "--seconds", str(SECONDS)]) == 0
    capsys.readouterr()
    assert main([*argv, "--seconds", "0.1"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--seconds", "0.1", "--overwrite"]) == 0
    with BagReader(bag) as reader:
        assert reader.message_counts["/camera/avm/image_raw"] == 3


def _camera_info() -> dict:
    """A calibrated camera's CameraInfo YAML (camera_calibration's form), with a lens."""
    camera = CameraModel(64, 48, 60.0, 58.0, 31.0, 25.0, Mounting(1.4, 0.0), (-0.2, 0.03, 0.001, -0.002, 0.0))
    return camera.camera_info()


def test_a_real_cameras_video_becomes_a_bag_with_its_camera_info(tmp_path):
    """``make-bag --from``: a video's frames at its own rate on the camera's topic, its CameraInfo beside
    every frame with the same stamp, no ground truth."""
    video = tmp_path / "dashcam.avi"
    colours = [(40 * i, 255 - 40 * i, 128) for i in range(6)]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for colour in colours:
        writer.write(np.full((48, 64, 3), colour, np.uint8))
    writer.release()
    info = tmp_path / "camera_info.yaml"
    info.write_text(yaml.safe_dump(_camera_info()))
    bag = tmp_path / "bag"
    assert (
        main(
            [
                "make-bag",
                "--scenario",
                "highway",
                "--from",
                str(video),
                "--camera-info",
                str(info),
                "--out",
                str(bag),
            ]
        )
        == 0
    )
    with BagReader(bag) as reader:
        assert set(reader.topics) == {"/camera/front/image_raw", "/camera/front/camera_info"}
        images = [
            (messages.stamp_ns(m.decode()), m.decode()) for m in reader.messages(["/camera/front/image_raw"])
        ]
        infos = [m.decode() for m in reader.messages(["/camera/front/camera_info"])]
        recording = json.loads(reader.custom_data["seg_perception.drive"])
    start = int(topics.DEFAULT_START_TIME_S * 1e9)
    assert [stamp for stamp, _ in images] == [start + i * 100_000_000 for i in range(6)]  # the video's 10 Hz
    assert [messages.stamp_ns(m) for m in infos] == [stamp for stamp, _ in images]
    for (_, msg), colour in zip(images, colours, strict=True):
        assert msg.header.frame_id == topics.camera_frame_id("front")
        assert (
            np.abs(
                messages.decode_image(msg, topics.IMAGE_MSGTYPE).astype(int).mean(axis=(0, 1)) - colour
            ).max()
            < 12
        )
    read = CameraModel.from_camera_info(camera_info_mapping(infos[0]), Mounting(1.4, 0.0))
    expected = CameraModel.from_camera_info(_camera_info(), Mounting(1.4, 0.0))
    assert (read.fx, read.fy, read.cx, read.cy, read.distortion) == (
        expected.fx,
        expected.fy,
        expected.cx,
        expected.cy,
        expected.distortion,
    )
    assert recording["camera"] == "front" and recording["fps"] == 10.0


def test_a_folder_of_frames_becomes_a_bag_in_natural_order(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for index in (1, 2, 10):  # 10.png after 2.png
        cv2.imwrite(str(folder / f"{index}.png"), np.full((48, 64, 3), index * 20, np.uint8))
    bag = tmp_path / "bag"
    argv = ["make-bag", "--scenario", "parking", "--from", str(folder), "--fps", "5", "--size", "24x32"]
    assert main([*argv, "--compressed", "--out", str(bag)]) == 0
    with BagReader(bag) as reader:
        assert set(reader.topics) == {"/camera/avm/image_raw/compressed"}
        frames = [messages.decode_image(m.decode(), m.msgtype) for m in reader.messages()]
    assert [f.shape for f in frames] == [(24, 32, 3)] * 3
    assert [round(float(f.mean()) / 20) for f in frames] == [1, 2, 10]
    assert main([*argv, "--seconds", "0.4", "--overwrite", "--out", str(bag)]) == 0  # 2 frames at 5 Hz
    with BagReader(bag) as reader:
        assert reader.message_counts["/camera/avm/image_raw"] == 2


def test_make_bag_from_a_camera_refuses_what_it_cannot_record(tmp_path, capsys):
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), np.zeros((48, 64, 3), np.uint8))
    info = tmp_path / "uncalibrated.yaml"
    info.write_text(
        yaml.safe_dump(dict(_camera_info(), camera_matrix={"rows": 3, "cols": 3, "data": [0.0] * 9}))
    )
    base = ["make-bag", "--out", str(tmp_path / "bag")]
    cases = [
        (["--scenario", "highway", "--from", str(still)], "is an image"),
        (["--scenario", "highway", "--from", str(tmp_path / "missing.mp4")], "does not exist"),
        (["--scenario", "highway", "--scenario", "parking", "--from", str(tmp_path)], "one --scenario"),
        (["--scenario", "highway", "--camera-info", str(info)], "goes with --from"),
        (["--scenario", "highway", "--from", str(tmp_path), "--camera-info", str(info)], "no focal length"),
    ]
    for argv, message in cases:
        assert main([*base, *argv]) == 1, argv
        assert message in capsys.readouterr().err, argv
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "1.jpg").write_bytes(b"not a JPEG")
    assert main([*base, "--scenario", "highway", "--from", str(unreadable)]) == 1
    assert "no readable frame" in capsys.readouterr().err
    assert not (tmp_path / "bag").exists()  # no empty bag left behind


def test_png_mask_message_is_exact_and_smaller_than_raw():
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 5:60] = 1
    mask[30:40, 20:30] = 2
    msg = messages.png_mask_msg(mask, stamp=7, frame_id="camera_avm_optical_frame")
    assert msg.format == messages.PNG_MONO_FORMAT and messages.stamp_ns(msg) == 7
    assert len(msg.data) < mask.size
    np.testing.assert_array_equal(messages.decode_mask(msg), mask)
    np.testing.assert_array_equal(messages.decode_mask(msg, msgtype=topics.COMPRESSED_MSGTYPE), mask)


def test_a_colour_or_corrupt_compressed_mask_is_rejected():
    colour = messages.jpeg_msg(np.zeros((8, 8, 3), np.uint8), stamp=1, frame_id="f")
    with pytest.raises(BagError, match=r"topic /avm/mask/compressed: .*not one 8-bit channel"):
        messages.decode_mask(colour, topic="/avm/mask/compressed")
    colour.data = colour.data[:10]  # SOI and part of the first segment: no frame header
    with pytest.raises(BagError, match="rejected: bad_header"):
        messages.decode_mask(colour)
