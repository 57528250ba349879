"""The torch engine's device path: maths on the CPU device, graph cache, precision; CUDA parity on GPUs."""

import logging
import threading

import numpy as np
import pytest
import torch
from torch import nn

from seg_perception.inference.engine import EngineOptions, create_engine
from seg_perception.inference.errors import EngineError
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.preprocess import (
    Normalization,
    argmax_mask,
    argmax_masks_torch,
    mask_from_logits_torch,
    resize_mask,
)
from seg_perception.inference.torch_device import DeviceRunner, split_masks
from seg_perception.inference.torch_engine import TorchEngine, fold_batchnorm
from seg_perception.inference.torch_graphs import EagerBackend, GraphCache, StaticProgram

MODEL_HW = (32, 48)
HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")


def frame(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def randomise_batchnorm(model, seed=0):
    """Non-trivial BN statistics, so folding them into convs really changes the weights."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.1)
    return model


def tiny_icnet(seed=0):
    from seg_perception.models import build_model

    torch.manual_seed(seed)
    return randomise_batchnorm(build_model("icnet_lite", 2).eval(), seed)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from seg_perception.inference.checkpoint import save_checkpoint

    metadata = ModelMetadata(
        model="icnet_lite",
        scenario="highway",
        classes=("background", "lane_marking"),
        colors=("#000000", "#FFD400"),
        input_size=MODEL_HW,
    )
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", tiny_icnet(), metadata)


@pytest.fixture(scope="module")
def cpu_engine(checkpoint):
    with create_engine(checkpoint, engine="torch") as engine:
        yield engine


class RecordingBackend:
    """A stand-in for CUDA graphs: 'captures' by returning the program, and counts captures."""

    name = "recording"

    def __init__(self, fail=False):
        self.fail = fail
        self.captures = 0

    def capture(self, compute):
        self.captures += 1
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        return compute


class Builder:
    """Counts builds and runs; each program returns (key, its own buffer, run count)."""

    def __init__(self):
        self.builds = []
        self.runs = 0

    def __call__(self, key, *, error=None):
        def build():
            self.builds.append(key)
            buffer = np.zeros(4)

            def compute():
                if error is not None:
                    raise error
                self.runs += 1
                return key, buffer

            return StaticProgram(buffers=buffer, compute=compute)

        return build


# --------------------------------------------------------------------------- graph cache (CPU)


def test_cache_builds_once_per_key_and_reuses_buffers():
    backend, builder = RecordingBackend(), Builder()
    cache = GraphCache(backend, max_entries=4, warmup_runs=2)
    first = cache.get(((10, 20),), builder(((10, 20),)))
    again = cache.get(((10, 20),), builder(((10, 20),)))
    batch = cache.get(((10, 20), (10, 20)), builder(((10, 20), (10, 20))))
    assert again is first and first.buffers is again.buffers
    assert builder.builds == [((10, 20),), ((10, 20), (10, 20))]  # batch size is part of the key
    assert backend.captures == 2 and first.captured and batch.captured
    assert builder.runs == 4  # two eager warm-up runs before each capture, none on a hit
    key, buffer = first.replay()
    assert key == ((10, 20),) and buffer is first.buffers


def test_cache_evicts_the_least_recently_used_at_its_limit():
    builder = Builder()
    cache = GraphCache(RecordingBackend(), max_entries=2, warmup_runs=0)
    for key in ["a", "b", "a", "c"]:
        cache.get(key, builder(key))
    assert cache.keys() == ["a", "c"] and len(cache) == 2  # "b" was least recently used
    cache.get("b", builder("b"))
    assert cache.keys() == ["c", "b"]
    assert builder.builds == ["a", "b", "c", "b"]  # an evicted key is rebuilt
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="max_entries"):
        GraphCache(RecordingBackend(), max_entries=0)


def test_failed_capture_warns_once_and_runs_eagerly(caplog):
    backend, builder = RecordingBackend(fail=True), Builder()
    cache = GraphCache(backend, warmup_runs=1, logger=logging.getLogger("test.graphs"))
    with caplog.at_level(logging.WARNING, logger="test.graphs"):
        first = cache.get("a", builder("a"))
        second = cache.get("b", builder("b"))
    assert not first.captured and not second.captured
    assert first.replay()[0] == "a" and second.replay()[0] == "b"
    assert backend.captures == 1  # no second attempt once capture failed
    assert cache.backend_name == "eager" and "not permitted" in cache.capture_error
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "eager" in warnings[0].getMessage()


def test_program_errors_are_not_mistaken_for_capture_failures():
    builder = Builder()
    cache = GraphCache(RecordingBackend(), warmup_runs=1)
    with pytest.raises(KeyError, match="broken model"):
        cache.get("a", builder("a", error=KeyError("broken model")))
    assert cache.backend_name == "recording" and cache.capture_error is None and len(cache) == 0


def test_eager_backend_neither_warms_up_nor_captures():
    builder = Builder()
    entry = GraphCache(EagerBackend(), warmup_runs=3).get("a", builder("a"))
    assert not entry.captured and builder.runs == 0
    entry.replay()
    assert builder.runs == 1


# --------------------------------------------------------------------------- device maths (CPU)


@pytest.mark.parametrize("size_hw", [(64, 96), (41, 57), MODEL_HW, (20, 30)])
def test_device_path_on_cpu_agrees_with_the_numpy_path(cpu_engine, size_hw):
    image = frame(*size_hw, seed=sum(size_hw))
    mask, model_mask = cpu_engine._predict_on_device(image)
    expected_mask, expected_model_mask = cpu_engine.predict_masks(image)
    assert mask.shape == size_hw and mask.dtype == np.uint8 and model_mask.shape == MODEL_HW
    # Only the bilinear resize differs (OpenCV rounds to uint8), so a few boundary pixels may flip.
    assert (model_mask == expected_model_mask).mean() >= 0.98
    assert (mask == expected_mask).mean() >= 0.98
    np.testing.assert_array_equal(mask, resize_mask(model_mask, size_hw))
    assert set(cpu_engine.last_timings_ms) == {"preprocess", "inference", "mask"}


def fixed_logits_runner(logits, **options):
    """A runner whose 'model' ignores its input and returns ``logits`` (batch-expanded)."""
    tensor = torch.from_numpy(logits)

    def forward(batch):
        return tensor.expand(batch.shape[0], -1, -1, -1).clone()

    norm = Normalization.from_mean_std((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    return DeviceRunner(forward, device=torch.device("cpu"), input_size=MODEL_HW, norm=norm, **options)


def test_masks_from_identical_logits_equal_the_numpy_reference():
    logits = np.random.default_rng(4).normal(size=(1, 3, *MODEL_HW)).astype(np.float32)
    logits[0, 2, :4, :4] = logits[0, 1, :4, :4]  # ties go to the lower class id on both paths
    runner = fixed_logits_runner(logits)
    sizes = [(64, 96), MODEL_HW, (45, 31), (7, 9)]
    expected_model_mask = argmax_mask(logits)
    results = runner.run([frame(*size, seed=index) for index, size in enumerate(sizes)])
    for size, (mask, model_mask) in zip(sizes, results, strict=True):
        np.testing.assert_array_equal(model_mask, expected_model_mask)
        np.testing.assert_array_equal(mask, resize_mask(expected_model_mask, size))
    torch_model_mask = argmax_masks_torch(torch.from_numpy(logits))[0].numpy()
    np.testing.assert_array_equal(torch_model_mask, expected_model_mask)
    torch_mask = mask_from_logits_torch(torch.from_numpy(logits), (45, 31)).numpy()
    np.testing.assert_array_equal(torch_mask, resize_mask(expected_model_mask, (45, 31)))


def test_split_masks_layout_returns_one_array_for_model_sized_frames():
    model = np.arange(6, dtype=np.uint8).reshape(2, 3)
    big = np.full((4, 6), 9, np.uint8)
    flat = np.concatenate([big.ravel(), model.ravel(), (model + 10).ravel()])
    (mask_a, model_a), (mask_b, model_b) = split_masks(flat, [(4, 6), (2, 3)], (2, 3))
    np.testing.assert_array_equal(mask_a, big)
    np.testing.assert_array_equal(model_a, model)
    assert mask_b is model_b
    np.testing.assert_array_equal(model_b, model + 10)
    flat[:] = 0  # results are copies: the pinned buffer is reused by the next call
    assert mask_a.max() == 9 and model_b.max() == 15


def test_runner_reuses_static_buffers_and_refills_them_per_call(cpu_engine):
    backend = RecordingBackend()
    runner = DeviceRunner(
        cpu_engine._forward,
        device=torch.device("cpu"),
        input_size=MODEL_HW,
        norm=cpu_engine._norm,
        backend=backend,
        max_graphs=2,
        warmup_runs=1,
    )
    first, second = frame(40, 60, seed=1), frame(40, 60, seed=2)
    out_first = runner.run([first])[0]
    entry = runner.cache.get(((40, 60),), lambda: pytest.fail("must be cached"))
    pointers = (entry.buffers.host_frames.data_ptr(), entry.buffers.device_frames.data_ptr())
    out_second = runner.run([second])[0]
    assert (entry.buffers.host_frames.data_ptr(), entry.buffers.device_frames.data_ptr()) == pointers
    assert backend.captures == 1
    # The replay saw the new frame, not the one the program was built with.
    for image, (mask, _) in ((first, out_first), (second, out_second)):
        np.testing.assert_array_equal(mask, cpu_engine._predict_on_device(image)[0])
    assert not np.array_equal(out_first[0], out_second[0])
    runner.run([frame(20, 30)])
    runner.run([frame(20, 30), frame(40, 60)])
    assert runner.cache.keys() == [((20, 30),), ((20, 30), (40, 60))] and backend.captures == 3
    runner.close()
    assert len(runner.cache) == 0


def test_batch_on_the_device_path_equals_single_calls(cpu_engine):
    frames = [frame(48, 80, seed=1), frame(37, 53, seed=2), frame(*MODEL_HW, seed=3)]
    batch = cpu_engine._predict_batch_on_device(frames)
    for image, (mask, model_mask) in zip(frames, batch, strict=True):
        single_mask, single_model_mask = cpu_engine._predict_on_device(image)
        np.testing.assert_array_equal(model_mask, single_model_mask)
        np.testing.assert_array_equal(mask, single_mask)


def test_fold_batchnorm_keeps_the_logits():
    model = tiny_icnet(seed=3)
    image = torch.randn(1, 3, *MODEL_HW)
    with torch.inference_mode():
        expected = model(image)
        folded = fold_batchnorm(model)
        result = model(image)
    assert folded > 5
    assert not any(
        isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d)
        for seq in model.modules()
        if isinstance(seq, nn.Sequential)
        for i in range(len(seq) - 1)
    )
    torch.testing.assert_close(result, expected, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- precision (CPU)


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU behaviour")
@pytest.mark.parametrize("options", [{"precision": "fp16"}, {"precision": "bf16"}, {"fp16": True}])
def test_reduced_precision_is_ignored_on_cpu_with_a_note(checkpoint, caplog, options):
    logger = logging.getLogger("test.precision")
    with caplog.at_level(logging.INFO, logger="test.precision"):
        engine = create_engine(checkpoint, engine="torch", logger=logger, **options)
    assert isinstance(engine, TorchEngine) and engine.precision == "fp32"
    assert engine.execution_mode == "eager"
    assert any("CUDA only" in record.getMessage() for record in caplog.records)
    assert next(engine._model.parameters()).dtype == torch.float32


def test_unknown_precision_lists_the_valid_ones(checkpoint):
    with pytest.raises(EngineError) as caught:
        create_engine(checkpoint, engine="torch", precision="int8")
    assert all(name in str(caught.value) for name in ("'int8'", "fp32", "fp16", "bf16"))


def test_close_releases_the_device_path(checkpoint):
    engine = create_engine(checkpoint, engine="torch")
    engine._predict_on_device(frame(20, 30))
    assert engine._runner is not None
    engine.close()
    assert engine._runner is None and engine._model is None


# --------------------------------------------------------------------------- CUDA parity


def cuda_engine(checkpoint, **options):
    return create_engine(checkpoint, engine="torch", device="cuda", cuda_policy="fail", **options)


FRAME_SIZES = [(64, 96), (41, 57), MODEL_HW, (120, 200)]


@pytest.mark.gpu
@needs_cuda
def test_cuda_graphs_give_the_masks_of_eager_runs(checkpoint, cpu_engine):
    graphs, eager = cuda_engine(checkpoint), cuda_engine(checkpoint, cuda_graphs=False)
    assert graphs.execution_mode == "cuda_graph" and eager.execution_mode == "eager"
    for repeat in range(2):  # the second round replays the captured graphs
        for index, size in enumerate(FRAME_SIZES):
            image = frame(*size, seed=10 * repeat + index)
            mask, model_mask = graphs.predict_masks(image)
            eager_mask, eager_model_mask = eager.predict_masks(image)
            np.testing.assert_array_equal(model_mask, eager_model_mask)
            np.testing.assert_array_equal(mask, eager_mask)
            assert (mask == cpu_engine.predict(image)).mean() >= 0.98
    assert graphs.execution_mode == "cuda_graph"  # no silent fallback
    assert set(graphs.last_timings_ms) == {"preprocess", "inference", "mask"}
    assert all(value >= 0 for value in graphs.last_timings_ms.values())


@pytest.mark.gpu
@needs_cuda
def test_graph_cache_evicts_on_cuda_and_recaptures_correctly(checkpoint):
    engine = TorchEngine(
        checkpoint, EngineOptions(engine="torch", device="cuda", cuda_policy="fail", max_graphs=2)
    )
    eager = cuda_engine(checkpoint, cuda_graphs=False)
    for index, size in enumerate([*FRAME_SIZES, FRAME_SIZES[0]]):
        image = frame(*size, seed=index)
        np.testing.assert_array_equal(engine.predict(image), eager.predict(image))
    assert len(engine._runner.cache) == 2
    engine.close()


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_agrees_with_fp32(checkpoint, precision):
    full = cuda_engine(checkpoint, precision="fp32")
    reduced = cuda_engine(checkpoint, precision=precision)
    assert reduced.precision == precision
    expected_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    assert next(reduced._model.parameters()).dtype == expected_dtype
    image = frame(96, 144, seed=7)
    logits = full.predict_logits(image)
    scale = float(np.abs(logits).max())
    np.testing.assert_allclose(reduced.predict_logits(image), logits, atol=0.05 * scale)
    ranked = np.sort(logits[0], axis=0)
    confident = (ranked[-1] - ranked[-2]) > 0.02 * scale  # an untrained net has near-ties
    assert confident.mean() > 0.5
    _, full_model_mask = full.predict_masks(image)
    _, reduced_model_mask = reduced.predict_masks(image)
    assert (full_model_mask == reduced_model_mask)[confident].mean() >= 0.99
    assert (full.predict(image) == reduced.predict(image)).mean() >= 0.97


@pytest.mark.gpu
@needs_cuda
def test_two_engines_in_two_threads_match_sequential_runs(checkpoint):
    engines = [cuda_engine(checkpoint), cuda_engine(checkpoint, precision="fp16")]
    streams = [frame(*FRAME_SIZES[k % 3], seed=100 * index + k) for index in range(2) for k in range(12)]
    per_engine = [streams[:12], streams[12:]]
    expected = [
        [engine.predict(image) for image in images]
        for engine, images in zip(engines, per_engine, strict=True)
    ]
    results = [[], []]
    errors = []
    start = threading.Barrier(2)

    def work(index):
        try:
            start.wait()
            for _ in range(3):
                results[index] = [engines[index].predict(image) for image in per_engine[index]]
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for index in range(2):
        for got, want in zip(results[index], expected[index], strict=True):
            np.testing.assert_array_equal(got, want)
    assert engines[0]._runner._stream != engines[1]._runner._stream


@pytest.mark.gpu
@needs_cuda
def test_cuda_batch_equals_single_calls(checkpoint):
    engine = cuda_engine(checkpoint)
    frames = [frame(48, 80, seed=1), frame(37, 53, seed=2), frame(*MODEL_HW, seed=3)]
    for _ in range(2):  # built, then replayed
        batch = engine.predict_masks_batch(frames)
        for image, (mask, model_mask) in zip(frames, batch, strict=True):
            single_mask, single_model_mask = engine.predict_masks(image)
            assert mask.shape == image.shape[:2]
            # cuDNN may pick other kernels for batch 3: allow a rare flip at a near tie.
            assert (model_mask == single_model_mask).mean() >= 0.995
            assert (mask == single_mask).mean() >= 0.995


@pytest.mark.gpu
@needs_cuda
def test_capture_failure_on_cuda_falls_back_to_eager(cpu_engine, caplog):
    model = tiny_icnet().cuda()

    def forward_with_host_sync(batch):
        if float(batch.sum().item()) == float("inf"):  # a host sync: illegal while capturing
            raise AssertionError("unreachable")
        return model(batch)

    runner = DeviceRunner(
        forward_with_host_sync,
        device=torch.device("cuda"),
        input_size=MODEL_HW,
        norm=cpu_engine._norm,
        logger=logging.getLogger("test.capture"),
    )
    with caplog.at_level(logging.WARNING, logger="test.capture"):
        image = frame(64, 96, seed=5)
        mask, _ = runner.run([image])[0]
        runner.run([frame(41, 57)])
    assert runner.cache.backend_name == "eager"
    assert sum(record.levelno == logging.WARNING for record in caplog.records) == 1
    assert (mask == cpu_engine.predict(image)).mean() >= 0.98


@pytest.mark.gpu
@needs_cuda
def test_cuda_runtime_call_runs_the_model_alone(checkpoint):
    engine = cuda_engine(checkpoint)
    call = engine.runtime_call(batch=2)
    call()
    call()
    engine.warmup(1, frame_sizes=[(64, 96)])
    assert ((64, 96),) in engine._runner.cache.keys() and ("model", 2) in engine._runner.cache.keys()
    engine.close()
