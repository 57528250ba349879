"""ONNX models run by ONNX Runtime with the TensorRT, CUDA or CPU execution provider.

Two ways to run a model:

- **plain**: the exported ``image`` → ``logits`` graph; the host does the
  pre-processing and the arg-max (:mod:`~seg_perception.inference.preprocess`). The
  fastest CPU path, and the default on the CPU.
- **fused** (default on a GPU provider): a graph with the pre-processing and the
  arg-max inside (:mod:`~seg_perception.inference.fused`), run through I/O binding on
  buffers that stay where the provider computes. A frame is copied once as uint8
  into a fixed input buffer, and only the uint8 mask at model resolution comes back;
  fixed buffers and static shapes also let the provider record a CUDA graph.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seg_perception.inference import providers as prov
from seg_perception.inference.base import (
    CHECKPOINT_SUFFIXES,
    Engine,
    default_cache_dir,
    default_trt_cache_dir,
    device_index,
    require_model_file,
)
from seg_perception.inference.errors import ModelFileError
from seg_perception.inference.fused import FRAME_INPUT, MASK_OUTPUT, ensure_fused_model
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.options import EngineOptions
from seg_perception.inference.preprocess import check_image, resize_mask
from seg_perception.inference.providers import EngineLogger

# Static-shape fused sessions kept per engine (frame size x batch); a camera uses one.
MAX_FUSED_SESSIONS = 4
# Runs done while a fused session is prepared, when it records a CUDA graph. ONNX Runtime
# captures after min_num_runs_before_cuda_graph_capture_ regular runs (2 on the CUDA
# provider, 1 on TensorRT), replays in the capturing run, and replays the graph alone from
# the next run on: 4 runs reach that first pure replay, so a provider that cannot capture
# fails while the session is prepared, where it is retried without graphs.
CUDA_GRAPH_PREPARE_RUNS = 4
# Session option: whether idle intra-op threads spin (EngineOptions.spin_wait).
ALLOW_SPINNING = "session.intra_op.allow_spinning"


class FusedRunner:
    """One static-shape fused session with its input and output bound to fixed buffers.

    Args:
        session: An ``onnxruntime.InferenceSession`` of a fused graph.
        batch: Frames per call.
        frame_size: (height, width) of the frames.
        mask_size: (height, width) of the masks (the model's input size).
        device_type: ``cpu`` or ``cuda``: where the buffers live.
        device_id: GPU index for ``cuda``.
        cuda_graphs: The session's provider was asked to record a CUDA graph.

    Other outputs of the graph (``marking_points``) are bound to fixed float32 buffers too
    and downloaded with the mask into :attr:`last_outputs`.
    """

    def __init__(
        self,
        session: Any,
        *,
        batch: int,
        frame_size: tuple[int, int],
        mask_size: tuple[int, int],
        device_type: str,
        device_id: int = 0,
        cuda_graphs: bool = False,
    ) -> None:
        import onnxruntime as ort

        self.session = session
        self.batch = batch
        self.frame_size = frame_size
        self.cuda_graphs = cuda_graphs
        self._binding = session.io_binding()
        self._frame = ort.OrtValue.ortvalue_from_shape_and_type(
            [batch, *frame_size, 3], np.uint8, device_type, device_id
        )
        self._mask = ort.OrtValue.ortvalue_from_shape_and_type(
            [batch, *mask_size], np.uint8, device_type, device_id
        )
        self._binding.bind_ortvalue_input(FRAME_INPUT, self._frame)
        self._binding.bind_ortvalue_output(MASK_OUTPUT, self._mask)
        self._extra: dict[str, Any] = {}
        for output in session.get_outputs():
            if output.name == MASK_OUTPUT:
                continue
            buffer = ort.OrtValue.ortvalue_from_shape_and_type(
                [int(dim) for dim in output.shape], np.float32, device_type, device_id
            )
            self._binding.bind_ortvalue_output(output.name, buffer)
            self._extra[output.name] = buffer
        self.last_outputs: dict[str, np.ndarray] = {}

    def run(self, frames: np.ndarray) -> np.ndarray:
        """Masks (batch, h, w) uint8 of frames (batch, H, W, 3) uint8 BGR; a copy, safe to keep."""
        self._frame.update_inplace(np.ascontiguousarray(frames))  # the one upload
        self._binding.synchronize_inputs()
        self.session.run_with_iobinding(self._binding)
        self._binding.synchronize_outputs()
        self.last_outputs = {name: np.array(value.numpy(), copy=True) for name, value in self._extra.items()}
        return np.array(self._mask.numpy(), copy=True)  # the one download; buffers are reused


def _session_options(ort: Any, options: EngineOptions) -> Any:
    """ONNX Runtime's session options: every graph optimisation, the thread count, spinning or not."""
    session_options = ort.SessionOptions()
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if options.intra_op_threads:
        session_options.intra_op_num_threads = int(options.intra_op_threads)
    session_options.add_session_config_entry(ALLOW_SPINNING, "1" if options.spin_wait else "0")
    return session_options


class OnnxRuntimeEngine(Engine):
    """An ONNX model run by ONNX Runtime with the best available execution provider.

    Args:
        model_file: ``.onnx`` file written by ``seg-perception export``.
        options: Device, providers, ``fp16`` (TensorRT FP16 engines; with the CUDA provider
            alone the fused graph's network is converted to float16), CUDA policy, CPU
            threads, caches, ``fused`` and ``cuda_graphs`` (see :class:`EngineOptions`);
            ``precision`` and ``max_graphs`` are torch's.
        logger: Receives load messages and fallback warnings.
    """

    name = "onnxruntime"

    def __init__(
        self,
        model_file: str | os.PathLike[str],
        options: EngineOptions | None = None,
        *,
        logger: EngineLogger | None = None,
    ) -> None:
        import onnxruntime as ort

        options = options or EngineOptions(engine=self.name)
        self._ort = ort
        self._logger: EngineLogger = logger or logging.getLogger(__name__)
        path = require_model_file(model_file, kind="ONNX")
        available = ort.get_available_providers()
        device, fp16, cuda_policy = options.device, options.fp16, options.cuda_policy
        requested, usable = prov.resolve_providers(
            device=device,
            providers=options.providers,
            available=available,
            fp16=fp16,
            trt_cache_dir=options.trt_cache_dir or default_trt_cache_dir(),
        )
        if cuda_policy == "fail":  # fail before the (slow) session build
            usable_names = [prov.provider_name(entry) for entry in usable]
            prov.check_gpu_obtained(requested, usable_names, available, policy=cuda_policy)
        for entry in usable:
            if not isinstance(entry, str) and "trt_engine_cache_path" in entry[1]:
                Path(entry[1]["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)

        self._source = path
        self._usable = usable
        self._options = _session_options(ort, options)
        self._device_id = device_index(device)
        self._fp16 = fp16
        self._cuda_graphs = options.cuda_graphs
        fused, fused_cache_dir = options.fused, options.fused_cache_dir
        self._fused_cache_dir = Path(fused_cache_dir) if fused_cache_dir else default_cache_dir() / "fused"
        self._runners: OrderedDict[tuple[int, int, int], FusedRunner] = OrderedDict()
        self._plain_session: Any = None
        self._active: list[str] = []

        use_fused = prov.has_gpu(usable) if fused is None else fused
        if use_fused:
            super().__init__(path, read_onnx_metadata(path))
            try:
                first = self._runner(1, self.metadata.input_size)
            except ModelFileError as err:
                if fused:  # asked for explicitly: say so rather than quietly run something else
                    raise
                self._logger.warning(f"{err}; running the plain graph with host pre-processing instead")
                use_fused = False
            else:
                self._active = list(first.session.get_providers())
                if self._drop_absent_tensorrt(self._active):
                    # TensorRT was listed but did not load: the CUDA provider runs the graph, and
                    # with fp16 it needs the float16 network, so rebuild for it.
                    self._runners.clear()
                    self._active = list(self._runner(1, self.metadata.input_size).session.get_providers())
        if not use_fused:
            session = self._plain()
            self._active = list(session.get_providers())
            super().__init__(path, ModelMetadata.from_props(_props(session), source=str(path)))
            self._check_input_shape(session.get_inputs()[0].shape)
        self.fused = use_fused
        prov.check_gpu_obtained(requested, self._active, available, policy=cuda_policy, logger=logger)
        self._logger.info(f"loaded {self.describe()}")

    @property
    def providers(self) -> list[str]:
        return list(self._active)

    @property
    def device(self) -> str:
        return f"cuda:{self._device_id}" if prov.has_gpu(self._active) else "cpu"

    def describe(self) -> str:
        graph = "fused frame-to-mask graph" if self.fused else "plain graph"
        threads = self._options.intra_op_num_threads
        cpu_threads = f", {threads} CPU thread{'s' if threads != 1 else ''}" if threads > 0 else ""
        return f"{super().describe()}, {graph}{cpu_threads}"

    # -- plain graph ---------------------------------------------------------------------------

    def _run(self, model_input: np.ndarray) -> np.ndarray:
        session = self._plain()
        return session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: model_input})[0]

    def _run_all(self, model_input: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        session = self._plain()
        names = [output.name for output in session.get_outputs()]
        if len(names) == 1:
            return self._run(model_input), {}
        values = session.run(names, {session.get_inputs()[0].name: model_input})
        return values[0], dict(zip(names[1:], values[1:], strict=True))

    def _plain(self) -> Any:
        """The plain session, created on first use (a fused engine needs it only for logits)."""
        if self._plain_session is None:
            self._plain_session = self._create_session(self._source, self._usable)
        return self._plain_session

    # -- fused graph ---------------------------------------------------------------------------

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.fused:
            return super().predict_masks(image_bgr)
        return self.predict_masks_batch([image_bgr])[0]

    def predict_masks_batch(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """One fused call per distinct frame size (usually one); see :meth:`Engine.predict_masks_batch`."""
        if not self.fused:
            return super().predict_masks_batch(frames)
        images = [check_image(frame) for frame in frames]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(image.shape[:2], []).append(index)
        results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(images)
        extra_rows: dict[str, list[np.ndarray | None]] = {}
        inference_s = mask_s = 0.0
        for size, indices in groups.items():
            start = time.perf_counter()
            # One frame: a view, no copy (the runner's upload is the only copy of the pixels).
            batch = images[indices[0]][None] if len(indices) == 1 else np.stack([images[i] for i in indices])
            masks = self._run_fused(len(indices), size, batch)
            for name, values in self._runner(len(indices), size).last_outputs.items():
                rows = extra_rows.setdefault(name, [None] * len(images))
                for row, index in enumerate(indices):
                    rows[index] = values[row]
            after_inference = time.perf_counter()
            for row, index in enumerate(indices):
                results[index] = (resize_mask(masks[row], size), masks[row])
            inference_s += after_inference - start
            mask_s += time.perf_counter() - after_inference
        self.last_outputs = {name: np.stack(rows) for name, rows in extra_rows.items()}  # type: ignore[arg-type]
        # Pre-processing and arg-max run inside the graph: they are part of "inference".
        self.last_timings_ms = {"preprocess": 0.0, "inference": inference_s * 1e3, "mask": mask_s * 1e3}
        return [result for result in results if result is not None]

    def runtime_call(self, *, batch: int = 1, seed: int = 0) -> Callable[[], Any]:
        """The fused graph alone on uint8 frames at the model's input size (upload and download included)."""
        if not self.fused:
            return super().runtime_call(batch=batch, seed=seed)
        size = self.metadata.input_size
        self._runner(batch, size)  # prepared now, not inside the first timed call
        frames = np.random.default_rng(seed).integers(0, 256, (batch, *size, 3), dtype=np.uint8)
        return lambda: self._run_fused(batch, size, frames)

    def _run_fused(self, batch: int, frame_size: tuple[int, int], frames: np.ndarray) -> np.ndarray:
        """Masks of ``frames`` from the fused runner of their shape; a failing CUDA graph is dropped.

        ONNX Runtime keeps a captured CUDA graph per calling thread (the providers'
        ``PerThreadContext``), so a thread other than the one that prepared the session
        captures again on its own first runs, after the preparation's fallback. If such a
        run fails, the fused sessions are rebuilt without CUDA graphs and the call retried.
        """
        runner = self._runner(batch, frame_size)
        try:
            return runner.run(frames)
        except Exception as err:  # providers raise several pybind error types
            if not runner.cuda_graphs:
                raise
            self._logger.warning(
                f"a CUDA graph run failed ({err}); rebuilding the fused sessions without CUDA graphs"
            )
            self._cuda_graphs = False
            self._runners.clear()
            return self._runner(batch, frame_size).run(frames)

    def _drop_absent_tensorrt(self, active: list[str]) -> bool:
        """Forget TensorRT when a session did not get it; True when fp16 now needs a rebuild.

        onnxruntime-gpu lists TensorRT as available even where its libraries are missing; the
        session then runs on CUDA. Later fused graphs are then prepared for the CUDA provider.
        """
        if not prov.uses_tensorrt(self._usable) or prov.TENSORRT in active:
            return False
        self._usable = [entry for entry in self._usable if prov.provider_name(entry) != prov.TENSORRT]
        return self._fp16 and prov.CUDA in active

    def _runner(self, batch: int, frame_size: tuple[int, int]) -> FusedRunner:
        """The fused runner for ``batch`` frames of ``frame_size``, built (and cached) on first use."""
        key = (batch, int(frame_size[0]), int(frame_size[1]))
        runner = self._runners.get(key)
        if runner is not None:
            self._runners.move_to_end(key)
            return runner
        # A new frame size means a new static graph (and, on TensorRT, an engine build that
        # can take many seconds the first time): say so, so a stall is not a mystery.
        self._logger.info(
            f"preparing the fused graph for {key[0]} frame(s) of {key[1]}x{key[2]} "
            f"on {', '.join(prov.provider_name(entry) for entry in self._usable)}"
        )
        fused_file = ensure_fused_model(
            self.model_file,
            self._fused_cache_dir,
            frame_size=key[1:],
            batch=batch,
            fp16=self._fp16 and not prov.uses_tensorrt(self._usable),
        )
        runner = self._fused_runner(fused_file, batch, key[1:])
        self._runners[key] = runner
        while len(self._runners) > MAX_FUSED_SESSIONS:
            self._runners.popitem(last=False)
        return runner

    def _fused_runner(self, fused_file: Path, batch: int, frame_size: tuple[int, int]) -> FusedRunner:
        on_gpu = prov.has_gpu(self._usable)
        entries = prov.with_engine_cache_prefix(self._usable, fused_file.stem)
        if on_gpu and self._cuda_graphs:
            try:
                return self._make_runner(fused_file, prov.with_cuda_graphs(entries), batch, frame_size)
            except Exception as err:  # providers raise several pybind error types
                self._logger.warning(
                    f"CUDA graphs are not possible for {fused_file.name} ({err}); running without them"
                )
        return self._make_runner(fused_file, entries, batch, frame_size)

    def _make_runner(
        self, fused_file: Path, entries: list[prov.ProviderEntry], batch: int, frame_size: tuple[int, int]
    ) -> FusedRunner:
        session = self._create_session(fused_file, entries)
        on_gpu = prov.has_gpu(session.get_providers())
        cuda_graphs = on_gpu and prov.uses_cuda_graphs(entries)
        runner = FusedRunner(
            session,
            batch=batch,
            frame_size=frame_size,
            mask_size=self.metadata.input_size,
            device_type="cuda" if on_gpu else "cpu",
            device_id=self._device_id,
            cuda_graphs=cuda_graphs,
        )
        # The first run builds TensorRT engines, later ones record and replay the CUDA graph:
        # fail here, not on a camera frame.
        zeros = np.zeros((batch, *frame_size, 3), dtype=np.uint8)
        for _ in range(CUDA_GRAPH_PREPARE_RUNS if cuda_graphs else 1):
            runner.run(zeros)
        return runner

    def _create_session(self, model_path: Path, entries: list[prov.ProviderEntry]) -> Any:
        try:
            return self._ort.InferenceSession(str(model_path), sess_options=self._options, providers=entries)
        except Exception as err:  # ORT raises several pybind error types
            message = f"{model_path} is not a loadable ONNX model ({err}).{_hint(model_path)}"
            raise ModelFileError(message) from err

    def close(self) -> None:
        self._runners.clear()
        self._plain_session = None

    def _check_input_shape(self, shape: list[Any]) -> None:
        """A model with a static spatial input size must agree with its metadata."""
        spatial = shape[2:] if len(shape) == 4 else []
        static = bool(spatial) and all(isinstance(dim, int) for dim in spatial)
        if static and tuple(spatial) != self.metadata.input_size:
            raise ModelFileError(
                f"{self.model_file}: input size {tuple(spatial)} disagrees with metadata input_size "
                f"{self.metadata.input_size}; re-export the model"
            )


def _hint(path: Path) -> str:
    if path.suffix in CHECKPOINT_SUFFIXES:
        return " It looks like a PyTorch checkpoint: use engine 'torch'."
    return " Re-export it with 'seg-perception export ...' or re-copy it."


def _props(session: Any) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


def read_onnx_metadata(path: Path) -> ModelMetadata:
    """Metadata of an ONNX file without building a session (a TensorRT build takes seconds)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf decode errors have no common base class
        raise ModelFileError(f"{path} is not a loadable ONNX model ({err}).{_hint(path)}") from err
    return ModelMetadata.from_props({prop.key: prop.value for prop in proto.metadata_props}, source=str(path))


def write_onnx_metadata(source: Path, target: Path, metadata: ModelMetadata) -> None:
    """Copy ``source`` to ``target`` with ``metadata_props`` replaced by ``metadata`` (graph unchanged)."""
    import onnx

    try:
        proto = onnx.load(str(source))
    except Exception as err:  # protobuf decode errors have no common base class
        raise ModelFileError(f"{source} is not a loadable ONNX model ({err}).{_hint(source)}") from err
    onnx.helper.set_model_props(proto, metadata.to_props())  # replaces every earlier entry
    onnx.checker.check_model(proto)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(target))


__all__ = [
    "CUDA_GRAPH_PREPARE_RUNS",
    "MAX_FUSED_SESSIONS",
    "FusedRunner",
    "OnnxRuntimeEngine",
    "read_onnx_metadata",
    "write_onnx_metadata",
]
