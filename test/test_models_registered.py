"""Every registered model: options documented where it is defined, forward contract, ONNX export;
the ``@register_model`` decorator; the ``align_corners`` option; old HRNet checkpoints."""

from __future__ import annotations

import dataclasses
import inspect
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import Tensor, nn

from seg_perception.inference.metadata import ModelMetadata
from seg_perception.models import (
    SegmentationModel,
    build_model,
    list_models,
    load_official_hrnet_state_dict,
    registered_models,
)
from seg_perception.models import registry as registry_module
from seg_perception.models.registry import register_model

# Too slow for a CPU forward in the suite: built and run on the meta device instead.
HEAVY = {"hrnetv2_w18", "hrnetv2_w32", "hrnetv2_w48", "icnet_r50"}
NUM_CLASSES = 4
SIZE = (40, 56)


@pytest.mark.parametrize("name", list_models())
def test_options_are_documented_beside_the_architecture(name: str) -> None:
    entry = registered_models()[name]
    constructor_doc = inspect.getdoc(entry.architecture.__init__) or ""
    assert entry.options, name
    assert {"activation", "marking_points", "align_corners"} <= set(entry.options)
    undocumented = [option for option in entry.options if f"{option}:" not in constructor_doc]
    assert undocumented == [], f"{entry.architecture.__name__}.__init__ does not document {undocumented}"
    assert entry.architecture.__module__.startswith(f"seg_perception.models.{entry.family}.")


@pytest.mark.parametrize("name", sorted(set(list_models()) - HEAVY))
def test_every_registered_model_exports_to_onnx(name: str) -> None:
    """Export-friendly: traced to ONNX, checked, logits of the class count at input size.

    (Forward contract and gradients of every registered name: test_models_registry.py; the
    heavy ones there on the meta device.)
    """
    torch.manual_seed(0)
    model = build_model(name, NUM_CLASSES).eval()
    assert isinstance(model, SegmentationModel)
    assert model.num_classes == NUM_CLASSES and model.align_corners is False
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings
        torch.onnx.export(
            model,
            (torch.randn(1, 3, *SIZE),),
            buffer,
            opset_version=17,
            dynamo=False,
            output_names=["logits"],
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)
    output_shape = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert output_shape == [1, NUM_CLASSES, *SIZE]


@dataclasses.dataclass(frozen=True)
class _TinySpec:
    width: int


def test_register_model_adds_names_with_their_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))

    @register_model({"tiny_a": _TinySpec(4), "tiny_b": _TinySpec(8)}, family="tiny")
    class Tiny(SegmentationModel):
        """A one-layer model."""

        def __init__(
            self, spec: _TinySpec, *, num_classes: int, marking_points: bool = False, scale: float = 1.0
        ) -> None:
            super().__init__(num_classes=num_classes, marking_points=marking_points)
            self.body = nn.Conv2d(3, spec.width, 1)
            self.head = nn.Conv2d(spec.width, num_classes, 1)
            self.scale = scale

        def forward_heads(self, x: Tensor) -> tuple[list[Tensor], Tensor | None]:
            return [self.head(self.body(x)) * self.scale], None

    assert {"tiny_a", "tiny_b"} <= set(list_models())
    entry = registered_models()["tiny_b"]
    assert entry.family == "tiny" and entry.options == ("marking_points", "scale")
    assert entry.defaults == {"marking_points": False, "scale": 1.0}
    model = build_model("tiny_b", 2, scale=2.0)
    assert isinstance(model, Tiny) and model.body.out_channels == 8 and model.scale == 2.0
    with pytest.raises(ValueError, match="tiny_a"):
        register_model({"tiny_a": _TinySpec(1)}, family="tiny")(Tiny)
    with pytest.raises(Exception, match="activation"):
        build_model("tiny_a", 2, activation="relu")


def test_align_corners_changes_icnet_outputs() -> None:
    torch.manual_seed(0)
    plain = build_model("icnet_lite", 3).eval()
    aligned = build_model("icnet_lite", 3, align_corners=True).eval()
    aligned.load_state_dict(plain.state_dict())
    image = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        assert float((plain(image) - aligned(image)).abs().max()) > 1e-3


