"""make-bag → bag → read back, through MCAP and sqlite3, raw and JPEG-compressed."""

import json

import cv2
import numpy as np
import pytest

from seg_perception.bags import frame_json, messages, topics
from seg_perception.bags.errors import BagError
from seg_perception.bags.storage import BagReader
from seg_perception.cli import main
from seg_perception.data.synthetic import generate_drive

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
