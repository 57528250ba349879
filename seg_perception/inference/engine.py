"""Inference engines: ONNX Runtime (TensorRT / CUDA / CPU providers) and PyTorch checkpoints.

Every engine takes a (H, W, 3) uint8 BGR frame and returns a (H, W) uint8 class-id
mask at the frame's size: resize to the model's input size (bilinear), normalise,
run, arg-max at model resolution, nearest resize back. On CPU the pre-processing is
:func:`~seg_perception.inference.preprocess.preprocess`; on CUDA the torch engine does
the same maths on the device and downloads only the uint8 mask, and the ONNX engine
binds its output on the device (I/O binding). CPU machines never touch CUDA.
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from seg_perception.inference import providers as prov
from seg_perception.inference.errors import EngineError, ModelFileError
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.preprocess import (
    Normalization,
    argmax_mask,
    check_image,
    preprocess,
    resize_mask,
)

ENGINES = ("onnxruntime", "torch")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
EXPORT_HINT = "run 'seg-perception export ...' to create it, or set model_file to an existing file"


def default_trt_cache_dir() -> Path:
    """Where TensorRT keeps built engines: ``$XDG_CACHE_HOME/seg_perception/tensorrt``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seg_perception" / "tensorrt"


def require_model_file(model_file: str | os.PathLike[str] | None, *, kind: str) -> Path:
    """Return the path of an existing model file.

    Raises:
        ModelFileError: no path given, or the path is not an existing file.
    """
    if model_file is None or os.fspath(model_file) == "":
        raise ModelFileError(f"no {kind} model file was given; {EXPORT_HINT}")
    path = Path(model_file).expanduser()
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ModelFileError(f"{kind} model file {path} {what}; {EXPORT_HINT}")
    return path


class Engine(ABC):
    """A loaded model that turns BGR frames into class-id masks.

    Attributes:
        model_file: The file the model was loaded from.
        metadata: Classes, colours, input size and normalisation of the model.
        last_timings_ms: Timings of the latest :meth:`predict` (``preprocess``,
            ``inference``, ``mask``) in milliseconds. On CUDA, work is asynchronous
            until the mask download, so only the sum is meaningful there.
    """

    name = "engine"

    def __init__(self, model_file: Path, metadata: ModelMetadata) -> None:
        self.model_file = model_file
        self.metadata = metadata
        self.last_timings_ms: dict[str, float] = {}
        self._norm = Normalization.from_mean_std(metadata.mean, metadata.std)
        height, width = metadata.input_size
        self._input = np.empty((1, 3, height, width), dtype=np.float32)  # reused every frame
        self._logits_checked = False

    @property
    @abstractmethod
    def providers(self) -> list[str]:
        """Execution providers (ONNX Runtime) or device (torch) really in use."""

    @property
    @abstractmethod
    def device(self) -> str:
        """``cpu`` or ``cuda[:N]``: where inference really runs."""

    @abstractmethod
    def _run(self, model_input: np.ndarray) -> np.ndarray:
        """Run the model on a ``(1, 3, h, w)`` float32 input; return ``(1, C, h, w)`` logits."""

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        return f"{self.name} on {', '.join(self.providers)} ({self.model_file.name}, {self.metadata.model})"

    def predict_logits(self, image_bgr: np.ndarray) -> np.ndarray:
        """Float32 logits ``(1, C, h, w)`` at the model's input resolution."""
        model_input = preprocess(image_bgr, self.metadata.input_size, self._norm, out=self._input)
        return self._checked(self._run(model_input))

    def predict(self, image_bgr: np.ndarray) -> np.ndarray:
        """Class-id mask (H, W) uint8 at the frame's size."""
        return self.predict_masks(image_bgr)[0]

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class-id masks at the frame's size (H, W) and at the model's output size (h, w).

        The first is the second resized with nearest neighbour (source pixel
        ``floor(dst * h / H)``), so post-processing can trace regions on the small one,
        up to (H/h)·(W/w) times fewer pixels, and scale the vertices. Both are the same
        array when the sizes agree.
        """
        image_bgr = check_image(image_bgr)
        start = time.perf_counter()
        model_input = preprocess(image_bgr, self.metadata.input_size, self._norm, out=self._input)
        after_preprocess = time.perf_counter()
        logits = self._checked(self._run(model_input))
        after_inference = time.perf_counter()
        model_mask = argmax_mask(logits)
        mask = resize_mask(model_mask, image_bgr.shape[:2])
        end = time.perf_counter()
        self.last_timings_ms = {
            "preprocess": (after_preprocess - start) * 1e3,
            "inference": (after_inference - after_preprocess) * 1e3,
            "mask": (end - after_inference) * 1e3,
        }
        return mask, model_mask

    def warmup(self, iterations: int = 2) -> None:
        """Run a few frames so lazy initialisation (allocations, TensorRT builds) happens now."""
        height, width = self.metadata.input_size
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        for _ in range(max(1, iterations)):
            self.predict(frame)

    def close(self) -> None:  # noqa: B027 - optional hook, engines override it
        """Release the model; the engine is unusable afterwards."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _checked(self, logits: np.ndarray) -> np.ndarray:
        """Return ``logits`` after checking (once) that their shape fits the metadata."""
        if not self._logits_checked:
            self._check_logits_shape(tuple(logits.shape))
        return logits

    def _check_logits_shape(self, shape: tuple[int, ...]) -> None:
        """Verify that the model outputs as many classes as its metadata names."""
        if len(shape) != 4 or shape[1] != self.metadata.num_classes:
            raise ModelFileError(
                f"{self.model_file}: model outputs logits of shape {shape} but its "
                f"metadata names {self.metadata.num_classes} classes {list(self.metadata.classes)}; "
                "re-export the model"
            )
        self._logits_checked = True


