"""process: output bag, JSON, video and summary; masks identical to the live node's code path."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from seg_perception.bags import messages
from seg_perception.bags.storage import BagReader
from seg_perception.cli import main
from seg_perception.config import load_scenario
from seg_perception.inference.engine import create_engine
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.reporting import count_video_frames
from seg_perception.ros.image_conversion import compressed_msg_to_bgr, image_msg_to_bgr

FRAMES = 6
# Two runs cover both storage choices of every output: the default (raw input, JPEG overlay,
# raw mono8 mask, MP4) and the other one (JPEG input, raw overlay, PNG mask, GIF).
RUNS = {
    "raw": {"compressed_input": False, "options": []},
    "compressed": {
        "compressed_input": True,
        "options": ["--raw-overlay", "--compress-masks", "--video", "gif", "--polygon-cloud"],
    },
}


@pytest.fixture(scope="module")
def model(tiny_onnx_model):
    return tiny_onnx_model("parking", kind="brightness")


@pytest.fixture(scope="module", params=list(RUNS))
def processed(request, tmp_path_factory, synthetic_bag, model):
    run = RUNS[request.param]
    bag = synthetic_bag("parking", seed=5, options=("--compressed",) if run["compressed_input"] else ())
    out = tmp_path_factory.mktemp("process") / "out"
    argv = ["process", str(bag), "--scenario", "parking", "--model", str(model), "--out", str(out)]
    assert main([*argv, *run["options"]]) == 0
    return bag, out, run["compressed_input"]


def output_topics(compressed):
    """(mask topic, overlay topic) of a run: the compressed-input run stores PNG masks and raw overlays."""
    if compressed:
        return "/avm/mask/compressed", "/avm/overlay"
    return "/avm/mask", "/avm/overlay/compressed"


def input_frames(bag, compressed):
    """Input messages and their frames decoded the live node's way (rclpy message → image_conversion)."""
    topic = "/camera/avm/image_raw" + ("/compressed" if compressed else "")
    inputs = read_topic(bag, topic)
    if compressed:
        frames = [compressed_msg_to_bgr(deserialize_message(m.rawdata, CompressedImage)) for m in inputs]
    else:
        frames = [image_msg_to_bgr(deserialize_message(m.rawdata, Image)) for m in inputs]
    return inputs, frames


def read_topic(bag, topic):
    with BagReader(bag) as reader:
        return list(reader.messages([topic]))


def test_offline_masks_equal_the_live_code_path(processed, model):
    bag, out, compressed = processed
    mask_topic, overlay_topic = output_topics(compressed)
    inputs, frames = input_frames(bag, compressed)
    outputs = read_topic(out / "bag", mask_topic)
    overlays = read_topic(out / "bag", overlay_topic)
    assert len(inputs) == len(outputs) == len(overlays) == FRAMES
    pipeline = SegmentationPipeline(create_engine(model), load_scenario("parking"), "avm")
    for source, frame, produced, overlay in zip(inputs, frames, outputs, overlays, strict=True):
        live = pipeline.process(frame).mask
        mask_msg = produced.decode()
        assert produced.timestamp_ns == overlay.timestamp_ns == source.timestamp_ns
        assert messages.stamp_ns(mask_msg) == messages.stamp_ns(source.decode())
        np.testing.assert_array_equal(messages.decode_mask(mask_msg), live)  # PNG masks are exact too
        stored = messages.decode_image(overlay.decode(), overlay.msgtype)
        expected = pipeline.overlay(frame, live)
        if compressed:  # raw overlay: the very pixels
            np.testing.assert_array_equal(stored, expected)
        else:  # JPEG overlay: close, not equal
            assert np.abs(stored.astype(int) - expected).mean() < 6.0
    assert any(np.any(messages.decode_mask(m.decode()) > 0) for m in outputs), "toy model found nothing"


def test_output_bag_holds_inputs_outputs_and_ground_truth(processed):
    _, out, compressed = processed
    with BagReader(out / "bag") as reader:
        counts = reader.message_counts
        types = reader.topics
    image_topic = "/camera/avm/image_raw" + ("/compressed" if compressed else "")
    mask_topic, overlay_topic = output_topics(compressed)
    for topic in (
        image_topic,
        "/camera/avm/ground_truth/mask",
        "/camera/avm/ground_truth/polygons",
        mask_topic,
        overlay_topic,
        "/avm/markers",
        "/avm/slots",
        "/avm/polygons/json",
    ):
        assert counts[topic] == FRAMES, topic
    image_outputs = {"/avm/mask", "/avm/mask/compressed", "/avm/overlay", "/avm/overlay/compressed"}
    assert image_outputs & set(types) == {mask_topic, overlay_topic}  # each stored once
    assert types["/avm/markers"] == "visualization_msgs/msg/MarkerArray"
    assert types["/avm/slots"] == "seg_perception/msg/ParkingSlotArray"
    assert "/avm/lanes" not in types  # no lane class: no lanes topic, as the node
    if compressed:  # the opt-in polygon cloud
        assert types["/avm/polygons"] == "sensor_msgs/msg/PointCloud2" and counts["/avm/polygons"] == FRAMES
    else:
        assert "/avm/polygons" not in types
    markers = deserialize_message(read_topic(out / "bag", "/avm/markers")[0].rawdata, MarkerArray)
    assert markers.markers[0].action == 3  # DELETEALL first
    overlay = read_topic(out / "bag", overlay_topic)[0].decode()
    mask = read_topic(out / "bag", mask_topic)[0].decode()
    # The node's frame for parking's AVM (its frame_id: base_link), not the input's optical frame.
    assert {markers.markers[0].header.frame_id, overlay.header.frame_id, mask.header.frame_id} == {
        "base_link"
    }
    record = json.loads(read_topic(out / "bag", "/avm/polygons/json")[0].decode().data)
    assert record["frame_id"] == "base_link"
    if compressed:
        assert overlay.encoding == "bgr8" and (overlay.height, overlay.width) == (48, 64)
        assert types[mask_topic] == "sensor_msgs/msg/CompressedImage" and mask.format.startswith("mono8; png")
    else:
        assert types[overlay_topic] == "sensor_msgs/msg/CompressedImage"
        assert overlay.format == "bgr8; jpeg compressed bgr8" and len(overlay.data) < 48 * 64 * 3
        assert mask.encoding == "mono8" and (mask.height, mask.width) == (48, 64)


