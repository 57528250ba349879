"""CPU time of the demo's processes while they stream, from Linux's ``/proc``.

A node that cannot keep up with its cameras is either short of CPU (the machine has no idle
time left) or waiting on something else; the demo's report says which by giving each
process's share of a core and the machine's idle share over the stream. Where ``/proc`` is
missing (not Linux) nothing is measured and the report says nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
# /proc/<pid>/stat after the ")" that ends the command name: field 3 (state) comes first, so
# utime and stime (fields 14 and 15, in clock ticks) are at these positions.
UTIME_INDEX, STIME_INDEX = 11, 12
# /proc/stat's "cpu" line: user nice system idle iowait ...; idle and iowait are idle time.
IDLE_COLUMNS = (3, 4)


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by named groups of processes, and by the whole machine."""

    monotonic_s: float
    process_s: dict[str, float]
    machine_idle_s: float
    machine_total_s: float


def _ticks_per_second() -> float:
    return float(os.sysconf("SC_CLK_TCK"))


def process_cpu_seconds(pid: int, proc: Path = PROC) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), or None if it is gone."""
    try:
        fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[UTIME_INDEX]) + int(fields[STIME_INDEX])) / _ticks_per_second()
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu_seconds(proc: Path = PROC) -> tuple[float, float] | None:
    """``(idle, total)`` CPU seconds of all cores since boot, or None without ``/proc/stat``."""
    try:
        first = (proc / "stat").read_text().splitlines()[0].split()
        ticks = [int(value) for value in first[1:]]
    except (OSError, IndexError, ValueError):
        return None
    if first[0] != "cpu" or len(ticks) <= max(IDLE_COLUMNS):
        return None
    rate = _ticks_per_second()
    return sum(ticks[i] for i in IDLE_COLUMNS) / rate, sum(ticks) / rate


def snapshot(groups: Mapping[str, Sequence[int]], proc: Path = PROC) -> CpuSnapshot | None:
    """CPU seconds of each named group of pids and of the machine; None if one of them is gone
    (its CPU time went with it) or there is no ``/proc``."""
    machine = machine_cpu_seconds(proc)
    if machine is None:
        return None
    used: dict[str, float] = {}
    for name, pids in groups.items():
        seconds = [process_cpu_seconds(pid, proc) for pid in pids]
        if any(value is None for value in seconds):
            return None
        used[name] = sum(value for value in seconds if value is not None)
    return CpuSnapshot(time.monotonic(), used, machine[0], machine[1])


class CpuMeter:
    """CPU shares over a stream, up to the last moment every measured process was still running.

    Call :meth:`tick` as often as convenient (it samples at most every ``every_s``); a process
    that exits takes its CPU time with it, so the span ends at the last sample before that.
    """

    def __init__(
        self, groups: Mapping[str, Sequence[int]], *, every_s: float = 0.25, proc: Path = PROC
    ) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self.every_s = every_s
        self.proc = proc
        self.first = snapshot(self.groups, proc)
        self.last = self.first

    def tick(self) -> None:
        """Take a sample if ``every_s`` passed since the last one and every process still runs."""
        if self.last is None or time.monotonic() - self.last.monotonic_s < self.every_s:
            return
        sample = snapshot(self.groups, self.proc)
        if sample is not None:
            self.last = sample

    def usage(self) -> dict[str, Any] | None:
        """:func:`usage` from the first sample to the last."""
        return usage(self.first, self.last)


def usage(before: CpuSnapshot | None, after: CpuSnapshot | None) -> dict[str, Any] | None:
    """Each group's share of one core and the machine's idle share between two snapshots.

    Returns:
        ``{"seconds", "cpus", "percent_of_a_core": {group: %}, "machine_idle_percent"}``, or None
        when either snapshot is missing or no time passed.
    """
    if before is None or after is None:
        return None
    seconds = after.monotonic_s - before.monotonic_s
    machine = after.machine_total_s - before.machine_total_s
    if seconds <= 0 or machine <= 0:
        return None
    shares = {
        name: round(100.0 * (after.process_s[name] - before.process_s.get(name, 0.0)) / seconds, 1)
        for name in after.process_s
    }
    idle = 100.0 * (after.machine_idle_s - before.machine_idle_s) / machine
    return {
        "seconds": round(seconds, 2),
        "cpus": os.cpu_count() or 1,
        "percent_of_a_core": shares,
        "machine_idle_percent": round(idle, 1),
    }


def with_cost_per_mask(
    cpu: Mapping[str, Any] | None, group: str, masks_per_second: float
) -> dict[str, Any] | None:
    """``cpu`` with ``ms_per_mask``: ``group``'s CPU milliseconds per mask it delivered (replaced, or
    left out when nothing was delivered).

    What a frame costs the node, whatever the rate it kept up with: times the frames a second it
    should process, the cores it needs (37 ms per mask at 2 x 30 masks a second: 2.2 cores).

    Args:
        masks_per_second: Masks ``group`` delivered per second over the stream (all its cameras).
    """
    if cpu is None:
        return None
    measured = {key: value for key, value in cpu.items() if key != "ms_per_mask"}
    share = cpu["percent_of_a_core"].get(group)
    if share is None or masks_per_second <= 0:
        return measured
    return {**measured, "ms_per_mask": {group: round(10.0 * share / masks_per_second, 1)}}


def describe(cpu: Mapping[str, Any]) -> str:
    """One line: ``node 102 % of a core, recorder 37 %, cameras 6 %; machine 24 % idle (2 CPUs); node 36 ms
    of CPU per mask``."""
    parts = [f"{name} {share:.0f} %" for name, share in cpu["percent_of_a_core"].items()]
    if parts:
        parts[0] += " of a core"
    line = f"{', '.join(parts)}; machine {cpu['machine_idle_percent']:.0f} % idle ({cpu['cpus']} CPUs)"
    costs = [f"{name} {ms:.0f} ms of CPU per mask" for name, ms in cpu.get("ms_per_mask", {}).items()]
    return "; ".join([line, *costs])
