"""Benchmark statistics: throughput, node overhead and the timing loop, by hand."""

import math

import pytest

from seg_perception.bench.measure import parse_compute_apps, time_loop
from seg_perception.bench.stats import node_overhead, throughput_fps


def test_throughput_is_calls_per_wall_second():
    assert throughput_fps(30, 1.5) == pytest.approx(20.0)
    assert math.isnan(throughput_fps(0, 1.0))
    assert math.isnan(throughput_fps(5, 0.0))


def test_node_overhead_counts_every_stage_but_the_engine_and_the_pipeline_total():
    stages = {
        "inference": 20.0,
        "conversion": 1.0,
        "preprocess": 2.0,
        "mask": 0.5,
        "postprocess": 1.5,
        "publish": 1.0,
        "pipeline": 24.0,
    }
    overhead = node_overhead(stages)
    assert overhead["engine_ms"] == 20.0
    assert overhead["overhead_ms"] == pytest.approx(6.0)
    assert overhead["overhead_percent"] == pytest.approx(30.0)
    assert math.isnan(node_overhead({"publish": 1.0})["overhead_percent"])


class FakeClock:
    """Advances 10 ms per call made through ``work``."""

    def __init__(self):
        self.now = 0.0
        self.calls = 0

    def __call__(self):
        return self.now

    def work(self):
        self.calls += 1
        self.now += 0.010


def test_time_loop_times_each_call_after_the_warmup():
    clock = FakeClock()
    result = time_loop(clock.work, iterations=8, warmup=3, clock=clock)
    assert clock.calls == 11
    assert len(result.latencies_ms) == 8
    assert result.latencies_ms == pytest.approx([10.0] * 8)
    assert result.fps == pytest.approx(100.0)
    assert not result.stopped_early
    assert result.to_json()["latency_ms"]["p99"] == pytest.approx(10.0)


def test_time_loop_stops_at_the_time_budget_but_not_before_the_minimum():
    clock = FakeClock()
    result = time_loop(clock.work, iterations=100, warmup=0, max_seconds=0.05, min_iterations=3, clock=clock)
    assert len(result.latencies_ms) == 5
    assert result.stopped_early
    slow = FakeClock()
    at_least = time_loop(slow.work, iterations=100, warmup=0, max_seconds=0.001, min_iterations=3, clock=slow)
    assert len(at_least.latencies_ms) == 3


def test_nvidia_smi_compute_apps_are_summed_per_process():
    text = "123, 500\n456, 20\n123, 250\n[Not Supported], x\n"
    assert parse_compute_apps(text) == {123: 750.0, 456: 20.0}
