"""The node's shared engine wrapper: frames and batches (test-time flips) keep per-thread outputs."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from seg_perception.inference.metadata import MARKING_POINTS_NAME, ModelMetadata
from seg_perception.ros.core import SerializedEngine


class CountingEngine:
    """Marks each frame's outputs with the frame's first pixel, so rows can be told apart."""

    metadata = ModelMetadata(
        model="fake", scenario="parking", classes=("a", "b"), colors=("#000000", "#FFFFFF"), input_size=(4, 4)
    )
    model_file = Path("fake.onnx")
    providers = ("CPUExecutionProvider",)

    def __init__(self) -> None:
        self.last_timings_ms: dict[str, float] = {}
        self.last_outputs: dict[str, np.ndarray] = {}
        self.calls: list[int] = []

    def predict_masks_batch(self, frames):
        self.calls.append(len(frames))
        self.last_outputs = {MARKING_POINTS_NAME: np.array([float(frame[0, 0, 0]) for frame in frames])}
        self.last_timings_ms = {"inference": float(len(frames))}
        return [(frame[:, :, 0], frame[:, :, 0]) for frame in frames]

    def predict_masks(self, image_bgr):
        return self.predict_masks_batch([image_bgr])[0]


def test_batches_go_through_in_one_call_and_each_thread_reads_its_own_outputs() -> None:
    inner = CountingEngine()
    engine = SerializedEngine(inner)  # type: ignore[arg-type]
    frames = [np.full((4, 4, 3), value, np.uint8) for value in (1, 2, 3, 4)]
    masks = engine.predict_masks_batch(frames)
    assert inner.calls == [4] and len(masks) == 4
    assert engine.last_outputs[MARKING_POINTS_NAME].tolist() == [1.0, 2.0, 3.0, 4.0]
    seen: dict[str, list[float]] = {}

    def other_thread() -> None:
        engine.predict_masks(np.full((4, 4, 3), 9, np.uint8))
        seen["other"] = engine.last_outputs[MARKING_POINTS_NAME].tolist()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen["other"] == [9.0]
    assert engine.last_outputs[MARKING_POINTS_NAME].tolist() == [1.0, 2.0, 3.0, 4.0]  # this thread's
    assert engine.last_timings_ms == {"inference": 4.0}
