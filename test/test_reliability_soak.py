"""Memory under a real-size flood: the node's RSS stays flat after warm-up.

A node process with the shipped parking model is flooded with 640x640 bgr8 frames
(about 10x what it processes) with every output subscribed, through the same
``seg-perception soak`` machinery users run for minutes; here bounded to ~30 s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from seg_perception.bench.soak import Stream, run_soak, slope_mb_per_s

pytestmark = [pytest.mark.ros, pytest.mark.slow]
DOMAIN_ID = 118
FLOOD_S = 20.0
WARMUP_S = 8.0
# Allowance after warm-up: a few frames' worth of allocator noise (one 640x640 bgr8 frame is 1.2 MB);
# the leak this guards against grew 24 MB/s, i.e. ~290 MB over this window.
MAX_GROWTH_MB = 40.0


def test_slope_of_a_flat_and_a_growing_series() -> None:
    import numpy as np

    times = np.arange(10.0)
    assert slope_mb_per_s(times, np.full(10, 100 * 2**20)) == pytest.approx(0.0)
    assert slope_mb_per_s(times, times * 3 * 2**20) == pytest.approx(3.0)
    assert slope_mb_per_s(times[:1], times[:1]) == 0.0


def test_flood_with_real_size_frames_keeps_node_memory_flat(tmp_path: Path) -> None:
    args = argparse.Namespace(
        stream=[Stream("parking", "avm", (640, 640))],
        seconds=FLOOD_S,
        rate=300.0,
        warmup=WARMUP_S,
        sample_s=0.5,
        print_every=10.0,
        no_shm_profile=False,
        node_param=[],
        domain_id=DOMAIN_ID,
        out=tmp_path,
    )
    [result] = run_soak(args)
    memory, frames = result["rss_anon_mb"], result["frames"]
    assert frames["processed"] > 0, result
    assert frames["dropped"] > frames["processed"], f"not an overload: {frames}"
    assert result["accounting_exact"], frames
    assert memory["end"] - memory["warm"] < MAX_GROWTH_MB, memory
    assert memory["peak"] - memory["warm"] < MAX_GROWTH_MB, memory
    assert (tmp_path / "parking_avm_rss.csv").is_file()
