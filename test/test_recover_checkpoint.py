"""``seg-perception recover``: a training checkpoint rebuilt from an exported ONNX model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from seg_perception.config import load_scenario
from seg_perception.errors import ModelFileError
from seg_perception.inference.checkpoint import load_checkpoint
from seg_perception.inference.export import export_onnx
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.recover import recover_checkpoint
from seg_perception.models import build_model

SIZE = (32, 48)


def _metadata(model: str, scenario: str, **fields: object) -> ModelMetadata:
    classes = load_scenario(scenario).classes
    return ModelMetadata(
        model=model,
        scenario=scenario,
        classes=classes.names,
        colors=classes.colors_hex,
        input_size=SIZE,
        extra={"recipe": "test", "steps": 5},
        **fields,  # type: ignore[arg-type]
    )


def _trained_looking(model: nn.Module, seed: int) -> nn.Module:
    """Random batch-norm statistics and affine terms, so folding them into the convolutions matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                shape = module.running_mean.shape
                module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.3)
                module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(shape, generator=generator) * 0.2)
    return model.eval()


def _outputs(model: nn.Module, batch: torch.Tensor) -> list[np.ndarray]:
    with torch.no_grad():
        result = model(batch)
    return [t.numpy() for t in (result if isinstance(result, (list, tuple)) else [result])]


@pytest.mark.parametrize(
    ("name", "scenario", "options", "unused"),
    [
        (
            "icnet_lite",
            "parking",
            {"marking_points": True},
            ("cff_sub24.aux_classifier", "cff_sub12.aux_classifier"),
        ),
        ("hrnetv2_w18_small_v1", "highway", {}, ()),
    ],
)
def test_a_recovered_checkpoint_computes_what_the_exported_file_computes(
    tmp_path: Path, name: str, scenario: str, options: dict[str, object], unused: tuple[str, ...]
) -> None:
    torch.manual_seed(0)
    original = _trained_looking(build_model(name, len(load_scenario(scenario).classes.names), **options), 1)
    metadata = _metadata(name, scenario, marking_point_stride=4 if options else 0)
    export_onnx(original, metadata, tmp_path / "model.onnx")
    report = recover_checkpoint(tmp_path / "model.onnx", tmp_path / "model.pt")
    assert report.max_abs_diff < 1e-4
    assert report.unused_modules == unused  # training-only heads: not in the graph, and said so
    assert report.folded_norms == sum(isinstance(m, nn.BatchNorm2d) for m in original.modules()) - len(
        [n for n in unused if isinstance(original.get_submodule(n), nn.BatchNorm2d)]
    )
    recovered, recovered_metadata, raw = load_checkpoint(tmp_path / "model.pt")
    assert raw["model_name"] == name and raw["model_options"] == options and raw["step"] == 5
    assert recovered_metadata.classes == metadata.classes
    assert recovered_metadata.extra["recovered_from"] == "model.onnx"
    batch = torch.randn(2, 3, *SIZE, generator=torch.Generator().manual_seed(7))
    for expected, actual in zip(_outputs(original, batch), _outputs(recovered, batch), strict=True):
        np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_calibration_gives_the_norms_their_inputs_statistics_and_keeps_the_function(tmp_path: Path) -> None:
    torch.manual_seed(0)
    original = _trained_looking(build_model("icnet_lite", 2), 2)
    export_onnx(original, _metadata("icnet_lite", "highway"), tmp_path / "model.onnx")
    frames = [
        np.random.default_rng(seed).normal(1.0, 2.0, size=(4, 3, *SIZE)).astype(np.float32) for seed in (3, 4)
    ]
    report = recover_checkpoint(
        tmp_path / "model.onnx", tmp_path / "model.pt", calibration=lambda _metadata: frames
    )
    assert report.calibration_frames == 8 and report.max_abs_diff < 1e-4
    recovered, _, _ = load_checkpoint(tmp_path / "model.pt")
    stem_norm = recovered.get_submodule("stem.0.1")
    assert isinstance(stem_norm, nn.BatchNorm2d)
    seen: list[torch.Tensor] = []
    handle = stem_norm.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    _outputs(recovered, torch.from_numpy(np.concatenate(frames)))
    handle.remove()
    torch.testing.assert_close(stem_norm.running_mean, seen[0].mean(dim=(0, 2, 3)), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(
        stem_norm.running_var, seen[0].var(dim=(0, 2, 3), unbiased=False), atol=1e-3, rtol=1e-3
    )
    # In train mode a batch like the calibration frames is normalised by its own statistics:
    # the output stays close to the exported function (without calibration it would not).
    recovered.train()
    with torch.no_grad():
        train_logits = recovered(torch.from_numpy(np.concatenate(frames)))[0]
    recovered.eval()
    eval_logits = torch.from_numpy(_outputs(recovered, torch.from_numpy(np.concatenate(frames)))[0])
    resized = nn.functional.interpolate(eval_logits, size=train_logits.shape[-2:], mode="bilinear")
    relative = float((resized - train_logits).abs().mean() / resized.abs().mean())
    assert relative < 0.25, relative


def test_a_file_of_another_architecture_is_refused(tmp_path: Path) -> None:
    original = _trained_looking(build_model("icnet_lite", 2), 3)
    wrong = _metadata("hrnetv2_w18_small_v1", "highway")  # the metadata names another model
    export_onnx(original, wrong, tmp_path / "model.onnx")
    with pytest.raises(ModelFileError, match="convolutions"):
        recover_checkpoint(tmp_path / "model.onnx", tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_the_command_recovers_a_file_and_calibrates_on_its_scenario(tmp_path: Path, capsys) -> None:
    from seg_perception.cli import main

    original = _trained_looking(build_model("icnet_lite", 2), 4)
    metadata = dataclasses.replace(_metadata("icnet_lite", "highway"), input_size=(64, 128))
    export_onnx(original, metadata, tmp_path / "model.onnx")
    code = main(
        [
            "recover",
            str(tmp_path / "model.onnx"),
            "--out",
            str(tmp_path / "r.pt"),
            "--calibration-scenes",
            "3",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "calibrated on 3 synthetic scenes" in printed and "cff_sub24.aux_classifier" in printed
    recovered, _, _ = load_checkpoint(tmp_path / "r.pt")
    batch = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(_outputs(recovered, batch)[0], _outputs(original, batch)[0], atol=1e-4)


def test_a_mirror_averaged_file_recovers_its_bare_model(tmp_path: Path, capsys) -> None:
    from seg_perception.cli import main

    torch.manual_seed(0)
    original = _trained_looking(build_model("icnet_lite", 2), 3)
    export_onnx(original, _metadata("icnet_lite", "highway"), tmp_path / "mirror.onnx", mirror_average=True)
    assert main(["recover", str(tmp_path / "mirror.onnx"), "--out", str(tmp_path / "bare.pt")]) == 0
    assert "export --mirror-average" in capsys.readouterr().out
    recovered, metadata, _ = load_checkpoint(tmp_path / "bare.pt")
    assert not metadata.mirror_averaged  # the checkpoint is the bare model, and says so
    batch = torch.randn(2, 3, *SIZE, generator=torch.Generator().manual_seed(7))
    for expected, actual in zip(_outputs(original, batch), _outputs(recovered, batch), strict=True):
        np.testing.assert_allclose(actual, expected, atol=1e-4)
