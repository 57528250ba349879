"""`seg-perception demo` end to end on one tiny scenario: node and camera processes, real DDS, report."""

import json
import os
import shutil
import time

import pytest
from PIL import Image

pytest.importorskip("rclpy")
pytest.importorskip("onnx")

from seg_perception.cli import main
from seg_perception.reporting import count_video_frames
from seg_perception.tools.demo import DemoError, DemoSettings, run_demo

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SCENARIO = "highway"
INPUT_SIZE = (32, 64)


def _settings(tmp_path, model_dir, offset):
    return DemoSettings(
        scenarios=(SCENARIO,),
        seconds=1.0,
        out=tmp_path / "demo",
        size=(72, 128),
        model_dir=model_dir,
        domain_id=150 + (os.getpid() + offset) % 50,
        startup_timeout_s=90.0,
        output_timeout_s=60.0,
    )


def test_demo_writes_report_animation_and_contact_sheet(tmp_path, tiny_onnx_model):
    # A 1x1 convolution with random weights (fast, no torch) and real metadata, as <scenario>.onnx.
    model_dir = tiny_onnx_model(SCENARIO, kind="random", input_size=INPUT_SIZE).parent
    started = time.monotonic()
    report = run_demo(_settings(tmp_path, model_dir, offset=11))
    assert time.monotonic() - started < 90

    out = tmp_path / "demo"
    saved = json.loads((out / "report.json").read_text())
    assert saved["fastdds_profile"].endswith("fastdds_shm.xml")
    (item,) = saved["scenarios"]
    for key in (
        "fps",
        "input_fps",
        "latency_ms",
        "frames",
        "accuracy",
        "providers",
        "model",
        "files",
        "node_counters",
        "timings_s",
        "meets_min_fps",
    ):
        assert key in item, key
    assert item["frames"]["sent"] == 30
    assert 0 < item["frames"]["received"] <= 30
    assert item["frames"]["dropped"] == 30 - item["frames"]["received"]
    assert set(item["latency_ms"]) == {"count", "mean", "p50", "p95", "p99", "max"}
    assert item["latency_ms"]["count"] == item["frames"]["received"]
    assert 0.0 <= item["accuracy"]["miou"] <= 1.0
    assert set(item["accuracy"]["per_class_iou"]) == {"background", "lane_marking"}
    assert "CPUExecutionProvider" in item["providers"]
    assert item["exit_codes"] == {"synthetic camera": 0, "node": 0}
    cpu = item["cpu_while_streaming"]  # the node segmented 30 frames meanwhile (a tiny camera may not tick)
    assert set(cpu["percent_of_a_core"]) == {"node", "recorder (this demo)", "cameras"}
    assert cpu["percent_of_a_core"]["node"] > 0
    assert all(share >= 0 for share in cpu["percent_of_a_core"].values())
    assert 0 <= cpu["machine_idle_percent"] <= 100
    fps = item["fps"]
    assert cpu["ms_per_mask"]["node"] == pytest.approx(10 * cpu["percent_of_a_core"]["node"] / fps, abs=0.1)

    gif = out / SCENARIO / f"{SCENARIO}.gif"
    assert gif == type(gif)(item["files"]["animation"])
    with Image.open(gif) as animation:
        gif_frames = animation.n_frames
    assert gif_frames >= 2
    assert gif.stat().st_size < 5 * 1024 * 1024
    video = out / SCENARIO / f"{SCENARIO}.mp4"  # the GIF's frames at full size, playable
    assert video == type(video)(item["files"]["video"])
    assert count_video_frames(video) == gif_frames
    assert (out / SCENARIO / "contact_sheet.png").is_file() and (out / "contact_sheet.png").is_file()
    assert (out / SCENARIO / "node.log").read_text().strip()
    # the node is calibrated as a real camera is (the true camera's CameraInfo and mounting): lanes in metres
    info = out / SCENARIO / "camera_info.yaml"
    assert (
        f"front.camera_info_file:={info.resolve()} -p front.mounting:=["
        in (out / SCENARIO / "node.log").read_text()
    )
    assert item["lanes_metric_share"] == 1.0
    markdown = (out / "report.md").read_text()
    assert f"## {SCENARIO}" in markdown and "mIoU" in markdown
    assert "- CPU while streaming (" in markdown and "of a core" in markdown
    assert report["files"]["markdown"] == str(out / "report.md")


