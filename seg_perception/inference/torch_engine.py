"""PyTorch checkpoints run in eval mode on the CPU or a CUDA device.

On the CPU the engine uses the NumPy/OpenCV path of :class:`~seg_perception.inference.base.Engine`.
On CUDA every frame goes through the device path
(:class:`~seg_perception.inference.torch_device.DeviceRunner`): the uint8 frame is
uploaded once from a pinned staging buffer, resized and normalised on the device, run
through the model (fp32, fp16 or bf16 weights, channels-last), arg-maxed and
nearest-resized on the device, and only the uint8 masks come back, into pinned buffers.
The device program of a frame size is captured once into a CUDA graph
(:mod:`~seg_perception.inference.torch_graphs`) and replayed afterwards. Each engine has
its own CUDA stream, so two engines (one per camera) on one GPU do not serialise on the
default stream. An engine itself serves one call at a time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from seg_perception.inference import providers as prov
from seg_perception.inference.base import Engine, require_model_file
from seg_perception.inference.errors import EngineError
from seg_perception.inference.options import PRECISIONS, EngineOptions
from seg_perception.inference.preprocess import check_image
from seg_perception.inference.providers import EngineLogger
from seg_perception.inference.torch_device import DeviceRunner
from seg_perception.inference.torch_graphs import capture_lock

if TYPE_CHECKING:
    import torch
    from torch import nn


def check_precision(precision: str | None, *, fp16: bool = False) -> str:
    """The precision asked for: ``precision``, else ``fp16`` when ``fp16`` is set, else ``fp32``.

    Raises:
        EngineError: not one of :data:`PRECISIONS`.
    """
    requested = precision or ("fp16" if fp16 else "fp32")
    if requested not in PRECISIONS:
        raise EngineError(f"unknown precision {requested!r}; use one of {', '.join(PRECISIONS)}")
    return requested


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a precision name from :data:`PRECISIONS`."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def fold_batchnorm(model: nn.Module) -> int:
    """Fold each eval-mode ``BatchNorm2d`` that directly follows a ``Conv2d`` in an ``nn.Sequential``.

    The conv takes the BN's affine map and the BN becomes ``Identity``: one kernel fewer
    per layer, and no BatchNorm left to run in half precision. Done in fp32, before any
    cast. Returns the number of folded pairs.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for sequence in [module for module in model.modules() if isinstance(module, nn.Sequential)]:
        for index in range(len(sequence) - 1):
            conv, norm = sequence[index], sequence[index + 1]
            if (
                isinstance(conv, nn.Conv2d)
                and isinstance(norm, nn.BatchNorm2d)
                and norm.running_mean is not None
                and not (conv.training or norm.training)
            ):
                sequence[index] = fuse_conv_bn_eval(conv, norm)
                sequence[index + 1] = nn.Identity()
                folded += 1
    return folded


