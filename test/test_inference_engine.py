"""ONNX Runtime and torch engines on CPU: round trips with tiny models, errors, CUDA policy."""

import logging
import warnings

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from seg_perception.errors import ModelFileError
from seg_perception.inference.engine import Engine, create_engine
from seg_perception.inference.errors import EngineError, InvalidImageError
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.onnxruntime_engine import OnnxRuntimeEngine
from seg_perception.inference.preprocess import Normalization, preprocess
from seg_perception.inference.torch_engine import TorchEngine

INPUT_HW = (24, 40)  # not square: catches height/width mix-ups
HAS_ORT_CUDA = "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def tiny_metadata(classes=("background", "lane_marking", "crosswalk"), input_size=INPUT_HW):
    colors = ("#000000", "#FFD400", "#00A0FF", "#FFFFFF")[: len(classes)]
    return ModelMetadata(
        model="tiny_conv", scenario="road", classes=tuple(classes), colors=colors, input_size=input_size
    )


def tiny_net(num_classes=3, seed=0):
    torch.manual_seed(seed)
    return nn.Conv2d(3, num_classes, kernel_size=3, padding=1).eval()


def export_onnx(path, net, metadata=None, *, input_hw=INPUT_HW):
    """Export a torch module as the package's ONNX layout, with metadata props when given."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(1, 3, *input_hw),),
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    if metadata is not None:
        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, metadata.to_props())
        onnx.save(proto, str(path))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    net = tiny_net()
    path = export_onnx(tmp_path_factory.mktemp("onnx") / "tiny.onnx", net, tiny_metadata())
    return path, net


@pytest.fixture(scope="module")
def engine(tiny_model):
    with create_engine(tiny_model[0], intra_op_threads=1) as loaded:
        yield loaded


def frame(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(("kwargs", "allowed"), [({}, "0"), ({"spin_wait": True}, "1")])
def test_idle_inference_threads_sleep_unless_spin_wait_is_asked_for(tiny_model, monkeypatch, kwargs, allowed):
    """Spinning workers burn a core between a camera's frames (docs/benchmarks.md): off by default."""
    asked = []
    real_session = onnxruntime.InferenceSession

    def session(path, sess_options=None, **rest):
        asked.append(sess_options.get_session_config_entry("session.intra_op.allow_spinning"))
        return real_session(path, sess_options=sess_options, **rest)

    monkeypatch.setattr(onnxruntime, "InferenceSession", session)
    with create_engine(tiny_model[0], intra_op_threads=2, **kwargs) as loaded:
        loaded.predict_masks(frame(*INPUT_HW))
    assert asked and set(asked) == {allowed}


def test_engine_reports_metadata_and_cpu_provider(engine):
    assert isinstance(engine, OnnxRuntimeEngine) and isinstance(engine, Engine)
    assert engine.metadata.classes == ("background", "lane_marking", "crosswalk")
    assert engine.metadata.input_size == INPUT_HW
    assert engine.providers == ["CPUExecutionProvider"]
    assert engine.device == "cpu"
    assert "CPUExecutionProvider" in engine.describe()


