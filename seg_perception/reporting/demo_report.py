"""``report.md`` and ``report.json`` of a demo or benchmark run, from plain dictionaries.

The input is the run summary the demo builds (see ``seg_perception.tools.demo``):
``{"scenarios": [<scenario summary>, ...], "min_fps": ..., ...}``. Keeping the writer
ROS-free lets offline tools produce the same report from a bag.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seg_perception.reporting.cpu_usage import describe as describe_cpu
from seg_perception.reporting.tables import format_number, render_markdown_table


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf turned into None and tuples/Paths into lists/strings (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return json_safe(value.item())
    return value


def _get(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def _relative(path: Any, base: Path) -> str:
    return os.path.relpath(os.fspath(path), base) if path else ""


def summary_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per scenario: throughput, latency, frame counts, accuracy, engine."""
    rows = []
    for item in report.get("scenarios", []):
        rows.append(
            {
                "scenario": item.get("scenario"),
                "camera": item.get("camera"),
                "input": "x".join(str(v) for v in reversed(item.get("image_size", []))),
                "fps": _get(item, "fps"),
                "latency p50 ms": _get(item, "latency_ms", "p50"),
                "p95 ms": _get(item, "latency_ms", "p95"),
                "max ms": _get(item, "latency_ms", "max"),
                "sent": _get(item, "frames", "sent"),
                "received": _get(item, "frames", "received"),
                "dropped": _get(item, "frames", "dropped"),
                "mIoU": format_number(_get(item, "accuracy", "miou"), digits=3),
                "providers": item.get("providers") or "n/a",
            }
        )
    return rows


def switch_line(switch: Mapping[str, Any]) -> str:
    """One line about a switch of the report: outcome, reply time and frames lost in a row."""
    outcome = "done" if switch.get("successful") else f"refused ({switch.get('reason')})"
    reply = switch.get("request_to_reply_ms")
    lost = switch.get("lost_in_a_row") or {}
    return (
        f"switch of {switch['camera']} to {switch['to']} at {switch['at_s']:g} s: {outcome}, reply after "
        f"{'-' if reply is None else f'{reply:.0f} ms'}; frames lost in a row at the swap "
        f"{lost.get('at_event', '-')}, elsewhere max {lost.get('elsewhere_max', '-')} "
        f"(p95 {lost.get('elsewhere_p95', float('nan')):.1f})"
    )