class OnnxRuntimeEngine(Engine):
    """An ONNX model run by ONNX Runtime with the best available execution provider."""

    name = "onnxruntime"

    def __init__(
        self,
        model_file: str | os.PathLike[str],
        *,
        device: str = "cpu",
        providers: list[prov.ProviderEntry] | None = None,
        fp16: bool = False,
        cuda_policy: prov.CudaPolicy = "fallback_to_cpu",
        intra_op_threads: int | None = None,
        trt_cache_dir: str | os.PathLike[str] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        import onnxruntime as ort

        path = require_model_file(model_file, kind="ONNX")
        available = ort.get_available_providers()
        requested, usable = prov.resolve_providers(
            device=device,
            providers=providers,
            available=available,
            fp16=fp16,
            trt_cache_dir=trt_cache_dir or default_trt_cache_dir(),
        )
        if cuda_policy == "fail":  # fail before the (slow) session build
            usable_names = [prov.provider_name(entry) for entry in usable]
            prov.check_gpu_obtained(requested, usable_names, available, policy=cuda_policy)
        for entry in usable:
            if not isinstance(entry, str) and "trt_engine_cache_path" in entry[1]:
                Path(entry[1]["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            options.intra_op_num_threads = int(intra_op_threads)
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=usable)
        except Exception as err:  # ORT raises several pybind error types
            hint = (
                " It looks like a PyTorch checkpoint: use engine 'torch'."
                if path.suffix in CHECKPOINT_SUFFIXES
                else " Re-export it with 'seg-perception export ...' or re-copy it."
            )
            raise ModelFileError(f"{path} is not a loadable ONNX model ({err}).{hint}") from err

        self._session = session
        self._active = list(session.get_providers())
        prov.check_gpu_obtained(requested, self._active, available, policy=cuda_policy, logger=logger)
        props = dict(session.get_modelmeta().custom_metadata_map)
        metadata = ModelMetadata.from_props(props, source=str(path))
        super().__init__(path, metadata)
        self._input_name = session.get_inputs()[0].name
        self._output_name = session.get_outputs()[0].name
        self._check_input_shape(session.get_inputs()[0].shape)
        self._device_id = _device_index(device)
        self._binding = session.io_binding() if prov.has_gpu(self._active) else None
        (logger or logging.getLogger(__name__)).info(f"loaded {self.describe()}")

    @property
    def providers(self) -> list[str]:
        return list(self._active)

    @property
    def device(self) -> str:
        return f"cuda:{self._device_id}" if self._binding is not None else "cpu"

    def _run(self, model_input: np.ndarray) -> np.ndarray:
        if self._binding is None:
            return self._session.run([self._output_name], {self._input_name: model_input})[0]
        return self._run_bound(model_input)

    def _run_bound(self, model_input: np.ndarray) -> np.ndarray:  # pragma: no cover - needs CUDA
        """GPU path: output stays on the device until one explicit copy."""
        binding = self._binding
        binding.bind_cpu_input(self._input_name, model_input)
        binding.bind_output(self._output_name, "cuda", self._device_id)
        self._session.run_with_iobinding(binding)
        logits = binding.copy_outputs_to_cpu()[0]
        binding.clear_binding_outputs()
        return logits

    def close(self) -> None:
        self._binding = None
        self._session = None  # type: ignore[assignment]

    def _check_input_shape(self, shape: list[Any]) -> None:
        """A model with a static spatial input size must agree with its metadata."""
        spatial = shape[2:] if len(shape) == 4 else []
        static = bool(spatial) and all(isinstance(dim, int) for dim in spatial)
        if static and tuple(spatial) != self.metadata.input_size:
            raise ModelFileError(
                f"{self.model_file}: input size {tuple(spatial)} disagrees with metadata input_size "
                f"{self.metadata.input_size}; re-export the model"
            )


class TorchEngine(Engine):
    """A PyTorch checkpoint (see :mod:`seg_perception.inference.checkpoint`) run in eval mode.

    On CUDA, pre-processing, arg-max and mask resizing run on the device and only the
    uint8 mask is downloaded; ``fp16`` runs the model under autocast (``precision``
    may also be ``bf16``) with channels-last memory. ``intra_op_threads`` is not applied
    because torch's thread pool is process-wide; set it in the calling program.
    """

    name = "torch"

    def __init__(
        self,
        model_file: str | os.PathLike[str],
        *,
        device: str = "cpu",
        fp16: bool = False,
        precision: str | None = None,
        cuda_policy: prov.CudaPolicy = "fallback_to_cpu",
        logger: logging.Logger | None = None,
    ) -> None:
        import torch

        from seg_perception.inference.checkpoint import load_checkpoint

        path = require_model_file(model_file, kind="PyTorch checkpoint")
        resolved = prov.resolve_torch_device(
            device, cuda_available=torch.cuda.is_available(), policy=cuda_policy, logger=logger
        )
        model, metadata, _raw = load_checkpoint(path)
        super().__init__(path, metadata)
        self._torch = torch
        self._device = torch.device(resolved)
        self._on_cuda = self._device.type == "cuda"
        precision = precision or ("fp16" if fp16 else "fp32")
        dtypes = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
        if precision not in dtypes:
            raise EngineError(f"unknown precision {precision!r}; use fp32, fp16 or bf16")
        self._autocast_dtype = dtypes[precision] if self._on_cuda else None
        model = model.eval().to(self._device)
        if self._on_cuda:
            model = model.to(memory_format=torch.channels_last)
        self._model = model
        (logger or logging.getLogger(__name__)).info(f"loaded {self.describe()} ({precision})")

    @property
    def providers(self) -> list[str]:
        return [f"torch:{self._device}"]

    @property
    def device(self) -> str:
        return str(self._device)

    def _forward(self, model_input: Any) -> Any:
        torch = self._torch
        with torch.inference_mode():
            if self._autocast_dtype is not None:
                with torch.autocast(device_type="cuda", dtype=self._autocast_dtype):
                    output = self._model(model_input)
            else:
                output = self._model(model_input)
        return output[0] if isinstance(output, (list, tuple)) else output

    def _run(self, model_input: np.ndarray) -> np.ndarray:
        torch = self._torch
        tensor = torch.from_numpy(model_input).to(self._device)
        if self._on_cuda:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return self._forward(tensor).float().cpu().numpy()

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self._on_cuda:
            return super().predict_masks(image_bgr)
        return self._predict_on_device(check_image(image_bgr))  # pragma: no cover - needs CUDA

    def _predict_on_device(  # pragma: no cover - needs CUDA
        self, image_bgr: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Both masks computed on the device; the uint8 masks are the only downloads."""
        from seg_perception.inference.preprocess import (
            mask_from_logits_torch,
            preprocess_torch,
            resize_mask_torch,
        )

        torch = self._torch
        start = time.perf_counter()
        with torch.inference_mode():
            frame = torch.from_numpy(np.ascontiguousarray(image_bgr)).to(self._device, non_blocking=True)
            model_input = preprocess_torch(frame, self.metadata.input_size, self._norm)
            model_input = model_input.contiguous(memory_format=torch.channels_last)
            after_preprocess = time.perf_counter()
            logits = self._forward(model_input)
            if not self._logits_checked:
                self._check_logits_shape(tuple(logits.shape))
            after_inference = time.perf_counter()
            model_mask = mask_from_logits_torch(logits, tuple(logits.shape[-2:]))
            full_mask = resize_mask_torch(model_mask, image_bgr.shape[:2])
            mask = full_mask.cpu().numpy()
            small = mask if full_mask.shape == model_mask.shape else model_mask.cpu().numpy()
        end = time.perf_counter()
        self.last_timings_ms = {
            "preprocess": (after_preprocess - start) * 1e3,
            "inference": (after_inference - after_preprocess) * 1e3,
            "mask": (end - after_inference) * 1e3,
        }
        return mask, small

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]
        if self._on_cuda:
            self._torch.cuda.empty_cache()


def _device_index(device: str) -> int:
    _, _, index = device.partition(":")
    return int(index) if index else 0


def create_engine(
    model_file: str | os.PathLike[str],
    *,
    engine: str = "onnxruntime",
    device: str = "cpu",
    providers: list[prov.ProviderEntry] | None = None,
    fp16: bool = False,
    cuda_policy: prov.CudaPolicy = "fallback_to_cpu",
    intra_op_threads: int | None = None,
    trt_cache_dir: str | os.PathLike[str] | None = None,
    logger: logging.Logger | None = None,
) -> Engine:
    """Load a model file into an engine.

    Args:
        model_file: ``.onnx`` file (``onnxruntime``) or ``.pt`` checkpoint (``torch``).
        engine: ``onnxruntime`` or ``torch``.
        device: ``cpu`` or ``cuda`` (``cuda:N``).
        providers: Explicit ONNX Runtime providers (names or ``(name, options)``);
            default derived from ``device``.
        fp16: TensorRT FP16 engines (ONNX) / float16 autocast (torch, CUDA only).
        cuda_policy: When CUDA is asked for but unavailable: ``fallback_to_cpu`` (warn)
            or ``fail`` (raise :class:`EngineError`).
        intra_op_threads: ONNX Runtime CPU threads; default lets ONNX Runtime decide.
        trt_cache_dir: TensorRT engine cache; default :func:`default_trt_cache_dir`.
        logger: Receives load info and fallback warnings (``logging`` or rclpy logger).

    Raises:
        ModelFileError: missing, corrupt or metadata-less model file.
        EngineError: unknown engine/device/policy, or CUDA absent under policy ``fail``.
    """
    if engine == "onnxruntime":
        return OnnxRuntimeEngine(
            model_file,
            device=device,
            providers=providers,
            fp16=fp16,
            cuda_policy=cuda_policy,
            intra_op_threads=intra_op_threads,
            trt_cache_dir=trt_cache_dir,
            logger=logger,
        )
    if engine == "torch":
        return TorchEngine(model_file, device=device, fp16=fp16, cuda_policy=cuda_policy, logger=logger)
    raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
