"""process: output bag, JSON, video and summary; masks identical to the live node's code path."""

import json

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from seg_perception.bags import messages
from seg_perception.bags.storage import BagReader
from seg_perception.cli import main
from seg_perception.config import load_scenario
from seg_perception.inference.engine import create_engine
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.ros.image_conversion import compressed_msg_to_bgr, image_msg_to_bgr

FRAMES = 6


def brightness_model(path):
    """A 1x1 conv on RGB/255: bright pixels → slot_line, green-dominant → free_slot, else background."""
    weights = np.array([[0, 0, 0], [1, 1, 1], [-2, 2, -2]], np.float32).reshape(3, 3, 1, 1) / 3
    bias = np.array([0.45, 0, 0], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "weight", "bias"], ["logits"])],
        "brightness",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [onnx.numpy_helper.from_array(weights, "weight"), onnx.numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    metadata = ModelMetadata(
        model="brightness",
        scenario="parking",
        classes=("background", "slot_line", "free_slot"),
        colors=("#000000", "#FFFFFF", "#30E060"),
        input_size=(48, 64),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
    )
    helper.set_model_props(model, metadata.to_props())
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return brightness_model(tmp_path_factory.mktemp("model") / "parking.onnx")


@pytest.fixture(scope="module", params=[False, True], ids=["raw", "compressed"])
def processed(request, tmp_path_factory, model):
    root = tmp_path_factory.mktemp("process")
    bag = root / "input"
    assert (
        main(
            [
                "make-bag",
                "--scenario",
                "parking",
                "--seconds",
                "0.2",
                "--size",
                "48x64",
                "--seed",
                "5",
                "--out",
                str(bag),
                *(["--compressed"] if request.param else []),
            ]
        )
        == 0
    )
    out = root / "out"
    assert (
        main(
            [
                "process",
                str(bag),
                "--scenario",
                "parking",
                "--model",
                str(model),
                "--out",
                str(out),
                "--video",
                "gif",
            ]
        )
        == 0
    )
    return bag, out, request.param


def read_topic(bag, topic):
    with BagReader(bag) as reader:
        return list(reader.messages([topic]))


def test_offline_masks_equal_the_live_code_path(processed, model):
    bag, out, compressed = processed
    image_topic = "/camera/avm/image_raw" + ("/compressed" if compressed else "")
    inputs = read_topic(bag, image_topic)
    outputs = read_topic(out / "bag", "/avm/mask")
    assert len(inputs) == len(outputs) == FRAMES
    pipeline = SegmentationPipeline(create_engine(model), load_scenario("parking"), "avm")
    for source, produced in zip(inputs, outputs, strict=True):
        # the live node's path: rclpy message → image_conversion → pipeline
        if compressed:
            frame = compressed_msg_to_bgr(deserialize_message(source.rawdata, CompressedImage))
        else:
            frame = image_msg_to_bgr(deserialize_message(source.rawdata, Image))
        live = pipeline.process(frame).mask
        mask_msg = produced.decode()
        assert produced.timestamp_ns == source.timestamp_ns
        assert messages.stamp_ns(mask_msg) == messages.stamp_ns(source.decode())
        np.testing.assert_array_equal(messages.decode_mask(mask_msg), live)
    assert any(np.any(messages.decode_mask(m.decode()) > 0) for m in outputs), "toy model found nothing"


def test_output_bag_holds_inputs_outputs_and_ground_truth(processed):
    _, out, compressed = processed
    with BagReader(out / "bag") as reader:
        counts = reader.message_counts
        types = reader.topics
    image_topic = "/camera/avm/image_raw" + ("/compressed" if compressed else "")
    for topic in (
        image_topic,
        "/camera/avm/ground_truth/mask",
        "/camera/avm/ground_truth/polygons",
        "/avm/mask",
        "/avm/overlay",
        "/avm/markers",
        "/avm/polygons",
        "/avm/polygons/json",
    ):
        assert counts[topic] == FRAMES, topic
    assert types["/avm/markers"] == "visualization_msgs/msg/MarkerArray"
    assert types["/avm/polygons"] == "sensor_msgs/msg/PointCloud2"
    markers = deserialize_message(read_topic(out / "bag", "/avm/markers")[0].rawdata, MarkerArray)
    assert markers.markers[0].action == 3  # DELETEALL first
    overlay = read_topic(out / "bag", "/avm/overlay")[0].decode()
    assert overlay.encoding == "bgr8" and (overlay.height, overlay.width) == (48, 64)


def test_json_summary_video_and_contact_sheet(processed):
    bag, out, _ = processed
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
    assert latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] >= 320
    assert (out / "overlay.gif").stat().st_size > 0


def test_eval_bag_on_process_output(processed, tmp_path, capsys):
    _, out, _ = processed
    assert main(["eval-bag", str(out / "bag"), "--scenario", "parking", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["frames"] == FRAMES
    assert 0.0 <= report["miou"] <= 1.0
    assert report["slots"]["threshold_px"] == pytest.approx(25.0)
    assert report["slots"]["threshold_m"] == pytest.approx(0.5)
    assert "| parking_slot |" in capsys.readouterr().out