def _scenario_section(item: Mapping[str, Any], base: Path, min_fps: float | None) -> list[str]:
    name = item.get("scenario", "?")
    lines = [f"## {name}", ""]
    fps = item.get("fps")
    if min_fps is not None and isinstance(fps, (int, float)):
        verdict = "meets" if fps >= min_fps else "is BELOW"
        lines += [f"Output rate {format_number(fps, digits=1)} fps {verdict} the {min_fps:g} fps bar.", ""]
    model = item.get("model") or {}
    lines += [
        f"- model: `{_relative(model.get('file'), base) or 'n/a'}` ({model.get('name') or 'n/a'}); "
        f"engine {item.get('engine') or 'n/a'}, providers {item.get('providers') or 'n/a'}",
        f"- input topic `{item.get('topic')}`, {format_number(_get(item, 'input_fps'), digits=1)} Hz sent; "
        f"node processing p50 {format_number(_get(item, 'processing_ms', 'p50'), digits=1)} ms",
    ]
    stages = item.get("node_stages_ms") or {}
    if stages:
        stage_text = ", ".join(f"{k} {format_number(v, digits=1)} ms" for k, v in stages.items())
        lines.append(f"- node stages (mean): {stage_text}")
    cpu = item.get("cpu_while_streaming")
    if cpu:
        lines.append(
            f"- CPU while streaming ({format_number(cpu.get('seconds'), digits=1)} s): {describe_cpu(cpu)}"
        )
    counters = item.get("node_counters") or {}
    if counters:
        lines.append("- node counters: " + ", ".join(f"{k} {v}" for k, v in counters.items()))
    if item.get("switch"):
        lines.append(f"- {switch_line(item['switch'])}")
        lines += [f"  - node log: `{line.strip()}`" for line in item["switch"].get("log", [])]
    lines.append("")
    hot_spots = item.get("node_profile") or []
    if hot_spots:
        rows = [
            {"function (file:line)": f"`{spot['function']}`", "% of node samples": spot["percent"]}
            for spot in hot_spots
        ]
        lines += ["Where the node spends its time (py-spy, inclusive):", ""]
        lines += [render_markdown_table(rows, digits=1), ""]
    per_class = _get(item, "accuracy", "per_class_iou") or {}
    if per_class:
        rows = [{"class": k, "IoU": v} for k, v in per_class.items()]
        rows.append({"class": "**mIoU**", "IoU": _get(item, "accuracy", "miou")})
        absent = _get(item, "accuracy", "absent_classes") or {}
        if absent:
            rows.append(
                {
                    "class": "mIoU over classes in the ground truth",
                    "IoU": _get(item, "accuracy", "miou_present"),
                }
            )
        rows.append({"class": "pixel accuracy", "IoU": _get(item, "accuracy", "pixel_accuracy")})
        frames = _get(item, "accuracy", "frames_scored")
        lines += [f"Accuracy over {frames} frames matched to ground truth by stamp:", ""]
        lines += [render_markdown_table(rows, digits=3), ""]
        for class_name, pixels in absent.items():
            lines += [
                f"`{class_name}` does not occur in this stream's ground truth; the model marked "
                f"{pixels} pixels as {class_name} over all frames, hence its IoU of 0.",
                "",
            ]
    files = item.get("files") or {}
    if files.get("animation"):
        lines += [f"![{name} overlay animation]({_relative(files['animation'], base)})", ""]
    if files.get("video"):
        video = _relative(files["video"], base)
        lines += [f"Full-size overlay video: [{Path(video).name}]({video})", ""]
    if files.get("contact_sheet"):
        lines += [f"![{name} contact sheet]({_relative(files['contact_sheet'], base)})", ""]
    stills = [_relative(p, base) for p in files.get("stills", [])]
    if stills:
        lines += ["Overlay frames: " + ", ".join(f"[{Path(p).name}]({p})" for p in stills), ""]
    return lines


def render_report_markdown(report: Mapping[str, Any], base: Path) -> str:
    """The Markdown report; file links are made relative to ``base`` (the report's folder)."""
    min_fps = report.get("min_fps")
    host = report.get("host") or {}
    load = host.get("load_average_1min") or {}
    load_text = ""
    if load:
        load_text = f", load average {format_number(load.get('start'))} → {format_number(load.get('end'))}"
    lines = [
        f"# {report.get('title', 'seg_perception demo')}",
        "",
        f"{report.get('created', '')} on {host.get('cpus', '?')} CPU(s) "
        f"({host.get('platform', '?')}{load_text}); "
        f"middleware {report.get('rmw', '?')}, Fast DDS profile `{report.get('fastdds_profile') or 'none'}`, "
        f"domain {report.get('domain_id', '?')}. Total {format_number(report.get('total_s'), digits=1)} s.",
        "",
        "fps = masks received per second of stream; latency = mask reception time minus the input "
        "image's stamp (camera publish time); dropped = frames sent without a mask back; mIoU against "
        "the generator's exact labels.",
        "",
        render_markdown_table(summary_rows(report)),
        "",
    ]
    if report.get("contact_sheet"):
        lines += [f"![all scenarios]({_relative(report['contact_sheet'], base)})", ""]
    for item in report.get("scenarios", []):
        lines += _scenario_section(item, base, min_fps)
    for note in report.get("notes", []):
        lines.append(f"> {note}")
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: Mapping[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
    md_path.write_text(render_report_markdown(report, out_dir))
    return json_path, md_path
