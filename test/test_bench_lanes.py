"""``seg-perception bench-lanes``: the lane stage's CPU time per frame, as the node runs it."""

from __future__ import annotations

import argparse

import pytest

from seg_perception.bench.lanes import LaneBenchError, measure, register, run
from seg_perception.config import load_scenario, scenario_model_path
from seg_perception.inference.engine import create_engine


def test_every_frame_is_timed_in_both_spaces() -> None:
    result = measure(drives=1, frames=3, size=(135, 240), repeat=2, true_masks=True)
    assert result["source"] == "true masks" and result["seeds"] == "200000..200000"
    for mode in ("true_camera", "image_space"):
        figures = result["modes"][mode]
        assert figures["frames"] == 3
        assert figures["mean_ms"] > 0 and figures["p90_ms"] >= figures["median_ms"] > 0
        assert figures["mean_ms"] == pytest.approx(
            figures["extract_mean_ms"] + figures["track_mean_ms"], abs=2e-3
        )


def test_model_masks_are_the_model_resolution_masks_the_node_uses() -> None:
    result = measure(drives=1, frames=1, size=(540, 960), repeat=1)
    # the model the node runs for the highway scenario on the CPU, at the input size its metadata
    # gives (not the frame's)
    model = scenario_model_path(load_scenario("highway"), "cpu")
    with create_engine(model) as engine:
        height, width = engine.metadata.input_size
    assert (height, width) != (540, 960)
    assert result["source"] == f"model masks {height}x{width} ({model.name})"


def test_bad_arguments_are_refused() -> None:
    parser = argparse.ArgumentParser()
    register(parser)
    with pytest.raises(LaneBenchError, match="--frames"):
        run(parser.parse_args(["--frames", "0"]))
    with pytest.raises(LaneBenchError, match="--size"):
        run(parser.parse_args(["--size", "big"]))
