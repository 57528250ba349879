"""Two cameras on one device: the three sharing policies with fake engines, then one tiny real run."""

import json
import threading
import time

import numpy as np
import pytest

from seg_perception.bench.report import two_camera_table
from seg_perception.bench.two_cameras import (
    POLICIES,
    FifoLock,
    LoopBudget,
    best_policy,
    camera_frames,
    measure_two_cameras,
    run_batched,
    run_parallel,
    run_serialized,
)
from seg_perception.cli import main
from seg_perception.metrics.latency import summarize_latencies

SIZES = ((6, 8), (5, 5))  # front, AVM: different sizes so every call shows which camera it served


class FakeClock:
    """Seconds that move only when a fake engine works (thread-safe)."""

    def __init__(self) -> None:
        self.now = 100.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class FakeEngine:
    """Records every call; each call sleeps and/or advances a fake clock by the next duration."""

    def __init__(self, *, sleep_s=0.0, clock=None, durations_s=(0.005,), barrier=None, fail_batch=False):
        self.sleep_s, self.clock, self.durations_s = sleep_s, clock, list(durations_s)
        self.barrier, self.fail_batch = barrier, fail_batch
        self.calls: list[tuple[int, int]] = []
        self.batch_calls: list[list[tuple[int, int]]] = []
        self.active = self.max_active = 0
        self.closed = False
        self._count = 0
        self._lock = threading.Lock()

    def _work(self) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            duration = self.durations_s[min(self._count, len(self.durations_s) - 1)]
            self._count += 1
        if self.barrier is not None:
            self.barrier.wait()  # times out (BrokenBarrierError) unless the other engine is inside too
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if self.clock is not None:
            self.clock.advance(duration)
        with self._lock:
            self.active -= 1

    def predict_masks(self, frame):
        self._work()
        self.calls.append(frame.shape[:2])
        mask = np.zeros(frame.shape[:2], np.uint8)
        return mask, mask

    def predict_masks_batch(self, frames):
        if self.fail_batch:
            raise RuntimeError("batch of 2 not supported by this model")
        self._work()
        self.batch_calls.append([frame.shape[:2] for frame in frames])
        return [(np.zeros(f.shape[:2], np.uint8),) * 2 for f in frames]

    def close(self):
        self.closed = True


def test_serialized_never_overlaps_calls_and_serves_both_cameras():
    engine = FakeEngine(sleep_s=0.002)
    result = run_serialized(engine, camera_frames(SIZES), budget=LoopBudget(iterations=6, warmup=2))
    assert engine.max_active == 1
    assert result.engines == 1
    assert result.frames == {"front": 6, "avm": 6}
    assert engine.calls.count(SIZES[0]) == engine.calls.count(SIZES[1]) == 8  # warm-up + timed
    assert result.pairs == 6
    assert result.pairs_per_s == pytest.approx(6 / result.wall_s)


def test_serialized_figures_follow_the_engine_time_and_include_the_lock_wait():
    clock = FakeClock()
    engine = FakeEngine(clock=clock, durations_s=(0.005,))
    budget = LoopBudget(iterations=10, warmup=1)
    result = run_serialized(engine, camera_frames(SIZES), budget=budget, clock=clock)
    # Twenty 5 ms calls one after the other: 100 ms of wall time for 10 pairs.
    assert result.wall_s == pytest.approx(0.100)
    assert result.pairs_per_s == pytest.approx(100.0)
    every = [value for values in result.latencies_ms.values() for value in values]
    # Its own call at least; at most the whole run (a lock wait counts, whatever the thread timing).
    assert 5.0 - 1e-6 <= min(every) <= max(every) <= result.wall_s * 1e3 + 1e-6
    stats = result.to_json()["latency_ms"]["avm"]
    assert stats == summarize_latencies(result.latencies_ms["avm"]).to_json()


