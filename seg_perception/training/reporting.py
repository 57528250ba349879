"""Run-folder reports: ``metrics.csv``, ``metrics.json`` and ``curves.png``."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any


def write_metrics(
    run_dir: Path,
    records: list[dict[str, Any]],
    *,
    recipe: dict[str, Any],
    loss_history: list[tuple[int, float]] | None = None,
) -> None:
    """Rewrite ``metrics.json`` (recipe, validation records, loss history) and ``metrics.csv``."""
    document = {"recipe": recipe, "records": records, "loss_history": [list(p) for p in loss_history or []]}
    (run_dir / "metrics.json").write_text(json.dumps(document, indent=2))
    if not records:
        return
    columns: list[str] = []
    for record in records:
        columns.extend(key for key in record if key not in columns)
    with (run_dir / "metrics.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)


def read_records(run_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[int, float]]]:
    """Validation records and loss history of an earlier run in ``run_dir`` (empty when none)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return [], []
    try:
        document = json.loads(path.read_text())
        history = [(int(step), float(loss)) for step, loss in document.get("loss_history", [])]
        return list(document.get("records", [])), history
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return [], []


def plot_curves(run_dir: Path, records: list[dict[str, Any]], loss_history: list[tuple[int, float]]) -> Path:
    """Draw training loss and validation mIoU against the step into ``curves.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, miou_axis) = plt.subplots(1, 2, figsize=(10, 4))
    if loss_history:
        steps, losses = zip(*loss_history, strict=True)
        loss_axis.plot(steps, losses, linewidth=0.8)
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("training loss")
    loss_axis.set_yscale("log" if loss_history and min(losses) > 0 else "linear")
    loss_axis.grid(alpha=0.3)
    valid = [r for r in records if isinstance(r.get("miou"), float) and not math.isnan(r["miou"])]
    if valid:
        miou_axis.plot([r["step"] for r in valid], [r["miou"] for r in valid], marker="o")
    miou_axis.set_xlabel("step")
    miou_axis.set_ylabel("validation mIoU")
    miou_axis.set_ylim(0.0, 1.0)
    miou_axis.grid(alpha=0.3)
    figure.tight_layout()
    path = run_dir / "curves.png"
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
