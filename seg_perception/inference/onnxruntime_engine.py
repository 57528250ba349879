"""ONNX models run by ONNX Runtime with the TensorRT, CUDA or CPU execution provider."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from seg_perception.inference import providers as prov
from seg_perception.inference.base import (
    CHECKPOINT_SUFFIXES,
    Engine,
    default_trt_cache_dir,
    device_index,
    require_model_file,
)
from seg_perception.inference.errors import ModelFileError
from seg_perception.inference.metadata import ModelMetadata


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
        self._device_id = device_index(device)
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
