"""PyTorch checkpoints run in eval mode on the CPU or a CUDA device."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np

from seg_perception.inference import providers as prov
from seg_perception.inference.base import Engine, require_model_file
from seg_perception.inference.errors import EngineError
from seg_perception.inference.preprocess import check_image


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
