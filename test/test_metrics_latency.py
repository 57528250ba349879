"""The one latency-statistics type: percentiles, non-finite values, per-stage summaries and rates."""

import math

import numpy as np
import pytest

from seg_perception.metrics.latency import PERCENTILES, rate_hz, stage_latencies, summarize_latencies


def test_percentiles_of_one_to_hundred_match_hand_computed_values():
    stats = summarize_latencies(range(1, 101))
    # Linear interpolation at q * (n - 1): p95 -> index 94.05 -> 95 + 0.05, p99 -> index 98.01 -> 99 + 0.01.
    assert stats.count == 100
    assert stats.p50 == pytest.approx(50.5)
    assert stats.p95 == pytest.approx(95.05)
    assert stats.p99 == pytest.approx(99.01)
    assert stats.mean == pytest.approx(50.5)
    assert stats.max == 100.0


def test_percentiles_match_numpy_on_a_skewed_series():
    values = np.random.default_rng(0).gamma(2.0, 10.0, size=500)
    stats = summarize_latencies(values)
    assert PERCENTILES == (50, 95, 99)
    assert [stats.p50, stats.p95, stats.p99] == pytest.approx(list(np.percentile(values, PERCENTILES)))
    assert stats.mean == pytest.approx(values.mean())
    assert stats.p50 <= stats.p95 <= stats.p99 <= stats.max == pytest.approx(values.max())


def test_non_finite_values_are_ignored_and_an_empty_series_gives_nan():
    stats = summarize_latencies([4.0, float("nan"), 2.0, float("inf")])
    assert stats.count == 2
    assert stats.p50 == pytest.approx(3.0)
    assert stats.max == 4.0
    empty = summarize_latencies([])
    assert empty.count == 0
    assert all(math.isnan(value) for value in (empty.p50, empty.p95, empty.p99, empty.mean, empty.max))


def test_json_has_every_statistic_and_rounds_all_but_the_count():
    stats = summarize_latencies([1.23456, 2.34567, 3.45678])
    assert list(stats.to_json()) == ["count", "mean", "p50", "p95", "p99", "max"]
    rounded = stats.to_json(digits=2)
    assert rounded["count"] == 3
    assert rounded["p50"] == 2.35
    assert rounded["max"] == 3.46


def test_stage_latencies_summarise_each_stage_over_the_frames_that_have_it():
    timings = [{"inference": 10.0, "total": 12.0}, {"inference": 20.0, "total": 23.0}, {"total": 5.0}]
    stages = stage_latencies(timings, digits=3)
    assert list(stages) == ["inference", "total"]
    assert stages["inference"]["count"] == 2
    assert stages["inference"]["p50"] == pytest.approx(15.0)
    assert stages["total"]["count"] == 3
    assert stages["total"]["max"] == 23.0
    assert stage_latencies([]) == {}


def test_rate_counts_intervals_not_events():
    assert rate_hz([i / 30.0 for i in range(91)]) == pytest.approx(30.0)
    assert rate_hz([5.0, 4.0, 4.5]) == pytest.approx(2.0)  # order does not matter
    assert math.isnan(rate_hz([1.0]))
    assert math.isnan(rate_hz([2.0, 2.0]))
    stamps_ns = [round(i * 1e9 / 30) for i in range(31)]  # 31 frames spanning one second
    assert rate_hz(t / 1e9 for t in stamps_ns) == pytest.approx(30.0)
