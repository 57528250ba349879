"""CPU shares of the demo's processes from /proc: a fake /proc tree, and the real one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from seg_perception.reporting import cpu_usage
from seg_perception.reporting.cpu_usage import CpuSnapshot


def _fake_proc(root: Path, *, processes: dict[int, tuple[int, int]], idle: int, total_rest: int) -> Path:
    """A /proc with ``pid -> (utime, stime)`` ticks and a "cpu" line of ``idle`` + ``total_rest`` ticks."""
    root.mkdir(parents=True, exist_ok=True)
    for pid, (utime, stime) in processes.items():
        (root / str(pid)).mkdir(exist_ok=True)
        # the command name may hold spaces and ")" : only the last ")" ends it
        fields = ["S"] + ["0"] * 10 + [str(utime), str(stime)] + ["0"] * 30
        (root / str(pid) / "stat").write_text(f"{pid} (python3 (x) y) " + " ".join(fields) + "\n")
    (root / "stat").write_text(f"cpu  {total_rest} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
    return root


def test_process_seconds_count_user_and_system_ticks_after_the_command_name(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, processes={7: (250, 50)}, idle=0, total_rest=0)
    ticks = os.sysconf("SC_CLK_TCK")
    assert cpu_usage.process_cpu_seconds(7, proc) == pytest.approx(300 / ticks)
    assert cpu_usage.process_cpu_seconds(8, proc) is None  # gone


def test_usage_gives_each_group_its_share_of_a_core_and_the_machine_idle_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    groups = {"node": [1], "cameras": [2, 3]}
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(cpu_usage.time, "monotonic", lambda: next(clock))
    first = cpu_usage.snapshot(
        groups, _fake_proc(tmp_path / "a", processes={1: (0, 0), 2: (0, 0), 3: (0, 0)}, idle=0, total_rest=0)
    )
    # over 2 s: node 1.5 CPU s (75 % of a core), cameras 0.2 s together; machine 1 s idle of 4
    second = cpu_usage.snapshot(
        groups,
        _fake_proc(
            tmp_path / "b",
            processes={
                1: (int(1.2 * ticks), int(0.3 * ticks)),
                2: (int(0.1 * ticks), 0),
                3: (int(0.1 * ticks), 0),
            },
            idle=int(1 * ticks),
            total_rest=int(3 * ticks),
        ),
    )
    cpu = cpu_usage.usage(first, second)
    assert cpu is not None
    assert cpu["percent_of_a_core"] == {"node": pytest.approx(75.0), "cameras": pytest.approx(10.0)}
    assert cpu["machine_idle_percent"] == pytest.approx(25.0)
    assert cpu["seconds"] == pytest.approx(2.0)
    line = cpu_usage.describe(cpu)
    assert line.startswith("node 75 % of a core, cameras 10 %; machine 25 % idle")


def test_the_meter_ends_its_span_at_the_last_sample_before_a_process_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    proc = _fake_proc(tmp_path, processes={1: (0, 0), 2: (0, 0)}, idle=0, total_rest=0)
    now = [0.0]
    monkeypatch.setattr(cpu_usage.time, "monotonic", lambda: now[0])
    meter = cpu_usage.CpuMeter({"node": [1], "cameras": [2]}, every_s=0.5, proc=proc)
    now[0] = 0.2
    _fake_proc(tmp_path, processes={1: (ticks, 0), 2: (0, 0)}, idle=0, total_rest=ticks)
    meter.tick()  # too soon: no sample
    now[0] = 1.0
    meter.tick()  # node 1 CPU s over 1 s
    now[0] = 2.0
    (tmp_path / "2" / "stat").unlink()  # the camera exited: its CPU time went with it
    _fake_proc(tmp_path, processes={1: (3 * ticks, 0)}, idle=0, total_rest=3 * ticks)
    meter.tick()
    cpu = meter.usage()
    assert cpu is not None and cpu["seconds"] == pytest.approx(1.0)
    assert cpu["percent_of_a_core"] == {"node": pytest.approx(100.0), "cameras": pytest.approx(0.0)}


def test_nothing_is_measured_without_proc_or_without_time(tmp_path: Path) -> None:
    assert cpu_usage.snapshot({"node": [1]}, tmp_path / "missing") is None
    assert cpu_usage.snapshot({"node": [1]}, _fake_proc(tmp_path, processes={}, idle=1, total_rest=1)) is None
    assert cpu_usage.usage(None, None) is None
    same = CpuSnapshot(5.0, {"node": 1.0}, 1.0, 2.0)
    assert cpu_usage.usage(same, same) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_the_real_proc_sees_this_process_burn_cpu() -> None:
    groups = {"this test": [os.getpid()]}
    before = cpu_usage.snapshot(groups)
    total = 0
    while (after := cpu_usage.snapshot(groups)) is not None and before is not None:
        if after.process_s["this test"] - before.process_s["this test"] >= 0.05:
            break
        total += sum(range(10_000))
    cpu = cpu_usage.usage(before, after)
    assert cpu is not None and cpu["percent_of_a_core"]["this test"] > 0


def test_cost_per_mask_is_the_groups_cpu_over_the_masks_it_delivered() -> None:
    cpu = {
        "seconds": 10.0,
        "cpus": 2,
        "percent_of_a_core": {"node": 108.0, "cameras": 9.0},
        "machine_idle_percent": 17,
    }
    costed = cpu_usage.with_cost_per_mask(cpu, "node", 29.5)
    assert costed is not None
    assert costed["ms_per_mask"] == {"node": pytest.approx(36.6)}  # 1.08 s of CPU a second / 29.5 masks
    assert cpu_usage.describe(costed).endswith("; node 37 ms of CPU per mask")
    recosted = cpu_usage.with_cost_per_mask(costed, "node", 59.0)  # e.g. both cameras' masks
    assert recosted is not None and recosted["ms_per_mask"] == {"node": pytest.approx(18.3)}
    nothing = cpu_usage.with_cost_per_mask(costed, "node", 0.0)  # no mask delivered: no cost given
    assert (
        nothing is not None and "ms_per_mask" not in nothing and "per mask" not in cpu_usage.describe(nothing)
    )
    assert cpu_usage.with_cost_per_mask(None, "node", 30.0) is None