@pytest.mark.parametrize("size_hw", [(37, 53), (101, 61), INPUT_HW, (5, 7)])
def test_predict_returns_uint8_mask_at_frame_size(engine, size_hw):
    image = frame(*size_hw)
    mask = engine.predict(image)
    assert mask.shape == size_hw and mask.dtype == np.uint8
    assert mask.max() < engine.metadata.num_classes
    logits = engine.predict_logits(image)
    assert logits.shape == (1, 3, *INPUT_HW) and logits.dtype == np.float32
    model_mask = np.argmax(logits[0], axis=0).astype(np.uint8)
    expected = cv2.resize(model_mask, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(mask, expected)


def test_logits_equal_the_torch_model_on_the_same_input(engine, tiny_model):
    image = frame(50, 70, seed=3)
    norm = Normalization.from_mean_std(engine.metadata.mean, engine.metadata.std)
    with torch.inference_mode():
        expected = tiny_model[1](torch.from_numpy(preprocess(image, INPUT_HW, norm))).numpy()
    np.testing.assert_allclose(engine.predict_logits(image), expected, atol=1e-4)


def test_predict_records_timings_and_warmup_runs(engine):
    engine.warmup(iterations=1)
    engine.predict(frame(30, 30))
    assert set(engine.last_timings_ms) == {"preprocess", "inference", "mask"}
    assert all(value >= 0 for value in engine.last_timings_ms.values())


def test_bad_frames_raise_invalid_image_error(engine):
    with pytest.raises(InvalidImageError):
        engine.predict(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InvalidImageError):
        engine.predict(np.zeros((0, 10, 3), np.uint8))


def test_missing_file_names_path_and_fix(tmp_path):
    missing = tmp_path / "nowhere" / "highway.onnx"
    with pytest.raises(ModelFileError) as caught:
        create_engine(missing)
    assert str(missing) in str(caught.value)
    assert "seg-perception export" in str(caught.value) and "model_file" in str(caught.value)
    with pytest.raises(ModelFileError, match="no ONNX model file"):
        create_engine("")
    with pytest.raises(ModelFileError, match="directory"):
        create_engine(tmp_path)


def test_corrupt_files_name_the_file(tmp_path, tiny_model):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.onnx"
    data = tiny_model[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    for path in (garbage, truncated):
        with pytest.raises(ModelFileError) as caught:
            create_engine(path)
        assert str(path) in str(caught.value)


def test_checkpoint_given_to_onnxruntime_gets_a_hint(tmp_path):
    checkpoint = tmp_path / "best.pt"
    torch.save({"state_dict": {}}, checkpoint)
    with pytest.raises(ModelFileError, match="engine 'torch'"):
        create_engine(checkpoint)


def test_metadata_less_model_is_rejected(tmp_path):
    path = export_onnx(tmp_path / "plain.onnx", tiny_net())
    with pytest.raises(ModelFileError) as caught:
        create_engine(path)
    assert str(path) in str(caught.value) and "metadata" in str(caught.value)


def test_class_count_disagreeing_with_metadata_is_rejected(tmp_path):
    path = export_onnx(tmp_path / "wrong.onnx", tiny_net(num_classes=2), tiny_metadata())
    broken = create_engine(path)
    with pytest.raises(ModelFileError, match="3 classes"):
        broken.predict(frame(10, 10))


def test_static_input_size_disagreeing_with_metadata_is_rejected(tmp_path):
    path = export_onnx(tmp_path / "size.onnx", tiny_net(), tiny_metadata(input_size=(32, 32)))
    with pytest.raises(ModelFileError, match="input_size"):
        create_engine(path)


def test_unknown_engine_is_rejected(tiny_model):
    with pytest.raises(EngineError, match="unknown engine"):
        create_engine(tiny_model[0], engine="tensorflow")


@pytest.mark.skipif(HAS_ORT_CUDA, reason="checks the behaviour where CUDA is absent")
def test_cuda_request_without_cuda_follows_the_policy(tiny_model, caplog):
    logger = logging.getLogger("test.engine")
    with caplog.at_level(logging.WARNING, logger="test.engine"):
        fallback = create_engine(tiny_model[0], device="cuda", cuda_policy="fallback_to_cpu", logger=logger)
    assert fallback.providers == ["CPUExecutionProvider"] and fallback.device == "cpu"
    assert any("pip install .[gpu]" in record.getMessage() for record in caplog.records)
    assert fallback.predict(frame(12, 12)).shape == (12, 12)
    with pytest.raises(EngineError, match="CUDAExecutionProvider"):
        create_engine(tiny_model[0], device="cuda", cuda_policy="fail")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_ORT_CUDA, reason="needs onnxruntime-gpu with CUDA")
def test_cuda_provider_with_io_binding_matches_cpu(tiny_model, engine):
    gpu = create_engine(tiny_model[0], device="cuda", cuda_policy="fail")
    assert gpu.device.startswith("cuda")
    image = frame(45, 67)
    np.testing.assert_allclose(gpu.predict_logits(image), engine.predict_logits(image), atol=1e-3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from seg_perception.inference.checkpoint import save_checkpoint
    from seg_perception.models import build_model

    metadata = ModelMetadata(
        model="icnet_lite",
        scenario="highway",
        classes=("background", "lane_marking"),
        colors=("#000000", "#FFD400"),
        input_size=(32, 48),
    )
    torch.manual_seed(0)
    model = build_model("icnet_lite", 2).eval()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, metadata)


def test_torch_engine_runs_a_checkpoint_on_cpu(checkpoint):
    engine = create_engine(checkpoint, engine="torch")
    assert isinstance(engine, TorchEngine)
    assert engine.device == "cpu" and engine.metadata.classes == ("background", "lane_marking")
    image = frame(41, 57)
    mask = engine.predict(image)
    assert mask.shape == (41, 57) and mask.dtype == np.uint8
    logits = engine.predict_logits(image)
    assert logits.shape == (1, 2, 32, 48)
    model_mask = np.argmax(logits[0], axis=0).astype(np.uint8)
    expected = cv2.resize(model_mask, (57, 41), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(mask, expected)


def test_torch_engine_missing_checkpoint_names_path(tmp_path):
    with pytest.raises(ModelFileError, match=r"missing\.pt"):
        create_engine(tmp_path / "missing.pt", engine="torch")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour where CUDA is absent")
def test_torch_engine_cuda_policy_without_cuda(checkpoint):
    assert create_engine(checkpoint, engine="torch", device="cuda").device == "cpu"
    with pytest.raises(EngineError, match="CUDA"):
        create_engine(checkpoint, engine="torch", device="cuda", cuda_policy="fail")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_engine_device_path_matches_cpu(checkpoint):
    cpu = create_engine(checkpoint, engine="torch")
    gpu = create_engine(checkpoint, engine="torch", device="cuda", cuda_policy="fail")
    image = frame(64, 96)
    agreement = (gpu.predict(image) == cpu.predict(image)).mean()
    assert agreement > 0.98  # device resize differs from OpenCV's by rounding only


@pytest.mark.parametrize("size_hw", [(48, 80), (37, 53), INPUT_HW])
def test_predict_masks_pairs_the_frame_mask_with_its_model_resolution_source(engine, size_hw):
    image = frame(*size_hw, seed=5)
    mask, model_mask = engine.predict_masks(image)
    assert model_mask.shape == INPUT_HW and model_mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, engine.predict(image))
    expected = cv2.resize(model_mask, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(mask, expected)


def test_torch_device_code_path_returns_both_masks(checkpoint):
    # The CUDA path's maths run on any torch device; on the CPU it must agree with the NumPy path.
    engine = create_engine(checkpoint, engine="torch")
    image = frame(64, 96, seed=2)
    mask, model_mask = engine._predict_on_device(image)
    assert model_mask.shape == (32, 48) and mask.shape == (64, 96)
    expected = cv2.resize(model_mask, (96, 64), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(mask, expected)
    assert (mask == engine.predict(image)).mean() > 0.98  # device resize differs by rounding only


@pytest.mark.parametrize("engine_kind", ["onnxruntime", "torch"])
def test_batch_of_frames_of_different_sizes_equals_one_call_per_frame(engine_kind, engine, checkpoint):
    single = engine if engine_kind == "onnxruntime" else create_engine(checkpoint, engine="torch")
    frames = [frame(48, 80, seed=1), frame(37, 53, seed=2), frame(64, 96, seed=3)]
    results = single.predict_masks_batch(frames)
    assert len(results) == len(frames)
    for image, (mask, model_mask) in zip(frames, results, strict=True):
        expected_mask, expected_model_mask = single.predict_masks(image)
        assert mask.shape == image.shape[:2]
        np.testing.assert_array_equal(model_mask, expected_model_mask)
        np.testing.assert_array_equal(mask, expected_mask)
    assert single.predict_masks_batch([]) == []


def test_threads_per_engine_splits_the_cores_and_never_gives_zero() -> None:
    from seg_perception.inference.options import threads_per_engine

    assert threads_per_engine(1, cpus=8) == 8
    assert threads_per_engine(2, cpus=8) == 4
    assert threads_per_engine(3, cpus=8) == 2
    assert threads_per_engine(2, cpus=2) == 1
    assert threads_per_engine(4, cpus=2) == 1  # more engines than cores: one thread each
    with pytest.raises(ValueError, match="at least 1"):
        threads_per_engine(0, cpus=2)
