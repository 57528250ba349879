"""``seg-perception average``: two checkpoints of one model, averaged weight by weight."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from seg_perception.cli import main
from seg_perception.config import load_scenario
from seg_perception.errors import ModelFileError
from seg_perception.inference.checkpoint import average_checkpoints, load_checkpoint, save_checkpoint
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.models import build_model

MODEL = "icnet_lite"


def _metadata(**fields: object) -> ModelMetadata:
    classes = load_scenario("highway").classes
    values: dict[str, object] = {
        "model": MODEL,
        "scenario": "highway",
        "classes": classes.names,
        "colors": classes.colors_hex,
        "input_size": (32, 64),
    }
    values.update(fields)
    return ModelMetadata(**values)  # type: ignore[arg-type]


def _checkpoint(path: Path, seed: int, metadata: ModelMetadata | None = None) -> Path:
    """A checkpoint of random weights; its training notes (``extra``) differ by seed, as a run's do."""
    torch.manual_seed(seed)
    model = build_model(MODEL, 2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1.0, 1.0)
                module.num_batches_tracked.fill_(seed)
    notes = {"recipe": "second" if seed == 2 else "first", "steps": seed}
    return save_checkpoint(path, model, metadata or _metadata(extra=notes), step=seed)


def test_the_average_lies_between_the_two_weight_sets_and_loads(tmp_path: Path) -> None:
    first, second = _checkpoint(tmp_path / "a.pt", 1), _checkpoint(tmp_path / "b.pt", 2)
    out = average_checkpoints(first, second, tmp_path / "avg.pt", weight=0.25)
    model, metadata, raw = load_checkpoint(out)
    weights_a = torch.load(first, weights_only=False)["state_dict"]
    weights_b = torch.load(second, weights_only=False)["state_dict"]
    averaged = model.state_dict()
    floating = [name for name, value in weights_a.items() if value.is_floating_point()]
    assert floating and any(not torch.equal(weights_a[n], weights_b[n]) for n in floating)
    for name in floating:
        torch.testing.assert_close(averaged[name], 0.75 * weights_a[name] + 0.25 * weights_b[name])
    counters = [name for name in weights_a if name.endswith("num_batches_tracked")]
    assert counters and all(int(averaged[name]) == 2 for name in counters)  # the second's
    assert metadata.input_size == (32, 64) and "step" not in raw
    assert metadata.extra["averaged_from"]["weight"] == 0.25 and metadata.extra["recipe"] == "second"


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_the_ends_of_the_range_give_either_checkpoint_back(tmp_path: Path, weight: float) -> None:
    first, second = _checkpoint(tmp_path / "a.pt", 1), _checkpoint(tmp_path / "b.pt", 2)
    out = average_checkpoints(first, second, tmp_path / "avg.pt", weight=weight)
    kept = torch.load(second if weight else first, weights_only=False)["state_dict"]
    for name, value in torch.load(out, weights_only=False)["state_dict"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, kept[name])


def test_checkpoints_of_different_models_or_class_maps_are_refused(tmp_path: Path) -> None:
    first = _checkpoint(tmp_path / "a.pt", 1)
    other = _checkpoint(tmp_path / "b.pt", 2, dataclasses.replace(_metadata(), input_size=(64, 128)))
    with pytest.raises(ModelFileError, match=r"metadata\.input_size"):
        average_checkpoints(first, other, tmp_path / "avg.pt")
    with pytest.raises(ModelFileError, match=r"not in \[0, 1\]"):
        average_checkpoints(first, first, tmp_path / "avg.pt", weight=1.5)
    assert not (tmp_path / "avg.pt").exists()


def test_the_command_writes_the_average(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _checkpoint(tmp_path / "a.pt", 1), _checkpoint(tmp_path / "b.pt", 2)
    out = tmp_path / "avg.pt"
    assert main(["average", str(first), str(second), "--out", str(out)]) == 0
    assert "0.5 x" in capsys.readouterr().out
    load_checkpoint(out)


def test_a_threshold_picked_for_one_weight_set_is_not_carried_into_the_average(tmp_path: Path) -> None:
    recovered = _checkpoint(tmp_path / "a.pt", 1, _metadata(marking_point_threshold=0.4))  # a shipped file's
    run = _checkpoint(tmp_path / "b.pt", 2)  # a fine-tune's run carries none
    out = average_checkpoints(recovered, run, tmp_path / "avg.pt")
    assert load_checkpoint(out)[1].marking_point_threshold is None
    out = average_checkpoints(run, recovered, tmp_path / "avg2.pt")
    assert load_checkpoint(out)[1].marking_point_threshold is None
