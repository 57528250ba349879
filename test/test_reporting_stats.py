"""Reporting: Markdown tables and strict-JSON sanitising."""

import json

import numpy as np
import pytest

from seg_perception.reporting import render_markdown_table
from seg_perception.reporting.demo_report import json_safe, render_report_markdown, write_report


def test_markdown_table_layout_and_cells():
    rows = [
        {"name": "highway", "fps": 29.456, "miou": None},
        {"name": "a|b", "fps": float("nan"), "extra": True},
    ]
    lines = render_markdown_table(rows).splitlines()
    assert lines[0] == "| name | fps | miou | extra |"
    assert lines[1] == "|---|---:|---|---|"  # a column of only None or bools is not numeric
    assert lines[2] == "| highway | 29.46 | n/a |  |"
    assert lines[3] == "| a\\|b | n/a |  | true |"
    assert render_markdown_table(rows, ["fps"], digits=1).splitlines()[2] == "| 29.5 |"
    assert render_markdown_table([]) == ""


def test_json_safe_makes_strict_json():
    data = {"a": float("nan"), "b": (1, np.float32(2.5)), "c": {"d": float("inf")}}
    text = json.dumps(json_safe(data), allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [1, 2.5], "c": {"d": None}}


def test_write_report_writes_both_files(tmp_path):
    report = {
        "min_fps": 15.0,
        "scenarios": [
            {
                "scenario": "highway",
                "camera": "front",
                "image_size": [540, 960],
                "fps": 12.0,
                "latency_ms": {"p50": 40.0, "p95": 60.0, "max": float("nan")},
                "frames": {"sent": 10, "received": 8, "dropped": 2},
                "accuracy": {
                    "miou": 0.5,
                    "pixel_accuracy": 0.9,
                    "frames_scored": 8,
                    "per_class_iou": {"background": 0.9, "lane": None},
                },
                "files": {
                    "animation": str(tmp_path / "highway" / "highway.gif"),
                    "video": str(tmp_path / "highway" / "highway.mp4"),
                },
            }
        ],
    }
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["scenarios"][0]["latency_ms"]["max"] is None
    markdown = md_path.read_text()
    assert "| highway | front | 960x540 | 12.00 |" in markdown
    assert "is BELOW the 15 fps bar" in markdown
    assert "(highway/highway.gif)" in markdown
    assert "[highway.mp4](highway/highway.mp4)" in markdown
    assert markdown == render_report_markdown(report, tmp_path)


def test_profile_summary_counts_each_function_once_per_stack(tmp_path):
    from seg_perception.reporting.profile import profile_summary

    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (pkg/node.py:9);spin (rclpy/executors.py:1);spin (rclpy/executors.py:1) 30\n"
        "run (pkg/worker.py:5);infer (onnxruntime/session.py:7) 60\n"
        "run (pkg/worker.py:5);publish (rclpy/publisher.py:72) 10\n"
        "garbage line\n"
    )
    summary = profile_summary(raw, top=3)
    expected = ["run (worker.py:5)", "infer (session.py:7)", "main (node.py:9)"]
    assert [row["function"] for row in summary] == expected
    assert [row["percent"] for row in summary] == pytest.approx([70.0, 60.0, 30.0])
    only = profile_summary(raw, include=("publisher",))
    assert only == [{"function": "publish (publisher.py:72)", "percent": pytest.approx(10.0), "samples": 10}]
    raw.write_text("")
    assert profile_summary(raw) == []