def test_drive_switches_the_front_camera_while_streaming_and_reports_it(tmp_path, tiny_onnx_model):
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    for scenario in ("highway", "parking", "road"):
        shutil.copy(tiny_onnx_model(scenario, kind="random", input_size=INPUT_SIZE), model_dir)
    settings = DemoSettings(
        scenarios=("drive",),
        seconds=2.0,
        out=tmp_path / "demo",
        size=(72, 128),
        model_dir=model_dir,
        domain_id=150 + (os.getpid() + 14) % 50,
        startup_timeout_s=90.0,
        output_timeout_s=60.0,
        switch=("front", "road"),
        switch_at_s=1.0,
        profile_node=True,  # py-spy (requirements-dev.txt) samples the one node for both cameras
    )
    report = run_demo(settings)

    front, avm = report["scenarios"]
    assert (front["camera"], avm["camera"]) == ("front", "avm")
    for item in (front, avm):
        switch = item["switch"]
        assert (switch["camera"], switch["to"], switch["successful"]) == ("front", "road", True)
        assert switch["request_to_reply_ms"] > 0
        (line,) = switch["log"]
        assert "switched from highway (highway.onnx) to road (road.onnx)" in line
        lost = switch["lost_in_a_row"]
        assert set(lost) == {"at_event", "elsewhere_max", "elsewhere_p95", "masks_elsewhere"}
        assert lost["masks_elsewhere"] > 0
    # both cameras generated their frames before the node started, so they streamed at the same time:
    # one after the other would not overlap at all; half the span leaves room for the second player
    # process starting late on a busy 2-core machine (CI: 1.44 s of 1.96 s)
    spans = [
        json.loads((tmp_path / "demo" / f"drive-{camera}" / "player_stats.json").read_text())
        for camera in ("front", "avm")
    ]
    overlap_ns = min(s["last_stamp_ns"] for s in spans) - max(s["first_stamp_ns"] for s in spans)
    assert overlap_ns >= 0.5 * min(s["last_stamp_ns"] - s["first_stamp_ns"] for s in spans)
    assert front["cpu_while_streaming"] == avm["cpu_while_streaming"]  # one node, one recorder
    assert front["node_profile"] and front["node_profile"] == avm["node_profile"]
    assert front["cpu_while_streaming"]["percent_of_a_core"]["node"] > 0
    node_share = front["cpu_while_streaming"]["percent_of_a_core"]["node"]
    per_mask = front["cpu_while_streaming"]["ms_per_mask"]["node"]  # over both cameras' masks
    assert per_mask == pytest.approx(10 * node_share / (front["fps"] + avm["fps"]), abs=0.1)
    markdown = (tmp_path / "demo" / "report.md").read_text()
    assert markdown.count("switch of front to road at 1 s: done") == 2


def test_demo_fails_fast_on_a_missing_model(tmp_path):
    with pytest.raises(DemoError, match=f"{SCENARIO}.onnx does not exist"):
        run_demo(_settings(tmp_path, tmp_path, offset=12))


def test_demo_names_the_node_log_when_the_node_dies(tmp_path, capsys):
    (tmp_path / f"{SCENARIO}.onnx").write_bytes(b"not an onnx model")
    code = main(
        [
            "demo",
            "--scenarios",
            SCENARIO,
            "--seconds",
            "1",
            "--size",
            "72x128",
            "--model-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "demo"),
            "--domain-id",
            str(150 + (os.getpid() + 13) % 50),
        ]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert "node exited with code 1" in error
    assert str(tmp_path / "demo" / SCENARIO / "node.log") in error
