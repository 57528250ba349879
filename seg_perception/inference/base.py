"""The engine contract shared by the ONNX Runtime and PyTorch engines.

Every engine takes a (H, W, 3) uint8 BGR frame and returns a (H, W) uint8 class-id
mask at the frame's size: resize to the model's input size (bilinear), normalise,
run, arg-max at model resolution, nearest resize back. On CPU the pre-processing is
:func:`~seg_perception.inference.preprocess.preprocess`; on CUDA the torch engine does
the same maths on the device and downloads only the uint8 mask, and the ONNX engine
runs a graph with the pre-processing and arg-max inside it (see
:mod:`~seg_perception.inference.fused`) with I/O binding. CPU machines never touch CUDA.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np

from seg_perception.inference.errors import ModelFileError
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.preprocess import (
    Normalization,
    argmax_mask,
    check_image,
    preprocess,
    resize_mask,
)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
EXPORT_HINT = "run 'seg-perception export ...' to create it, or set model_file to an existing file"


def default_cache_dir() -> Path:
    """The package's cache: ``$XDG_CACHE_HOME/seg_perception`` (``~/.cache/seg_perception``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seg_perception"


def default_trt_cache_dir() -> Path:
    """Where TensorRT keeps built engines and its timing cache: ``<cache>/tensorrt``."""
    return default_cache_dir() / "tensorrt"


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


class SegmentationEngine(Protocol):
    """What the pipeline and the node need from an engine.

    :class:`Engine` (every engine of :data:`~seg_perception.inference.engine.ENGINES`) keeps
    it, and so do wrappers such as the node's ``SerializedEngine`` (one engine shared by
    camera threads) and test doubles.
    """

    @property
    def model_file(self) -> Path:
        """The file the model was loaded from."""
        ...

    @property
    def metadata(self) -> ModelMetadata:
        """Classes, colours, input size and normalisation of the model."""
        ...

    @property
    def providers(self) -> list[str]:
        """Execution providers or device really in use."""
        ...

    @property
    def device(self) -> str:
        """``cpu`` or ``cuda[:N]``: where inference really runs (after any fallback)."""
        ...

    @property
    def last_timings_ms(self) -> dict[str, float]:
        """Timings of the latest call (``preprocess``, ``inference``, ``mask``) in milliseconds."""
        ...

    @property
    def last_outputs(self) -> dict[str, np.ndarray]:
        """The model's other outputs of the latest call (``marking_points``), by name."""
        ...

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        ...

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class-id masks at the frame's size and at the model's output size (see :class:`Engine`)."""
        ...

    def predict_masks_batch(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`predict_masks` of several frames in one call; ``last_outputs`` has a row per frame."""
        ...

    def warmup(self, iterations: int = 2, *, frame_sizes: Sequence[tuple[int, int]] | None = None) -> None:
        """Run a few frames so lazy work happens before the first camera frame."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...


class Engine(ABC):
    """A loaded model that turns BGR frames into class-id masks.

    Attributes:
        model_file: The file the model was loaded from.
        metadata: Classes, colours, input size and normalisation of the model.
        last_timings_ms: Timings of the latest :meth:`predict` (``preprocess``,
            ``inference``, ``mask``) in milliseconds. On CUDA, work is asynchronous
            until the mask download, so only the sum is meaningful there.
        last_outputs: The model's other outputs of the latest :meth:`predict_masks` /
            :meth:`predict_masks_batch` call, by output name, one row per frame at the
            model's resolution (``marking_points``: ``(N, 3, h/4, w/4)`` float32 heat and
            unit direction, for models with a marking-point head); empty for plain models.
    """

    name = "engine"

    def __init__(self, model_file: Path, metadata: ModelMetadata) -> None:
        self.model_file = model_file
        self.metadata = metadata
        self.last_timings_ms: dict[str, float] = {}
        self.last_outputs: dict[str, np.ndarray] = {}
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

    def _run_all(self, model_input: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Logits and the model's other outputs by name; engines of multi-output models override it."""
        return self._run(model_input), {}

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        mirrored = ", mirror-averaged" if self.metadata.mirror_averaged else ""
        quantized = ", int8" if self.metadata.quantization else ""
        model = f"{self.model_file.name}, {self.metadata.model}{quantized}{mirrored}"
        return f"{self.name} on {', '.join(self.providers)} ({model})"

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
        logits, self.last_outputs = self._run_all(model_input)
        logits = self._checked(logits)
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

    def predict_masks_batch(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`predict_masks` for several frames in one model call (batch ``len(frames)``).

        Frames may differ in size; each gets its masks at its own size. One call of
        batch N costs less than N calls where the runtime is not already saturated
        (GPUs), which is the batching policy for cameras that share a model.
        """
        if not frames:
            return []
        images = [check_image(frame) for frame in frames]
        height, width = self.metadata.input_size
        start = time.perf_counter()
        batch = np.empty((len(images), 3, height, width), dtype=np.float32)
        for index, image in enumerate(images):
            preprocess(image, self.metadata.input_size, self._norm, out=batch[index : index + 1])
        after_preprocess = time.perf_counter()
        logits, self.last_outputs = self._run_all(batch)
        logits = self._checked(logits)
        after_inference = time.perf_counter()
        results = []
        for index, image in enumerate(images):
            model_mask = argmax_mask(logits[index])
            results.append((resize_mask(model_mask, image.shape[:2]), model_mask))
        end = time.perf_counter()
        self.last_timings_ms = {
            "preprocess": (after_preprocess - start) * 1e3,
            "inference": (after_inference - after_preprocess) * 1e3,
            "mask": (end - after_inference) * 1e3,
        }
        return results

    def runtime_call(self, *, batch: int = 1, seed: int = 0) -> Callable[[], Any]:
        """A zero-argument call of the runtime alone, for benchmarks.

        It runs the model on an input prepared once (a noise frame at the model's
        input size, pre-processed the way this engine does it), so it leaves out the
        host-side work of :meth:`predict` but keeps the host/device copies of what the
        runtime consumes and returns. The call returns only when the result is on the host.
        """
        height, width = self.metadata.input_size
        rng = np.random.default_rng(seed)
        tensor = np.empty((batch, 3, height, width), dtype=np.float32)
        for index in range(batch):
            noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            preprocess(noise, self.metadata.input_size, self._norm, out=tensor[index : index + 1])
        return lambda: self._run(tensor)

    def warmup(self, iterations: int = 2, *, frame_sizes: Sequence[tuple[int, int]] | None = None) -> None:
        """Run a few frames so lazy work (allocations, TensorRT builds, CUDA graphs) happens now.

        Args:
            iterations: Frames per size.
            frame_sizes: (height, width) of the frames the cameras will send; engines that
                build per-size state (fused graphs, CUDA graphs) build it here. The model's
                input size is always warmed up.
        """
        sizes = dict.fromkeys([self.metadata.input_size, *(tuple(size) for size in frame_sizes or ())])
        for height, width in sizes:
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


def device_index(device: str) -> int:
    """GPU index of ``cuda:N`` (0 for ``cuda`` and ``cpu``)."""
    _, _, index = device.partition(":")
    return int(index) if index else 0