def test_parallel_runs_two_engine_instances_at_the_same_time():
    meet = threading.Barrier(2, timeout=10)  # each call waits for a call on the other engine
    front, avm = FakeEngine(barrier=meet), FakeEngine(barrier=meet)
    result = run_parallel([front, avm], camera_frames(SIZES), budget=LoopBudget(iterations=5, warmup=1))
    assert result.engines == 2
    assert front.calls == [SIZES[0]] * 6 and avm.calls == [SIZES[1]] * 6
    assert result.frames == {"front": 5, "avm": 5}
    with pytest.raises(ValueError, match="distinct"):
        run_parallel([front, front], camera_frames(SIZES), budget=LoopBudget(iterations=1, warmup=0))


def test_batched_calls_predict_masks_batch_with_both_frames_and_times_each_call():
    clock = FakeClock()
    durations = [0.050, 0.001, 0.002, 0.003, 0.004, 0.010]  # the first is the (untimed) warm-up
    engine = FakeEngine(clock=clock, durations_s=durations)
    result = run_batched(engine, camera_frames(SIZES), budget=LoopBudget(iterations=5, warmup=1), clock=clock)
    assert engine.calls == []
    assert engine.batch_calls == [[SIZES[0], SIZES[1]]] * 6
    assert result.latencies_ms["front"] == pytest.approx([1.0, 2.0, 3.0, 4.0, 10.0])
    assert result.latencies_ms["avm"] == result.latencies_ms["front"]
    assert result.wall_s == pytest.approx(0.020)
    assert result.pairs_per_s == pytest.approx(5 / 0.020)
    figures = result.to_json()
    assert figures["latency_ms"]["front"]["p50"] == pytest.approx(3.0)
    assert figures["latency_ms"]["front"]["max"] == pytest.approx(10.0)
    assert figures["camera_fps"]["avm"] == pytest.approx(250.0)


@pytest.mark.parametrize("policy", ["serialized", "batched"])
def test_time_budget_stops_every_camera_after_its_minimum(policy):
    clock = FakeClock()
    engine = FakeEngine(clock=clock, durations_s=(1.0,))
    budget = LoopBudget(iterations=100, warmup=0, max_seconds=2.5, min_iterations=3)
    run = run_serialized if policy == "serialized" else run_batched
    result = run(engine, camera_frames(SIZES), budget=budget, clock=clock)
    assert result.stopped_early
    assert all(3 <= count < 10 for count in result.frames.values())


def test_measure_two_cameras_builds_one_second_engine_for_parallel_and_closes_it():
    engine, built = FakeEngine(), []

    def make_engine():
        built.append(FakeEngine())
        return built[-1]

    report = measure_two_cameras(
        engine, make_engine=make_engine, sizes=SIZES, budget=LoopBudget(iterations=3, warmup=1)
    )
    assert report["cameras"] == {"front": list(SIZES[0]), "avm": list(SIZES[1])}
    assert list(report["policies"]) == list(POLICIES)
    assert len(built) == 1 and built[0].closed and not engine.closed
    assert built[0].calls and all(size == SIZES[1] for size in built[0].calls)
    rates = {name: result["pairs_per_s"] for name, result in report["policies"].items()}
    assert all(result["status"] == "ok" for result in report["policies"].values())
    assert report["best"] == max(rates, key=rates.get)


def test_a_failing_policy_is_reported_and_the_others_still_count():
    report = measure_two_cameras(
        FakeEngine(fail_batch=True),
        make_engine=FakeEngine,
        sizes=SIZES,
        budget=LoopBudget(iterations=2, warmup=0),
    )
    batched = report["policies"]["batched"]
    assert batched["status"] == "failed" and "batch of 2" in batched["reason"]
    assert report["best"] in ("serialized", "parallel")
    assert best_policy({"batched": batched}) is None


def test_a_camera_error_reaches_the_caller_without_hanging_the_other_camera():
    class Broken(FakeEngine):
        def predict_masks(self, frame):
            if frame.shape[:2] == SIZES[1]:
                raise RuntimeError("device lost")
            return super().predict_masks(frame)

    with pytest.raises(RuntimeError, match="device lost"):
        run_serialized(Broken(), camera_frames(SIZES), budget=LoopBudget(iterations=50, warmup=1))


