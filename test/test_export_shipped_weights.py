"""The shipped ONNX files carry metadata matching the scenario configs, and stay small."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from seg_perception.config import load_scenario
from seg_perception.inference.metadata import ModelMetadata

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED = sorted(WEIGHTS.glob("*.onnx"))
MAX_BYTES = 15 * 1024 * 1024


@pytest.mark.skipif(not SHIPPED, reason="no shipped weights in weights/")
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_weights_match_their_scenario(path: Path) -> None:
    assert path.stat().st_size <= MAX_BYTES
    proto = onnx.load(str(path))
    metadata = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}, source=str(path))
    scenario = load_scenario(metadata.scenario)
    assert path.stem.split("_")[0] == scenario.name
    assert metadata.classes == scenario.classes.names
    assert metadata.colors == scenario.classes.colors_hex
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == list(metadata.output_names)
    if metadata.has_marking_points:  # the parking model: marking points at a known ground scale
        assert metadata.output_names == ("logits", "marking_points") and metadata.metres_per_pixel
    assert "val_miou" in metadata.extra
