"""``bench.json`` and ``bench.md``: the measurements, the machine, and the targets' status."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

JSON_NAME = "bench.json"
MARKDOWN_NAME = "bench.md"


def finish_cpu_report(report: dict[str, Any], out: Path | None) -> None:
    """Print the load average a CPU benchmark ran under (``report["load_average"]``: start, end)
    and write ``report`` as JSON to ``out`` when given."""
    start, end = report["load_average"]
    print(f"load average (1 min) at start / end: {start} / {end}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(f"report: {out}")


def json_safe(value: Any) -> Any:
    """NaN and infinities become ``null`` so the file is strict JSON; tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def _size(size: Any) -> str:
    return f"{size[0]}×{size[1]}" if size else "–"


def _memory_text(memory: dict[str, Any] | None) -> str:
    if not memory:
        return "–"
    parts = []
    if memory.get("gpu_torch_peak_mb") is not None:
        parts.append(f"GPU peak {memory['gpu_torch_peak_mb']:.0f} MiB (torch)")
    if memory.get("gpu_process_mb") is not None:
        parts.append(f"GPU {memory['gpu_process_mb']:.0f} MiB (nvidia-smi)")
    if memory.get("rss_mb") is not None:
        delta = memory.get("rss_delta_mb")
        extra = f" ({delta:+.0f} with the engine loaded)" if delta is not None else ""
        parts.append(f"RSS {memory['rss_mb']:.0f} MiB{extra}")
    return "; ".join(parts) or "–"


def header_lines(report: dict[str, Any]) -> list[str]:
    """The machine, versions and settings, one bullet each."""
    system, settings = report["system"], report["settings"]
    cuda = system.get("torch_cuda") or {}
    versions = ", ".join(f"{name} {version}" for name, version in system["versions"].items() if version)
    gpus = ", ".join(f"{gpu['name']} ({gpu['memory']})" for gpu in system.get("gpus", [])) or "none"
    load = system.get("load_average", {})
    return [
        f"- Date: {system['date']}",
        f"- CPU: {system['cpu']['model']}, {system['cpu']['usable_cpus']} usable cores; "
        f"CPU engines run with {settings.get('threads') or 'default'} threads",
        f"- GPU: {gpus}; driver {system.get('driver') or '–'}; CUDA (torch) {cuda.get('cuda') or '–'}; "
        f"cuDNN {cuda.get('cudnn') or '–'}",
        f"- Libraries: {versions}; Python {system['python']}; {system['platform']}",
        f"- ONNX Runtime providers available: "
        f"{', '.join(system['onnxruntime']['available_providers']) or '–'}; "
        f"used: {', '.join(report.get('providers_used', [])) or '–'}",
        f"- Load average (1 min): {_num(load.get('1min'), 2)} at start, "
        f"{_num(report.get('load_average_end'), 2)} at the end",
        f"- Loops: {settings['warmup']} warm-up + up to {settings['iterations']} timed calls, at most "
        f"{settings['max_seconds']:g} s per measurement; precision {settings['precision']}",
    ]


