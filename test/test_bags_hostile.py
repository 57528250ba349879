"""Hostile inputs to the bag tools: bombs in a bag, unwritable outputs, failed runs, empty bags.

Each ends in one line and a non-zero exit (never a traceback), or, for frames the live
node would reject, in a skipped and counted frame; a ``process`` run that fails leaves
nothing that looks complete, and ``eval-bag`` refuses what it left.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from hostile_payloads import bmp_rle8, jpeg_late_sof_bomb

from seg_perception.bags import messages, process
from seg_perception.bags.errors import BagError
from seg_perception.bags.storage import BagReader, BagWriter, message_class
from seg_perception.bags.topics import COMPRESSED_MSGTYPE
from seg_perception.cli import main

IMAGE_TOPIC = "/camera/avm/image_raw/compressed"


@pytest.fixture(scope="module")
def drive(synthetic_bag):
    return synthetic_bag("parking", seconds=0.2, size="48x64", options=("--compressed",))


def one_line_error(capsys, argv, code=1):
    """The command's one error line (warnings before it, such as the tiny frames' scale note, aside)."""
    capsys.readouterr()
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.strip().splitlines() if ": warning: " not in line]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def _with_bombs(drive, path):
    """``drive`` with a BMP RLE8 bomb and a late-SOF JPEG bomb on the image topic, between its frames."""
    with BagReader(drive) as reader, BagWriter(path) as writer:
        for index, message in enumerate(reader.messages()):
            writer.write_raw(message.topic, message.msgtype, message.timestamp_ns, message.rawdata)
            if message.topic == IMAGE_TOPIC and index < 4:
                payload = (bmp_rle8, jpeg_late_sof_bomb)[index % 2]()
                bomb = message_class(COMPRESSED_MSGTYPE)(
                    header=messages.header(message.timestamp_ns + 1, "camera"),
                    format="bmp",
                    data=np.frombuffer(payload, np.uint8),
                )
                writer.write(IMAGE_TOPIC, message.timestamp_ns + 1, bomb)
    return path


def test_process_skips_and_counts_bombs_like_the_node(drive, tmp_path, tiny_onnx_model, capsys):
    bag = _with_bombs(drive, tmp_path / "bombs")
    out = tmp_path / "out"
    argv = ["process", str(bag), "--scenario", "parking", "--model", str(tiny_onnx_model("parking"))]
    assert main([*argv, "--out", str(out), "--video", "none"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    with BagReader(drive) as reader:
        good = reader.message_counts[IMAGE_TOPIC]
    assert summary["frames"] == good
    assert summary["rejected"].get("too_large", 0) >= 1 and sum(summary["rejected"].values()) >= 2
    err = capsys.readouterr().err
    assert "skipped as too_large" in err and "exceeds max_image_pixels" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["make-bag", "process", "eval-bag"])
def test_out_under_a_regular_file_is_one_line(drive, tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = str(blocker / "sub" / "out")
    argv = {
        "make-bag": [
            "make-bag",
            "--scenario",
            "parking",
            "--seconds",
            "0.1",
            "--size",
            "32x32",
            "--out",
            out,
        ],
        "process": ["process", str(drive), "--scenario", "parking", "--out", out],
        "eval-bag": ["eval-bag", str(drive), "--scenario", "parking", "--out", out],
    }[command]
    error = one_line_error(capsys, argv)
    assert str(blocker) in error and "not a directory" in error


@pytest.mark.parametrize("command", ["make-bag", "process", "eval-bag"])
def test_out_in_a_place_that_cannot_be_created_is_one_line(drive, capsys, command):
    out = "/proc/seg_perception_cannot_exist/out"  # not creatable, even for root
    argv = {
        "make-bag": [
            "make-bag",
            "--scenario",
            "parking",
            "--seconds",
            "0.1",
            "--size",
            "32x32",
            "--out",
            out,
        ],
        "process": ["process", str(drive), "--scenario", "parking", "--out", out],
        "eval-bag": ["eval-bag", str(drive), "--scenario", "parking", "--out", out],
    }[command]
    error = one_line_error(capsys, argv)
    assert "/proc/seg_perception_cannot_exist" in error


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_out_in_a_read_only_directory_is_one_line(drive, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    error = one_line_error(
        capsys, ["process", str(drive), "--scenario", "parking", "--out", str(locked / "out")]
    )
    assert str(locked) in error


def test_a_failed_process_run_leaves_no_complete_looking_output_and_eval_refuses_it(
    drive, tmp_path, tiny_onnx_model, capsys, monkeypatch
):
    out = tmp_path / "out"
    calls = []
    handle = process.CameraOutputs.handle

    def failing_handle(self, image, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise BagError("simulated failure at frame 4")
        return handle(self, image, **kwargs)

    monkeypatch.setattr(process.CameraOutputs, "handle", failing_handle)
    argv = ["process", str(drive), "--scenario", "parking", "--model", str(tiny_onnx_model("parking"))]
    assert "simulated failure" in one_line_error(capsys, [*argv, "--out", str(out), "--video", "none"])
    assert not (out / "bag").exists() and not (out / "summary.json").exists()
    assert not (out / "polygons.jsonl").exists()
    partial = out / "bag.partial"
    with BagReader(partial) as reader:
        status = json.loads(reader.custom_data[process.STATUS_KEY])
    assert status["status"] == "incomplete" and status["frames_done"] == 3
    error = one_line_error(capsys, ["eval-bag", str(partial), "--scenario", "parking"])
    assert "did not finish" in error and "3 of 6 frames" in error and "--allow-incomplete" in error
    # a copy under another name is refused all the same: the status travels in the metadata
    shutil.copytree(partial, tmp_path / "renamed")
    assert "did not finish" in one_line_error(
        capsys, ["eval-bag", str(tmp_path / "renamed"), "--scenario", "parking"]
    )
    capsys.readouterr()
    assert main(["eval-bag", str(partial), "--scenario", "parking", "--allow-incomplete"]) == 0
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "did not finish" in captured.err
    assert "INCOMPLETE INPUT" in captured.out


def test_a_finished_process_run_is_marked_complete(drive, tmp_path, tiny_onnx_model):
    out = tmp_path / "out"
    argv = ["process", str(drive), "--scenario", "parking", "--model", str(tiny_onnx_model("parking"))]
    assert main([*argv, "--out", str(out), "--video", "none"]) == 0
    assert not (out / "bag.partial").exists() and (out / "polygons.jsonl").is_file()
    with BagReader(out / "bag") as reader:
        assert json.loads(reader.custom_data[process.STATUS_KEY])["status"] == "complete"
    assert main(["eval-bag", str(out / "bag"), "--scenario", "parking"]) == 0


def test_play_of_a_bag_without_messages_says_so(tmp_path, capsys):
    with BagWriter(tmp_path / "empty") as writer:
        writer.add_topic("/camera/avm/image_raw", "sensor_msgs/msg/Image")
    error = one_line_error(capsys, ["play", str(tmp_path / "empty")])
    assert "holds no messages" in error and "/camera/avm/image_raw" in error
