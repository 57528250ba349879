"""Bad inputs end with a one-line error and exit status 1, never a traceback."""

import numpy as np
import pytest

from seg_perception.bags import messages
from seg_perception.bags.storage import BagWriter, message_class
from seg_perception.cli import main


@pytest.fixture(scope="module")
def drive(synthetic_bag):
    return synthetic_bag("parking", seconds=0.1, size="32x32")


def one_line_error(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("command", ["process", "play"])
def test_missing_topic_lists_the_bags_topics(drive, tmp_path, capsys, command):
    argv = [command, str(drive), "--topics", "/camera/avm/nope"]
    if command == "process":
        argv += ["--scenario", "parking", "--out", str(tmp_path / "out")]
    error = one_line_error(capsys, argv)
    assert "/camera/avm/nope" in error
    assert "/camera/avm/image_raw (Image, 3)" in error and "/camera/avm/ground_truth/mask" in error


def test_no_image_topic_for_the_scenario_is_an_empty_selection(drive, tmp_path, capsys):
    error = one_line_error(
        capsys, ["process", str(drive), "--scenario", "highway", "--out", str(tmp_path / "o")]
    )
    assert "no image topic of camera(s) front" in error and "/camera/avm/image_raw" in error


def test_empty_bag_is_an_empty_selection(tmp_path, capsys):
    BagWriter(tmp_path / "empty").close()
    error = one_line_error(capsys, ["play", str(tmp_path / "empty")])
    assert "no topics" in error


def test_unknown_encoding(tmp_path, capsys, tiny_onnx_model):
    bag = tmp_path / "yuv"
    image = message_class("sensor_msgs/msg/Image")(
        header=messages.header(5, "cam"),
        height=2,
        width=2,
        encoding="yuv999",
        is_bigendian=0,
        step=4,
        data=np.zeros(8, np.uint8),
    )
    with BagWriter(bag) as writer:
        writer.write("/camera/avm/image_raw", 5, image)
    model = tiny_onnx_model("parking")
    argv = ["process", str(bag), "--scenario", "parking", "--model", str(model), "--out", str(tmp_path / "o")]
    error = one_line_error(capsys, [*argv, "--video", "none"])
    assert "unknown_encoding: 'yuv999'" in error and "/camera/avm/image_raw" in error


@pytest.mark.parametrize("command", ["process", "eval-bag", "play"])
def test_truncated_bag(drive, tmp_path, capsys, command):
    import shutil

    bag = tmp_path / "truncated"
    shutil.copytree(drive, bag)
    storage = next(bag.glob("*.mcap"))
    data = storage.read_bytes()
    storage.write_bytes(data[: len(data) // 2])
    argv = {
        "process": ["process", str(bag), "--scenario", "parking", "--out", str(tmp_path / "o")],
        "eval-bag": ["eval-bag", str(bag), "--scenario", "parking"],
        "play": ["play", str(bag)],
    }[command]
    error = one_line_error(capsys, argv)
    assert "truncated" in error or "corrupt" in error or "cannot open" in error


def test_not_a_bag(tmp_path, capsys):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "metadata.yaml").write_text("this: [is not: a bag")
    error = one_line_error(capsys, ["eval-bag", str(tmp_path / "junk"), "--scenario", "parking"])
    assert "cannot open bag" in error
    error = one_line_error(capsys, ["play", str(tmp_path / "missing")])
    assert "does not exist" in error


def test_bad_options(drive, capsys):
    assert "HEIGHTxWIDTH" in one_line_error(
        capsys, ["make-bag", "--scenario", "parking", "--size", "big", "--out", "/tmp/never-written"]
    )
    assert "OLD:=NEW" in one_line_error(capsys, ["play", str(drive), "--remap", "/a"])
    process = ["process", str(drive), "--scenario", "parking", "--out", "/tmp/never-written"]
    assert "1..100" in one_line_error(capsys, [*process, "--overlay-jpeg-quality", "0"])
    assert "exactly one of" in one_line_error(capsys, ["eval-bag", "--scenario", "parking"])