def engine_table(rows: list[dict[str, Any]]) -> list[str]:
    """Measured rows, then skipped and failed ones with their reason."""
    lines = [
        "| model | input H×W | engine | precision | providers | engine fps | engine p50 / p99 ms | "
        "predict fps | predict p50 / p99 ms | memory |",
        "|---|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if row["status"] != "ok":
            continue
        engine_only, predict = row["engine_only"], row["predict"]
        lines.append(
            f"| {row['label']} | {_size(row['input_size'])} | {row['engine']} | {row['precision']} | "
            f"{', '.join(row.get('providers', []))} | {_num(engine_only['fps'])} | "
            f"{_num(engine_only['latency_ms']['p50'])} / {_num(engine_only['latency_ms']['p99'])} | "
            f"{_num(predict['fps'])} | {_num(predict['latency_ms']['p50'])} / "
            f"{_num(predict['latency_ms']['p99'])} | {_memory_text(row.get('memory'))} |"
        )
    others = [row for row in rows if row["status"] != "ok"]
    if others:
        lines += ["", "| model | input H×W | engine | status |", "|---|---|---|---|"]
        lines += [
            f"| {row['label']} | {_size(row['input_size'])} | {row['engine']} | "
            f"{row['status']}: {str(row.get('reason', '')).replace('|', '/')} |"
            for row in others
        ]
    return lines


def two_camera_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per model x engine, the three ways two cameras share the device, and which won."""
    measured = [row for row in rows if row["status"] == "ok" and row.get("two_cameras")]
    if not measured:
        return ["Not run (add `--two-cameras`)."]
    first = measured[0]["two_cameras"]["cameras"]
    cameras = list(first)
    lines = [
        "Two free-running cameras ("
        + ", ".join(f"{name} {_size(size)}" for name, size in first.items())
        + ") on one device. *serialized*: one engine, a lock around each `predict_masks`; *parallel*: "
        "two engine instances, one thread each; *batched*: one `predict_masks_batch` of both frames per "
        "tick. pairs/s = frame pairs / wall time; a frame's latency runs from asking for its mask to "
        "having it (lock wait included).",
        "",
        "| model | input H×W | engine | policy | engines | pairs/s | "
        + " | ".join(f"{name} p50 / p99 ms" for name in cameras)
        + " |",
        "|---|---|---|---|---:|---:|" + "---:|" * len(cameras),
    ]
    verdicts = []
    for row in measured:
        two = row["two_cameras"]
        head = f"| {row['label']} | {_size(row['input_size'])} | {row['engine']} |"
        for policy, result in two["policies"].items():
            if result["status"] != "ok":
                reason = str(result.get("reason", "")).replace("|", "/")
                lines.append(f"{head} {policy} | – | {result['status']}: {reason} |" + " – |" * len(cameras))
                continue
            latency = result["latency_ms"]
            cells = " | ".join(
                f"{_num(latency[name]['p50'])} / {_num(latency[name]['p99'])}" for name in cameras
            )
            best = "**" if policy == two.get("best") else ""
            lines.append(
                f"{head} {best}{policy}{best} | {result['engines']} | "
                f"{best}{_num(result['pairs_per_s'])}{best} | {cells} |"
            )
        verdicts.append(f"- {two_camera_verdict(row)}")
    return [*lines, "", *verdicts]


def two_camera_verdict(row: dict[str, Any]) -> str:
    """One sentence: which policy won on this row, and by how much."""
    two = row["two_cameras"]
    where = f"{row['label']} {_size(row['input_size'])} on {row['engine']}"
    best = two.get("best")
    if best is None:
        return f"{where}: no policy could be measured."
    rates = {
        name: result["pairs_per_s"] for name, result in two["policies"].items() if result["status"] == "ok"
    }
    others = ", ".join(f"{name} {_num(rate)}" for name, rate in rates.items() if name != best)
    return f"{where}: *{best}* won with {_num(rates[best])} pairs/s" + (f" (vs {others})." if others else ".")


def node_table(node: dict[str, Any] | None) -> list[str]:
    """Per-camera figures of the end-to-end node run."""
    if not node:
        return ["Not run (add `--node`)."]
    if node.get("status") != "ok":
        return [f"{node.get('status', 'failed')}: {node.get('reason', '')}"]
    lines = [
        f"Both cameras streamed at {node['rate_hz']:g} Hz for {node['seconds']:g} s (measurement window) "
        f"on device {node['device']} ({node['engine']}); {node.get('layout', '')}",
        "",
        "| camera | scenario | model | frame H×W | input fps | output fps | sent | dropped | "
        "latency p50 / p95 / p99 / max ms | engine ms | overhead ms | overhead % |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, camera in node["cameras"].items():
        latency = camera["latency_ms"]
        lines.append(
            f"| {name} | {camera['scenario']} | {camera.get('model') or '–'} | "
            f"{_size(camera['frame_size'])} | "
            f"{_num(camera['input_fps'])} | {_num(camera['fps'])} | {camera['sent']} | {camera['dropped']} | "
            f"{_num(latency['p50'])} / {_num(latency['p95'])} / {_num(latency['p99'])} / "
            f"{_num(latency['max'])} | {_num(camera['engine_ms'])} | {_num(camera['overhead_ms'])} | "
            f"{_num(camera['overhead_percent'])} |"
        )
    lines += ["", "Node stage means (ms, from `stage_ms.*` diagnostics):", ""]
    for name, camera in node["cameras"].items():
        stages = ", ".join(f"{stage} {value:.2f}" for stage, value in sorted(camera["stage_ms"].items()))
        lines.append(f"- {name}: {stages or '–'}")
    return lines


def targets_table(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | status |", "|---|---|"]
    lines += [f"| {item['target']} | {item['text'].replace('|', '/')} |" for item in targets]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The whole Markdown report."""
    lines = [f"# {report['title']}", "", *header_lines(report), "", "## Engines", ""]
    lines += [
        "*engine*: the runtime alone (`Engine.runtime_call`) on an input prepared once the way the "
        "engine feeds it (host/device copies included); *predict*: `Engine.predict` on a uint8 BGR "
        "frame (pre-processing, arg-max and mask resize included). fps = timed calls / their wall time.",
        "",
        *engine_table(report["rows"]),
        "",
        "## Two cameras on one device",
        "",
        *two_camera_table(report["rows"]),
        "",
        "## Node end to end",
        "",
        *node_table(report.get("node")),
        "",
        "## Targets",
        "",
        *targets_table(report["targets"]),
        "",
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``bench.json`` and ``bench.md`` into ``out``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / JSON_NAME, out / MARKDOWN_NAME
    json_path.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False))
    md_path.write_text(render_markdown(report))
    return json_path, md_path
