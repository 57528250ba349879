"""Fused frame-to-mask graphs: parity with the host pipeline on the CPU, caching, fp16, fallbacks."""

import logging

import numpy as np
import onnx
import onnxruntime
import pytest
from tiny_onnx import tiny_metadata, write_conv_model

from seg_perception.config import share_dir
from seg_perception.data.synthetic import generate_drive
from seg_perception.errors import ModelFileError
from seg_perception.inference import onnxruntime_engine
from seg_perception.inference import providers as prov
from seg_perception.inference.engine import create_engine
from seg_perception.inference.fused import (
    FRAME_INPUT,
    MASK_OUTPUT,
    build_fused_model,
    ensure_fused_model,
)
from seg_perception.inference.onnxruntime_engine import (
    CUDA_GRAPH_PREPARE_RUNS,
    MAX_FUSED_SESSIONS,
    OnnxRuntimeEngine,
)

HAS_ORT_CUDA = "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def frame(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def run_fused(model, frames):
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([MASK_OUTPUT], {FRAME_INPUT: np.stack(frames)})[0]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    metadata = tiny_metadata("road", input_size=(24, 40), mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    weight = np.random.default_rng(3).normal(size=(metadata.num_classes, 3))
    return write_conv_model(tmp_path_factory.mktemp("fused") / "random.onnx", metadata, weight)


@pytest.fixture(scope="module")
def plain_engine(random_model):
    return create_engine(random_model, intra_op_threads=1)


@pytest.mark.parametrize("size_hw", [(24, 40), (61, 97), (13, 20)])
def test_fused_graph_gives_the_host_pipelines_mask(random_model, plain_engine, size_hw):
    frames = [frame(*size_hw, seed=seed) for seed in range(2)]
    fused = build_fused_model(onnx.load(random_model), frame_size=size_hw, batch=2)
    masks = run_fused(fused, frames)
    assert masks.shape == (2, 24, 40) and masks.dtype == np.uint8
    for image, mask in zip(frames, masks, strict=True):
        expected = plain_engine.predict_masks(image)[1]
        agreement = (mask == expected).mean()
        if size_hw == (24, 40):  # no resize: the same maths up to float rounding
            assert agreement > 0.995
        else:  # OpenCV resizes in uint8, the graph in float: pixels near a class border may flip
            assert agreement > 0.97


@pytest.mark.parametrize(
    ("scenario", "file_name", "frame_size"),
    [
        ("highway", "highway.onnx", (540, 960)),
        ("parking", "parking.onnx", (640, 640)),
        # the highway's CUDA default: a mirror-averaged graph (a batch of two inside the model)
        ("highway", "highway_hrnetv2_w18_small_v1_mirror.onnx", (540, 960)),
    ],
)
def test_fused_shipped_models_agree_with_the_host_pipeline_on_scenes(
    scenario, file_name, frame_size, tmp_path
):
    model_file = share_dir() / "weights" / file_name
    plain = create_engine(model_file, intra_op_threads=1)
    fused = create_engine(model_file, intra_op_threads=1, fused=True, fused_cache_dir=tmp_path)
    assert fused.fused and not plain.fused
    for sample in generate_drive(scenario, 200000, 2, size=frame_size):
        fused_mask, fused_small = fused.predict_masks(sample.image)
        plain_mask, plain_small = plain.predict_masks(sample.image)
        assert fused_mask.shape == frame_size and fused_small.shape == fused.metadata.input_size
        assert (fused_small == plain_small).mean() > 0.995
        assert (fused_mask == plain_mask).mean() > 0.995


def test_engine_batches_frames_by_size_and_caches_a_few_sessions(random_model, plain_engine, tmp_path):
    engine = create_engine(random_model, intra_op_threads=1, fused=True, fused_cache_dir=tmp_path)
    assert isinstance(engine, OnnxRuntimeEngine) and "fused" in engine.describe()
    frames = [frame(30, 50, seed=1), frame(61, 97, seed=2), frame(30, 50, seed=3)]
    results = engine.predict_masks_batch(frames)
    assert [mask.shape for mask, _ in results] == [(30, 50), (61, 97), (30, 50)]
    for image, (mask, small) in zip(frames, results, strict=True):
        single_mask, single_small = engine.predict_masks(image)
        np.testing.assert_array_equal(small, single_small)
        np.testing.assert_array_equal(mask, single_mask)
        assert (small == plain_engine.predict_masks(image)[1]).mean() > 0.97
    assert engine.predict_masks_batch([]) == []
    for height in range(20, 20 + MAX_FUSED_SESSIONS + 2):
        engine.predict(frame(height, 40))
    assert len(engine._runners) == MAX_FUSED_SESSIONS
    newest = max(engine._runners)
    assert newest[1] == 20 + MAX_FUSED_SESSIONS + 1  # least recently used went first
    assert engine.last_timings_ms["preprocess"] == 0.0 and engine.last_timings_ms["inference"] > 0


def test_fused_files_are_cached_and_keyed_by_weights_size_and_precision(random_model, tmp_path):
    first = ensure_fused_model(random_model, tmp_path, frame_size=(30, 50))
    written = first.stat().st_mtime_ns
    assert ensure_fused_model(random_model, tmp_path, frame_size=(30, 50)) == first
    assert first.stat().st_mtime_ns == written  # reused, not rebuilt
    other_size = ensure_fused_model(random_model, tmp_path, frame_size=(31, 50))
    other_batch = ensure_fused_model(random_model, tmp_path, frame_size=(30, 50), batch=2)
    metadata = tiny_metadata("road", input_size=(24, 40))
    other_weights = write_conv_model(tmp_path / "random.onnx", metadata, np.ones((3, 3)))
    retrained = ensure_fused_model(other_weights, tmp_path / "cache", frame_size=(30, 50))
    names = {path.name for path in (first, other_size, other_batch, retrained)}
    assert len(names) == 4
    assert not list(tmp_path.glob("*.tmp"))
    props = {prop.key: prop.value for prop in onnx.load(first).metadata_props}
    assert "seg_perception.classes" in props  # metadata travels with the fused graph


def test_fp16_graph_keeps_uint8_io_and_agrees_with_fp32(tmp_path):
    model_file = share_dir() / "weights" / "highway.onnx"
    fp16_file = ensure_fused_model(model_file, tmp_path, frame_size=(270, 480), fp16=True)
    fp32_file = ensure_fused_model(model_file, tmp_path, frame_size=(270, 480))
    model = onnx.load(fp16_file)
    types = {initializer.data_type for initializer in model.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert fp16_file.stat().st_size < 0.7 * fp32_file.stat().st_size
    # Shape arithmetic (ICNet's pooling bins) is folded at fp32 before the conversion, so no
    # size is computed in float16 at run time and only the edge casts remain.
    op_types = [node.op_type for node in model.graph.node]
    assert not {"Shape", "Floor", "Ceil"} & set(op_types)
    assert op_types.count("Cast") <= 6
    image = next(generate_drive("highway", 200001, 1, size=(270, 480))).image
    fp16_mask = run_fused(model, [image])[0]
    fp32_mask = run_fused(onnx.load(fp32_file), [image])[0]
    assert (fp16_mask == fp32_mask).mean() > 0.99


def test_uint8_tensors_meet_only_float_casts_as_tensorrt_requires(random_model):
    # TensorRT: a uint8 network input must feed a Cast directly (NVIDIA/TensorRT#3985), and
    # uint8 converts only to and from float32/float16 (TensorRT DataType docs).
    fused = build_fused_model(onnx.load(random_model), frame_size=(30, 50))
    inferred = onnx.shape_inference.infer_shapes(fused)
    elem_types = {value.name: value.type.tensor_type.elem_type for value in inferred.graph.value_info}
    float_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}
    consumers = [node for node in fused.graph.node if FRAME_INPUT in node.input]
    assert [node.op_type for node in consumers] == ["Cast"]
    assert {attr.i for attr in consumers[0].attribute if attr.name == "to"} <= float_types
    uint8_casts = [
        node
        for node in fused.graph.node
        if node.op_type == "Cast"
        and any(attr.name == "to" and attr.i == onnx.TensorProto.UINT8 for attr in node.attribute)
    ]
    assert [node.output[0] for node in uint8_casts] == [MASK_OUTPUT]
    assert elem_types[uint8_casts[0].input[0]] in float_types


def test_models_without_the_exported_layout_are_refused(tmp_path):
    metadata = tiny_metadata("highway", input_size=(8, 8))
    path = write_conv_model(tmp_path / "renamed.onnx", metadata, np.ones((2, 3)))
    model = onnx.load(path)
    model.graph.output[0].name = "scores"
    model.graph.node[-1].output[0] = "scores"
    onnx.save(model, path)
    with pytest.raises(ModelFileError, match="logits"):
        ensure_fused_model(path, tmp_path / "cache", frame_size=(8, 8))
    with pytest.raises(ModelFileError, match="logits"):
        create_engine(path, fused=True, fused_cache_dir=tmp_path / "cache")
    assert not create_engine(path).fused  # the CPU default never fuses


def test_cuda_graph_failure_retries_without_graphs(random_model, tmp_path, monkeypatch, caplog):
    engine = create_engine(random_model, intra_op_threads=1, fused=True, fused_cache_dir=tmp_path)
    engine._usable = [("CUDAExecutionProvider", {"device_id": 0}), prov.CPU]
    made = []
    real_make_runner = OnnxRuntimeEngine._make_runner

    def make_runner(self, fused_file, entries, batch, frame_size):
        made.append(entries)
        if any(not isinstance(entry, str) and entry[1].get("enable_cuda_graph") for entry in entries):
            raise RuntimeError("graph capture is not supported")
        return real_make_runner(self, fused_file, [prov.CPU], batch, frame_size)

    monkeypatch.setattr(OnnxRuntimeEngine, "_make_runner", make_runner)
    with caplog.at_level(logging.WARNING):
        mask = engine.predict(frame(33, 44))
    assert mask.shape == (33, 44)
    assert len(made) == 2 and "CUDA graphs are not possible" in caplog.text


class CountingRunner:
    """Stands in for FusedRunner (whose CUDA buffers need a GPU build of ONNX Runtime)."""

    def __init__(self, session, *, batch, frame_size, mask_size, device_type, device_id=0, cuda_graphs=False):
        self.cuda_graphs = cuda_graphs
        self.mask_size = mask_size
        self.runs = 0

    def run(self, frames):
        self.runs += 1
        return np.zeros((len(frames), *self.mask_size), dtype=np.uint8)


class GpuSession:
    def get_providers(self):
        return [prov.CUDA, prov.CPU]


@pytest.mark.parametrize("graphs", [True, False])
def test_graph_sessions_run_past_capture_and_first_replay_while_prepared(
    random_model, tmp_path, monkeypatch, graphs
):
    # ONNX Runtime's CUDA provider captures on the 3rd run (2 regular runs first) and replays
    # alone from the 4th: a capture failure must surface while the session is prepared.
    engine = create_engine(random_model, intra_op_threads=1, fused=True, fused_cache_dir=tmp_path)
    monkeypatch.setattr(onnxruntime_engine, "FusedRunner", CountingRunner)
    monkeypatch.setattr(OnnxRuntimeEngine, "_create_session", lambda self, path, entries: GpuSession())
    entries = [(prov.CUDA, {"device_id": 0, "enable_cuda_graph": True} if graphs else {"device_id": 0})]
    runner = engine._make_runner(tmp_path / "unused.onnx", entries, 1, (24, 40))
    assert runner.cuda_graphs is graphs
    assert runner.runs == (CUDA_GRAPH_PREPARE_RUNS if graphs else 1)
    assert CUDA_GRAPH_PREPARE_RUNS >= 4


def test_a_graph_run_failing_later_rebuilds_the_sessions_without_graphs(random_model, tmp_path, caplog):
    # Captured graphs are per calling thread in ONNX Runtime: another thread captures again later.
    engine = create_engine(random_model, intra_op_threads=1, fused=True, fused_cache_dir=tmp_path)
    image = frame(24, 40)
    expected = engine.predict(image)
    graphed = engine._runners[(1, 24, 40)]
    graphed.cuda_graphs = True

    def failing_run(frames):
        raise RuntimeError("CUDA failure 900: operation not permitted when stream is capturing")

    graphed.run = failing_run
    with caplog.at_level(logging.WARNING):
        mask = engine.predict(image)
    np.testing.assert_array_equal(mask, expected)
    assert "without CUDA graphs" in caplog.text
    assert engine._runners[(1, 24, 40)] is not graphed and not engine._cuda_graphs
    graphless = engine._runners[(1, 24, 40)]
    graphless.run = failing_run  # no graphs to drop: the error is the caller's
    with pytest.raises(RuntimeError, match="900"):
        engine.predict(image)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_ORT_CUDA, reason="needs onnxruntime-gpu with CUDA")
