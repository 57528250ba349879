"""ONNX export: checker, metadata round trip, parity with PyTorch, dynamic batch, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from seg_perception.config import load_scenario
from seg_perception.errors import ModelFileError
from seg_perception.inference.checkpoint import load_checkpoint, save_checkpoint
from seg_perception.inference.engine import create_engine
from seg_perception.inference.export import export_checkpoint, export_onnx
from seg_perception.inference.metadata import ModelMetadata


class TinyNet(nn.Module):
    """Stand-in segmentation net: conv, downsample, upsample back to the input size."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.head = nn.Conv2d(6, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(torch.relu(self.bn(self.conv(x))))
        return nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def highway_metadata(model: str = "tiny") -> ModelMetadata:
    classes = load_scenario("highway").classes
    return ModelMetadata(
        model=model,
        scenario="highway",
        classes=classes.names,
        colors=classes.colors_hex,
        input_size=(24, 40),
        extra={"recipe": "test", "steps": 3},
    )


def test_export_round_trips_metadata_and_matches_pytorch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyNet().eval()
    metadata = highway_metadata()
    report = export_onnx(model, metadata, tmp_path / "tiny.onnx")
    assert report.max_abs_diff < 1e-4
    proto = onnx.load(str(tmp_path / "tiny.onnx"))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version >= 17
    restored = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert restored == metadata
    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    batch = np.random.default_rng(1).normal(size=(3, 3, 24, 40)).astype(np.float32)
    logits = session.run(["logits"], {"image": batch})[0]
    assert logits.shape == (3, 2, 24, 40)
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(torch.from_numpy(batch)).numpy(), atol=1e-4)


def test_export_rejects_old_opset(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="opset"):
        export_onnx(TinyNet(), highway_metadata(), tmp_path / "x.onnx", opset=11)


def test_parity_failure_is_reported(tmp_path: Path) -> None:
    class Drifting(TinyNet):
        """Behaves differently under tracing than when run: parity must catch it."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = super().forward(x)
            return out + 1.0 if torch.jit.is_tracing() else out

    with pytest.raises(ModelFileError, match="differ"):
        export_onnx(Drifting().eval(), highway_metadata(), tmp_path / "drift.onnx")


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nothing\.pt"):
        load_checkpoint(tmp_path / "nothing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match=r"garbage\.pt"):
        load_checkpoint(garbage)
    torch.save({"state_dict": {}}, tmp_path / "partial.pt")
    with pytest.raises(ModelFileError, match="missing"):
        load_checkpoint(tmp_path / "partial.pt")


def test_export_from_registry_checkpoint(tmp_path: Path) -> None:
    models = pytest.importorskip("seg_perception.models")
    model = models.build_model("icnet_lite", 2).eval()
    metadata = highway_metadata("icnet_lite")
    save_checkpoint(tmp_path / "m.pt", model, metadata, model_options={}, step=7, optimizer={"junk": 1})
    _, loaded_metadata, raw = load_checkpoint(tmp_path / "m.pt")
    assert raw["step"] == 7 and loaded_metadata.classes == metadata.classes
    report = export_checkpoint(tmp_path / "m.pt", tmp_path / "m.onnx", size=(32, 48))
    assert report.input_size == (32, 48)
    assert report.max_abs_diff < 1e-3
    proto = onnx.load(str(tmp_path / "m.onnx"))
    restored = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert restored.input_size == (32, 48)
    assert restored.extra["steps"] == 7 and "package_version" in restored.extra


def test_a_mirror_averaged_export_is_mirror_equivariant_and_says_so(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyNet().eval()
    report = export_onnx(model, highway_metadata(), tmp_path / "mirror.onnx", mirror_average=True)
    assert report.max_abs_diff < 1e-4
    proto = onnx.load(str(tmp_path / "mirror.onnx"))
    assert ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}).mirror_averaged
    session = ort.InferenceSession(str(tmp_path / "mirror.onnx"), providers=["CPUExecutionProvider"])
    frames = torch.randn(3, 3, 24, 40, generator=torch.Generator().manual_seed(1))
    (logits,) = session.run(None, {"image": frames.numpy()})
    (mirrored,) = session.run(None, {"image": np.ascontiguousarray(frames.numpy()[..., ::-1])})
    np.testing.assert_allclose(mirrored, logits[..., ::-1], atol=1e-5)  # a mirrored frame: mirrored logits
    with torch.no_grad():
        plain, of_mirror = model(frames).numpy(), model(frames.flip(-1)).numpy()
    np.testing.assert_allclose(logits, (plain + of_mirror[..., ::-1]) / 2, atol=1e-5)
    assert np.abs(plain - logits).max() > 1e-3  # a random net is not symmetric: the average changed it
    plain_file = tmp_path / "plain.onnx"
    export_onnx(model, highway_metadata(), plain_file)
    assert not ModelMetadata.from_props(
        {p.key: p.value for p in onnx.load(str(plain_file)).metadata_props}
    ).mirror_averaged
    # Logs and diagnostics say which file averages mirrors.
    assert "mirror-averaged" in create_engine(tmp_path / "mirror.onnx").describe()
    assert "mirror-averaged" not in create_engine(plain_file).describe()


def test_mirror_averaging_refuses_a_model_with_marking_points(tmp_path: Path) -> None:
    models = pytest.importorskip("seg_perception.models")
    model = models.build_model("icnet_lite", 3, marking_points=True).eval()
    classes = load_scenario("parking").classes
    metadata = ModelMetadata(
        model="icnet_lite",
        scenario="parking",
        classes=classes.names,
        colors=classes.colors_hex,
        input_size=(32, 32),
        marking_point_stride=4,
    )
    with pytest.raises(ModelFileError, match="test_time_flips"):
        export_onnx(model, metadata, tmp_path / "points.onnx", mirror_average=True)
    assert not (tmp_path / "points.onnx").exists()