class TorchEngine(Engine):
    """A PyTorch checkpoint (see :mod:`seg_perception.inference.checkpoint`) run in eval mode.

    Of :class:`EngineOptions`, ``precision`` (``fp32``, ``fp16``, ``bf16``; ``fp16=True``
    means ``fp16``), ``cuda_graphs`` and ``max_graphs`` apply on CUDA only; the CPU path is
    always fp32 and eager. ``intra_op_threads`` is not applied because torch's thread pool
    is process-wide; set it in the calling program. ONNX Runtime's provider, fusion and
    cache options do not apply.

    Attributes:
        precision: Precision really used (``fp32`` on the CPU whatever was asked).
        last_timings_ms: See ``DeviceRunner`` on CUDA, :class:`Engine` on the CPU.
    """

    name = "torch"

    def __init__(
        self,
        model_file: str | os.PathLike[str],
        options: EngineOptions | None = None,
        *,
        logger: EngineLogger | None = None,
    ) -> None:
        import torch

        from seg_perception.inference.checkpoint import load_checkpoint

        options = options or EngineOptions(engine=self.name)
        log: EngineLogger = logger or logging.getLogger(__name__)
        requested = check_precision(options.precision, fp16=options.fp16)
        path = require_model_file(model_file, kind="PyTorch checkpoint")
        resolved = prov.resolve_torch_device(
            options.device,
            cuda_available=torch.cuda.is_available(),
            policy=options.cuda_policy,
            logger=logger,
        )
        model, metadata, _raw = load_checkpoint(path)
        super().__init__(path, metadata)
        self._torch = torch
        self._device = torch.device(resolved)
        self._on_cuda = self._device.type == "cuda"
        if requested != "fp32" and not self._on_cuda:
            log.info(f"precision {requested} applies on CUDA only; the CPU path runs fp32")
        self.precision = requested if self._on_cuda else "fp32"
        self._dtype = torch_dtype(self.precision)
        model = model.eval()
        if self._on_cuda:
            fold_batchnorm(model)
            # Cast weights rather than autocast: no per-op casts, and capturable as is.
            model = model.to(  # type: ignore[call-overload]  # stubs lack Module.to(memory_format=)
                self._device, dtype=self._dtype, memory_format=torch.channels_last
            )
        self._model = model
        self._cuda_graphs = bool(options.cuda_graphs)
        self._max_graphs = options.max_graphs
        self._logger = log
        self._runner: DeviceRunner | None = None
        if self._on_cuda:
            self._runner = self._make_runner()  # pragma: no cover - needs CUDA
        log.info(f"loaded {self.describe()} ({self.precision}, {self.execution_mode})")

    @property
    def providers(self) -> list[str]:
        return [f"torch:{self._device}"]

    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def execution_mode(self) -> str:
        """``cuda_graph`` while CUDA graphs are in use, else ``eager``."""
        return self._runner.cache.backend_name if self._on_cuda and self._runner else "eager"

    def _forward(self, model_input: Any) -> Any:
        """Logits, or ``(logits, marking points)`` for models with a marking-point head."""
        with self._torch.inference_mode():
            output = self._model(model_input)
        if isinstance(output, (list, tuple)):
            return (
                tuple(output[: len(self.metadata.output_names)])
                if len(self.metadata.output_names) > 1
                else output[0]
            )
        return output

    def _run(self, model_input: np.ndarray) -> np.ndarray:
        return self._run_all(model_input)[0]

    def _run_all(self, model_input: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        torch = self._torch
        tensor = torch.from_numpy(model_input).to(self._device)
        if self._on_cuda:
            tensor = tensor.to(dtype=self._dtype, memory_format=torch.channels_last)
        output = self._forward(tensor)
        logits, *extra = output if isinstance(output, tuple) else (output,)
        names = self.metadata.output_names[1:]
        return logits.float().cpu().numpy(), {
            name: value.float().cpu().numpy() for name, value in zip(names, extra, strict=True)
        }

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self._on_cuda:
            return super().predict_masks(image_bgr)
        return self._predict_on_device(check_image(image_bgr))  # pragma: no cover - needs CUDA

    def _predict_on_device(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both masks computed by the device path (also runs on the CPU device, for tests)."""
        return self._predict_batch_on_device([image_bgr])[0]

    def predict_masks_batch(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        if not self._on_cuda or not frames:
            return super().predict_masks_batch(frames)
        return self._predict_batch_on_device([check_image(frame) for frame in frames])  # pragma: no cover

    def _predict_batch_on_device(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        runner = self._device_runner()
        results = runner.run(images)
        self.last_timings_ms = dict(runner.last_timings_ms)
        self.last_outputs = dict(runner.last_outputs)
        return results

    def runtime_call(self, *, batch: int = 1, seed: int = 0) -> Callable[[], Any]:
        """On CUDA: the model alone on a device-resident input, synchronised; no host copies.

        On the CPU: :meth:`Engine.runtime_call`.
        """
        if not self._on_cuda:
            return super().runtime_call(batch=batch, seed=seed)
        return self._device_runner().model_call(batch=batch, seed=seed)  # pragma: no cover - needs CUDA

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        self._model = None  # type: ignore[assignment]
        if self._on_cuda:  # pragma: no cover - needs CUDA
            with capture_lock():  # never release memory under another engine's capture
                self._torch.cuda.empty_cache()

    def _device_runner(self) -> DeviceRunner:
        if self._runner is None:
            self._runner = self._make_runner()
        return self._runner

    def _make_runner(self) -> DeviceRunner:
        return DeviceRunner(
            self._forward,
            device=self._device,
            input_size=self.metadata.input_size,
            norm=self._norm,
            input_dtype=self._dtype,
            channels_last=self._on_cuda,
            check_logits=self._check_logits_once,
            cuda_graphs=self._cuda_graphs and self._on_cuda,
            max_graphs=self._max_graphs,
            logger=self._logger,
            extra_output_names=self.metadata.output_names[1:],
        )

    def _check_logits_once(self, shape: tuple[int, ...]) -> None:
        if not self._logits_checked:
            self._check_logits_shape(shape)