@pytest.mark.parametrize("providers", [["CUDAExecutionProvider"], None])
def test_fused_gpu_engine_matches_cpu(providers, tmp_path):
    model_file = share_dir() / "weights" / "parking.onnx"
    cpu = create_engine(model_file)
    gpu = create_engine(
        model_file,
        device="cuda",
        providers=providers,
        fp16=True,
        cuda_policy="fail",
        trt_cache_dir=tmp_path / "trt",
        fused_cache_dir=tmp_path / "fused",
    )
    assert gpu.fused and gpu.device.startswith("cuda")
    for sample in generate_drive("parking", 200000, 3, size=(640, 640)):
        assert (gpu.predict(sample.image) == cpu.predict(sample.image)).mean() > 0.99


def test_tensorrt_listed_but_not_loaded_is_forgotten_so_fp16_goes_to_cuda(random_model, tmp_path):
    engine = create_engine(random_model, intra_op_threads=1, fused=True, fused_cache_dir=tmp_path)
    gpu_entries = prov.default_providers("cuda", fp16=True, trt_cache_dir=tmp_path)

    engine._usable, engine._fp16 = list(gpu_entries), True
    assert not engine._drop_absent_tensorrt([prov.TENSORRT, prov.CUDA, prov.CPU])  # TensorRT loaded
    assert engine._usable == gpu_entries
    assert engine._drop_absent_tensorrt([prov.CUDA, prov.CPU])  # rebuild: fp16 network for CUDA
    assert [prov.provider_name(entry) for entry in engine._usable] == [prov.CUDA, prov.CPU]

    engine._usable, engine._fp16 = list(gpu_entries), False
    assert not engine._drop_absent_tensorrt([prov.CUDA, prov.CPU])  # fp32: the graph is the same
    assert prov.TENSORRT not in [prov.provider_name(entry) for entry in engine._usable]