def test_fifo_lock_serves_waiters_in_arrival_order():
    lock, order = FifoLock(), []
    lock.__enter__()
    threads = []
    for index in range(3):
        thread = threading.Thread(target=lambda i=index: (lock.__enter__(), order.append(i), lock.__exit__()))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 5
        while lock._next_ticket < index + 2 and time.monotonic() < deadline:  # wait until it queued
            time.sleep(0.001)
    lock.__exit__()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2]


def test_markdown_table_marks_the_winner_in_one_sentence_per_row():
    policy = {
        "status": "ok",
        "engines": 1,
        "pairs_per_s": 10.0,
        "latency_ms": {"front": {"p50": 1.0, "p99": 2.0}, "avm": {"p50": 1.5, "p99": 3.0}},
    }
    row = {
        "status": "ok",
        "label": "m.onnx",
        "input_size": [4, 4],
        "engine": "onnxruntime-cpu",
        "two_cameras": {
            "cameras": {"front": [6, 8], "avm": [5, 5]},
            "best": "parallel",
            "policies": {
                "serialized": policy,
                "parallel": {**policy, "engines": 2, "pairs_per_s": 30.0},
                "batched": {"status": "failed", "reason": "no | batch"},
            },
        },
    }
    lines = two_camera_table([row])
    text = "\n".join(lines)
    assert "| m.onnx | 4×4 | onnxruntime-cpu | **parallel** | 2 | **30.0** | 1.0 / 2.0 | 1.5 / 3.0 |" in text
    assert "failed: no / batch" in text
    assert "*parallel* won with 30.0 pairs/s (vs serialized 10.0)." in text
    assert two_camera_table([{**row, "two_cameras": None}]) == ["Not run (add `--two-cameras`)."]


def test_bench_two_cameras_on_a_tiny_model_writes_json_and_markdown(tmp_path, tiny_onnx_model):
    model = tiny_onnx_model("highway", kind="random")
    out = tmp_path / "bench"
    argv = [
        "bench",
        "--model-file",
        str(model),
        "--engines",
        "onnxruntime-cpu",
        "--iterations",
        "4",
        "--warmup",
        "1",
        "--two-cameras",
        "--two-camera-sizes",
        "30x40",
        "36x36",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    report = json.loads((out / "bench.json").read_text())
    assert report["settings"]["two_cameras"] is True
    (row,) = report["rows"]
    assert row["status"] == "ok", row.get("reason")
    two = row["two_cameras"]
    assert two["cameras"] == {"front": [30, 40], "avm": [36, 36]}
    assert list(two["policies"]) == list(POLICIES)
    for name, result in two["policies"].items():
        assert result["status"] == "ok", (name, result.get("reason"))
        assert result["engines"] == (2 if name == "parallel" else 1)
        assert result["frames"] == {"front": 4, "avm": 4}
        assert result["pairs"] == 4
        assert result["pairs_per_s"] == pytest.approx(result["pairs"] / result["wall_s"])
        for camera in ("front", "avm"):
            latency = result["latency_ms"][camera]
            assert latency["count"] == 4
            assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
            # A camera's frames cannot take longer in total than the whole run.
            assert latency["mean"] * 4 <= result["wall_s"] * 1e3 + 1e-6
    rates = {name: result["pairs_per_s"] for name, result in two["policies"].items()}
    assert two["best"] == max(rates, key=rates.get)
    markdown = (out / "bench.md").read_text()
    assert "## Two cameras on one device" in markdown
    assert f"*{two['best']}* won with" in markdown

    plain = tmp_path / "plain"
    assert (
        main(
            [
                "bench",
                "--model-file",
                str(model),
                "--engines",
                "onnxruntime-cpu",
                "--iterations",
                "2",
                "--warmup",
                "0",
                "--out",
                str(plain),
            ]
        )
        == 0
    )
    (row,) = json.loads((plain / "bench.json").read_text())["rows"]
    assert "two_cameras" not in row
    assert "Not run (add `--two-cameras`)." in (plain / "bench.md").read_text()