def test_align_corners_changes_hrnet_outputs_and_round_trips_through_export(tmp_path: Path) -> None:
    name = "hrnetv2_w18_small_v1"
    from seg_perception.inference.export import export_onnx, onnx_logits
    from seg_perception.inference.onnxruntime_engine import read_onnx_metadata

    torch.manual_seed(0)
    plain = build_model(name, 3).eval()
    aligned = build_model(name, 3, align_corners=True).eval()
    aligned.load_state_dict(plain.state_dict())  # same weights: only the resizes differ
    image = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        out_plain, out_aligned = plain(image), aligned(image)
    assert float((out_plain - out_aligned).abs().max()) > 1e-3

    metadata = ModelMetadata(
        model=name, scenario="highway", classes=("a", "b", "c"), colors=("#000000",) * 3, input_size=(32, 48)
    )
    path = tmp_path / "aligned.onnx"
    export_onnx(aligned, metadata, path)
    assert read_onnx_metadata(path).align_corners is True
    onnx_out = onnx_logits(path, image.numpy())
    np.testing.assert_allclose(onnx_out, out_aligned.numpy(), atol=1e-3)
    assert float(np.abs(onnx_out - out_plain.numpy()).max()) > 1e-3
    export_onnx(plain, dataclasses.replace(metadata, align_corners=True), tmp_path / "plain.onnx")
    assert read_onnx_metadata(tmp_path / "plain.onnx").align_corners is False  # from the model, not the input
    assert ModelMetadata.from_props(
        dataclasses.replace(metadata, align_corners=True).to_props()
    ).align_corners
    assert (
        ModelMetadata.from_dict({**dataclasses.asdict(metadata)} | {"align_corners": None}).align_corners
        is False
    )


def test_checkpoint_align_corners_rebuilds_the_same_model(tmp_path: Path) -> None:
    from seg_perception.inference.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = build_model("hrnetv2_w18_small_v1", 3, align_corners=True).eval()
    metadata = ModelMetadata(
        model="hrnetv2_w18_small_v1",
        scenario="highway",
        classes=("a", "b", "c"),
        colors=("#000000",) * 3,
        input_size=(48, 64),
        align_corners=True,
    )
    path = save_checkpoint(tmp_path / "m.pt", model, metadata, model_options={"align_corners": True})
    loaded, loaded_metadata, _ = load_checkpoint(path)
    assert loaded.align_corners is True and loaded_metadata.align_corners is True
    image = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(image), model(image))


def test_old_hrnet_checkpoint_without_num_batches_tracked_loads_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    torch.manual_seed(1)
    source = build_model("hrnetv2_w18_small_v1", 19)
    for parameter in source.parameters():
        nn.init.normal_(parameter)
    state = {f"model.{key}": value for key, value in source.state_dict().items()}
    removed = sorted(key[len("model.") :] for key in state if key.endswith("num_batches_tracked"))
    assert len(removed) > 50
    old = {key: value for key, value in state.items() if not key.endswith("num_batches_tracked")}
    # A whole BatchNorm that is missing stays missing: only complete layers are filled.
    del old["model.bn1.running_mean"]
    model = build_model("hrnetv2_w18_small_v1", 19)
    with pytest.raises(Exception, match=r"bn1\.running_mean"):
        load_official_hrnet_state_dict(model, old, strict=True)
    old["model.bn1.running_mean"] = state["model.bn1.running_mean"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        report = load_official_hrnet_state_dict(model, old, strict=True)
    assert report.filled == removed
    assert report.problems == []
    assert f"lacks {len(removed)} num_batches_tracked" in caplog.text
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            assert int(value) == 0
        else:
            torch.testing.assert_close(value, state[f"model.{key}"])
    # A current checkpoint fills nothing and says nothing about it.
    caplog.clear()
    assert load_official_hrnet_state_dict(build_model("hrnetv2_w18_small_v1", 19), state).filled == []
    assert "num_batches_tracked" not in caplog.text
