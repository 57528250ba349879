"""Summaries of sampling profiles (py-spy ``--format raw``: one ``frame;frame;... count`` per line)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def _function(frame: str) -> str:
    # "name (path/to/module.py:123)" -> "name (module.py:123)"
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.rstrip(')')).name})" if where else name


def profile_summary(
    path: str | Path, *, top: int = 12, include: tuple[str, ...] = ()
) -> list[dict[str, object]]:
    """Functions by inclusive share of samples (a function counts once per stack).

    Args:
        path: A py-spy raw (collapsed stacks) file.
        top: How many functions to return.
        include: Keep only frames containing one of these substrings (e.g. ``("seg_perception",
            "onnxruntime", "publish")``); empty keeps all.

    Returns:
        ``[{"function", "percent", "samples"}]``, largest first (ties by name); empty when there
        are no samples.
    """
    inclusive: Counter[str] = Counter()
    total = 0
    for line in Path(path).read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = {frame for frame in stack.split(";") if not include or any(key in frame for key in include)}
        for frame in frames:
            inclusive[_function(frame)] += count
    if total == 0:
        return []
    ranked = sorted(inclusive.items(), key=lambda item: (-item[1], item[0]))[:top]  # ties by name
    return [
        {"function": function, "percent": 100.0 * samples / total, "samples": samples}
        for function, samples in ranked
    ]