def test_json_summary_video_and_contact_sheet(processed):
    bag, out, compressed = processed
    lines = (out / "polygons.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == FRAMES
    stamps = [m.decode().header.stamp for m in read_topic(bag, "/camera/avm/ground_truth/mask")]
    assert [r["stamp"] for r in records] == [{"sec": s.sec, "nanosec": s.nanosec} for s in stamps]
    assert all(r["metres_per_pixel"] == 0.02 for r in records)
    for record in records:
        for item in record["polygons"] + record["slots"]:
            assert len(item["vertices_m"]) == len(item["vertices"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == FRAMES and summary["fps"] > 0
    latency = summary["cameras"]["avm"]["latency_ms"]["total"]
    assert latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] >= 320
    video = summary["outputs"]["video"]
    if compressed:  # --video gif keeps every 3rd frame
        assert video == str(out / "overlay.gif")
        with PILImage.open(video) as gif:
            assert gif.n_frames == len(range(0, FRAMES, 3))
    else:  # the default MP4 plays back every frame
        assert video == str(out / "overlay.mp4")
        assert count_video_frames(video) == FRAMES


def test_eval_bag_on_process_output(processed, tmp_path, capsys):
    _, out, _ = processed
    assert main(["eval-bag", str(out / "bag"), "--scenario", "parking", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["frames"] == FRAMES
    assert 0.0 <= report["miou"] <= 1.0
    assert report["slots"]["threshold_px"] == pytest.approx(25.0)
    assert report["slots"]["threshold_m"] == pytest.approx(0.5)
    assert "| parking_slot |" in capsys.readouterr().out


def test_eval_bag_takes_the_process_output_folder_and_names_the_bag_on_a_wrong_path(
    processed, tmp_path, capsys
):
    _, out, _ = processed
    assert main(["eval-bag", str(out), "--scenario", "parking", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "report.json").read_text())["frames"] == FRAMES
    capsys.readouterr()
    assert main(["eval-bag", str(out / "output.mcap"), "--scenario", "parking"]) == 1
    assert f"'seg-perception process' wrote {out / 'bag'}" in capsys.readouterr().err


def test_process_says_once_when_avm_frames_are_not_the_size_their_scale_was_set_for(
    tmp_path, synthetic_bag, model, capsys
):
    bag = synthetic_bag("parking", seed=5)  # 48x64 frames; the scenario's AVM scale is for 640x640
    argv = ["process", str(bag), "--scenario", "parking", "--model", str(model), "--out", str(tmp_path / "o")]
    assert main([*argv, "--video", "none"]) == 0
    err = capsys.readouterr().err
    assert err.count("frames are 64x48 but its ground geometry") == 1
    assert "image_size 640x640" in err and "--scenario" in err


@pytest.mark.parametrize(
    ("pause_s", "options", "cuts", "jumps"),
    [(0.0, [], 1, 0), (5.0, [], 0, 1), (5.0, ["--tracking-gap-s", "0"], 1, 0)],
    ids=["stamps_running_on", "stamps_paused", "stamps_paused_gap_off"],
)
def test_process_restarts_tracking_where_a_second_drive_begins_and_counts_why(
    tmp_path, tiny_onnx_model, capsys, pause_s, options, cuts, jumps
):
    """Two highway drives in one bag: lane tracking starts afresh where the second begins, as in the
    node: on its stamps' pause when they pause (tracking_gap_s), else because its first frame does not
    continue the last one (scene_cut); the summary says which."""
    from seg_perception.bags.storage import BagWriter
    from seg_perception.bags.topics import image_topic
    from seg_perception.data.synthetic.scenes import generate_drive

    size = (180, 320)
    frames = [s.image for s in generate_drive("highway", 994700, 3, size=size, fps=10.0)]
    frames += [s.image for s in generate_drive("highway", 994701, 3, size=size, fps=10.0)]
    bag, topic = tmp_path / "two_drives", image_topic("front")
    with BagWriter(bag) as writer:
        for index, image in enumerate(frames):
            stamp = 1_000_000_000 + index * 100_000_000 + (int(pause_s * 1e9) if index >= 3 else 0)
            writer.write(topic, stamp, messages.image_msg(image, stamp=stamp, frame_id="camera"))
    model = tiny_onnx_model("highway")
    argv = ["process", str(bag), "--scenario", "highway", "--model", str(model), "--video", "none", *options]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    camera = json.loads((tmp_path / "out" / "summary.json").read_text())["cameras"]["front"]
    assert (camera["scene_cuts"], camera["tracking_restarts"]) == (cuts, jumps)
    out = capsys.readouterr().out
    assert ("tracking restarted on 1 unrelated frame(s)" in out) == bool(cuts)
    assert ("on 1 jump(s) of the stamps" in out) == bool(jumps)
