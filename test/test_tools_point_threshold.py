"""``seg-perception point-threshold``: the sweep, the choice and the metadata it writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import onnx
import pytest

from seg_perception.cli import main
from seg_perception.inference.onnxruntime_engine import read_onnx_metadata, write_onnx_metadata
from seg_perception.tools.point_threshold import choose_threshold, f1_from_counts


@pytest.fixture
def point_model(tiny_onnx_model, tmp_path: Path) -> Path:
    """The tiny parking model whose metadata claims a marking-point head (the sweep never runs it)."""
    source = tiny_onnx_model("parking")
    metadata = dataclasses.replace(read_onnx_metadata(source), marking_point_stride=4)
    path = tmp_path / "points.onnx"
    write_onnx_metadata(source, path, metadata)
    return path


def _counts(predicted: int, true: int, matched: int) -> dict[str, int]:
    return {"predicted": predicted, "true": true, "matched": matched}


def test_f1_from_counts_and_ties_go_to_the_higher_threshold() -> None:
    assert f1_from_counts(_counts(10, 10, 5)) == pytest.approx(0.5)
    assert f1_from_counts(_counts(0, 0, 0)) == 0.0
    assert choose_threshold({0.2: 0.6, 0.3: 0.7, 0.4: 0.7, 0.5: 0.65}) == 0.4
    assert choose_threshold({0.2: 0.8, 0.3: 0.7}) == 0.2


def test_write_onnx_metadata_keeps_the_graph_and_replaces_the_metadata(
    tiny_onnx_model, tmp_path: Path
) -> None:
    source = tiny_onnx_model("parking")
    metadata = dataclasses.replace(read_onnx_metadata(source), marking_point_threshold=0.35)
    target = tmp_path / "copy.onnx"
    write_onnx_metadata(source, target, metadata)
    assert read_onnx_metadata(target).marking_point_threshold == pytest.approx(0.35)
    assert read_onnx_metadata(source).marking_point_threshold is None
    assert onnx.load(str(target)).graph == onnx.load(str(source)).graph


def test_the_sweep_sums_every_folder_and_writes_the_best_threshold(
    point_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import seg_perception.training.avm_eval as avm_eval

    calls: list[tuple[str, tuple[float, ...], int | None]] = []

    def fake_sweep(model: Any, folder: Path, thresholds: Any, **options: Any) -> dict[float, Any]:
        calls.append((folder.name, tuple(thresholds), options["test_time_flips"]))
        # folder a peaks at 0.3, folder b at 0.5: summed, 0.5 wins (slots) while points favour 0.3
        reports = {}
        for threshold in thresholds:
            good = {"a": {0.3: 9, 0.5: 6}, "b": {0.3: 3, 0.5: 9}}[folder.name][threshold]
            points = _counts(10, 10, 9 if threshold == 0.3 else 5)
            reports[threshold] = {"groups": {"all": {"points": points, "slots": _counts(10, 10, good)}}}
        return reports

    monkeypatch.setattr(avm_eval, "evaluate_avm_thresholds", fake_sweep)
    out = tmp_path / "tuned.onnx"
    argv = ["point-threshold", str(point_model), "--avm", str(tmp_path / "a"), "--avm", str(tmp_path / "b")]
    assert main([*argv, "--candidates", "0.5", "0.3", "--test-time-flips", "4", "--out", str(out)]) == 0
    # one sweep per folder, every candidate in it (the model runs once per image)
    assert sorted(calls) == [("a", (0.3, 0.5), 4), ("b", (0.3, 0.5), 4)]
    assert read_onnx_metadata(out).marking_point_threshold == pytest.approx(0.5)
    printed = capsys.readouterr().out
    assert "| threshold | slots P / R (F1) | points P / R (F1) |" in printed
    assert "| 0.5 | 0.750 / 0.750 (0.750) | 0.500 / 0.500 (0.500) |" in printed  # summed over a and b
    assert "best slots F1 0.750 at threshold 0.5" in printed

    assert main([*argv, "--candidates", "0.5", "0.3", "--criterion", "points", "--out", str(out)]) == 0
    assert read_onnx_metadata(out).marking_point_threshold == pytest.approx(0.3)


def test_a_model_without_marking_points_or_a_bad_candidate_is_refused(
    tiny_onnx_model, point_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tiny_onnx_model("parking")
    assert main(["point-threshold", str(plain), "--avm", str(tmp_path)]) != 0
    assert "no marking-point output" in capsys.readouterr().err
    assert main(["point-threshold", str(point_model), "--avm", str(tmp_path), "--candidates", "1.5"]) != 0
    assert "(0, 1)" in capsys.readouterr().err
