"""The torch engine's device path: one stream, static buffers and cached CUDA graphs per engine.

Per call: the uint8 frames are copied into a pinned staging buffer and uploaded once,
resized and normalised on the device, run through the model, arg-maxed and
nearest-resized on the device; only the uint8 masks come back, into pinned buffers,
and are copied out after one stream synchronisation. Everything between upload and
download is one program per call shape, captured into a CUDA graph on CUDA
(:mod:`~seg_perception.inference.torch_graphs`). The same code runs eagerly on the CPU
device, which is how the tests check it against the NumPy path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from seg_perception.inference.preprocess import (
    Normalization,
    argmax_masks_torch,
    normalization_tensors,
    preprocess_torch,
    resize_mask_torch,
)
from seg_perception.inference.torch_graphs import (
    DEFAULT_MAX_GRAPHS,
    DEFAULT_WARMUP_RUNS,
    CudaGraphBackend,
    EagerBackend,
    GraphBackend,
    GraphCache,
    StaticProgram,
)

if TYPE_CHECKING:
    import torch

    from seg_perception.inference.providers import EngineLogger

SizeHW = tuple[int, int]


@dataclass
class FrameBuffers:
    """Static buffers of one call shape, reused by every call with that shape.

    Attributes:
        host_frames: Flat uint8 staging for all frames of the call (pinned on CUDA).
        staging: ``(H, W, 3)`` NumPy views into ``host_frames``, one per frame.
        device_frames: Flat uint8 device copy of ``host_frames``; the program reads it.
        host_masks: Flat uint8 download of the program's output (pinned on CUDA),
            allocated by the first call, when the model's output size is known.
    """

    host_frames: Any
    staging: list[np.ndarray]
    device_frames: Any
    host_masks: Any = None


class DeviceRunner:
    """The device path of one engine: own stream, static buffers and a cache of programs.

    Works on any torch device (the CPU runs it in tests, eagerly); on CUDA it uses a
    dedicated stream, pinned host buffers and CUDA graphs.

    Attributes:
        cache: Programs keyed by the call's frame sizes (``((H, W), ...)``) and
            ``("model", batch)`` for :meth:`model_call`.
        last_timings_ms: Timings of the latest :meth:`run` in milliseconds:
            ``preprocess`` (host staging copy, program lookup and frame upload),
            ``inference`` (device resize + normalise, model, arg-max, mask resize: one
            graph replay, not separable) and ``mask`` (mask download and copies out of
            the pinned buffers). On CUDA the first two and the download are CUDA-event
            times on the engine's stream.
    """

    def __init__(
        self,
        forward: Callable[[Any], Any],
        *,
        device: torch.device,
        input_size: SizeHW,
        norm: Normalization,
        input_dtype: torch.dtype | None = None,
        channels_last: bool = False,
        check_logits: Callable[[tuple[int, ...]], None] | None = None,
        backend: GraphBackend | None = None,
        cuda_graphs: bool = True,
        max_graphs: int = DEFAULT_MAX_GRAPHS,
        warmup_runs: int = DEFAULT_WARMUP_RUNS,
        logger: EngineLogger | None = None,
        extra_output_names: Sequence[str] = (),
    ) -> None:
        import torch

        self._torch = torch
        self._forward = forward
        self.device = device
        self._on_cuda = device.type == "cuda"
        self._input_size = (int(input_size[0]), int(input_size[1]))
        self._input_dtype = input_dtype or torch.float32
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._check_logits = check_logits
        self._norm = normalization_tensors(norm, device=device)
        self._stream: Any = None
        self._events: list[Any] = []
        if self._on_cuda:
            cuda: Any = torch.cuda  # Stream and Event have untyped constructors in torch's stubs
            self._stream = cuda.Stream(device=device)
            # Weights and normalisation tensors were uploaded on the default stream.
            self._stream.wait_stream(torch.cuda.current_stream(device))
            self._events = [cuda.Event(enable_timing=True) for _ in range(4)]
        if backend is None:
            backend = CudaGraphBackend(self._stream) if self._on_cuda and cuda_graphs else EagerBackend()
        self.cache = GraphCache(backend, max_entries=max_graphs, warmup_runs=warmup_runs, logger=logger)
        self.last_timings_ms: dict[str, float] = {}
        self.extra_output_names = tuple(extra_output_names)
        #: The model's other outputs of the latest :meth:`run` (float32, one row per frame).
        self.last_outputs: dict[str, np.ndarray] = {}

    def run(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(frame-size mask, model-size mask)`` per (H, W, 3) uint8 BGR frame, one batch on the device."""
        sizes = tuple((int(image.shape[0]), int(image.shape[1])) for image in images)
        start = time.perf_counter()
        with self._context():
            self._record(0)
            entry = self.cache.get(sizes, lambda: self._build_frames(sizes))
            buffers: FrameBuffers = entry.buffers
            for image, staging in zip(images, buffers.staging, strict=True):
                np.copyto(staging, image)
            buffers.device_frames.copy_(buffers.host_frames, non_blocking=self._on_cuda)
            self._record(1)
            uploaded = time.perf_counter()
            flat, model_masks, *extra = entry.replay()
            self._record(2)
            computed = time.perf_counter()
            if buffers.host_masks is None:
                buffers.host_masks = self._host_empty(flat.numel())
            buffers.host_masks.copy_(flat, non_blocking=self._on_cuda)
            self._record(3)
            model_hw = (int(model_masks.shape[-2]), int(model_masks.shape[-1]))
        self.synchronize()
        # The marking-point map is small (1/16 of the model's pixels x 3): a plain download.
        self.last_outputs = {
            name: value.float().cpu().numpy()
            for name, value in zip(self.extra_output_names, extra, strict=True)
        }
        downloaded = time.perf_counter()
        results = split_masks(buffers.host_masks.numpy(), sizes, model_hw)
        end = time.perf_counter()
        if self._on_cuda:
            first, second, third, fourth = self._events
            self.last_timings_ms = {
                "preprocess": first.elapsed_time(second),
                "inference": second.elapsed_time(third),
                "mask": third.elapsed_time(fourth) + (end - downloaded) * 1e3,
            }
        else:
            self.last_timings_ms = {
                "preprocess": (uploaded - start) * 1e3,
                "inference": (computed - uploaded) * 1e3,
                "mask": (end - computed) * 1e3,
            }
        return results

    def model_call(self, *, batch: int = 1, seed: int = 0) -> Callable[[], None]:
        """The model alone on a device-resident input (noise frames, prepared once); returns when done."""
        torch = self._torch
        height, width = self._input_size
        rng = np.random.default_rng(seed)
        noise = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
        with self._context():
            frames = torch.from_numpy(noise).to(self.device)
            prepared = torch.cat([preprocess_torch(frame, self._input_size, self._norm) for frame in frames])
            static_input = prepared.to(dtype=self._input_dtype, memory_format=self._memory_format)
            entry = self.cache.get(
                ("model", batch),
                lambda: StaticProgram(buffers=static_input, compute=lambda: self._forward(static_input)),
            )
            entry.buffers.copy_(static_input)  # a cached entry keeps its own buffer

        def call() -> None:
            with self._context():
                entry.replay()
            self.synchronize()

        return call

    def synchronize(self) -> None:
        """Wait for this runner's stream (no-op off CUDA)."""
        if self._stream is not None:
            self._stream.synchronize()

    def close(self) -> None:
        """Drop programs (graphs and their memory pools), buffers, events and the stream."""
        self.synchronize()
        self.cache.clear()
        self._events = []
        self._stream = None

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        torch = self._torch
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if self._stream is not None:
                stack.enter_context(torch.cuda.device(self.device))
                stack.enter_context(torch.cuda.stream(self._stream))
            yield

    def _record(self, index: int) -> None:
        if self._events:
            self._events[index].record(self._stream)

    def _host_empty(self, count: int) -> Any:
        # Pinned memory makes the copies truly asynchronous DMA; only CUDA has it.
        return self._torch.empty(count, dtype=self._torch.uint8, pin_memory=self._on_cuda)

    def _build_frames(self, sizes: tuple[SizeHW, ...]) -> StaticProgram[tuple[Any, ...]]:
        """Static buffers for frames of ``sizes`` and the program from uploaded frames to masks."""
        torch = self._torch
        counts = [height * width * 3 for height, width in sizes]
        host_frames = self._host_empty(sum(counts))
        device_frames = torch.zeros(sum(counts), dtype=torch.uint8, device=self.device)
        host_view = host_frames.numpy()
        staging, frames = [], []
        offset = 0
        for (height, width), count in zip(sizes, counts, strict=True):
            staging.append(host_view[offset : offset + count].reshape(height, width, 3))
            frames.append(device_frames[offset : offset + count].view(height, width, 3))
            offset += count

        def compute() -> tuple[Any, ...]:
            inputs = [preprocess_torch(frame, self._input_size, self._norm) for frame in frames]
            batch = inputs[0] if len(inputs) == 1 else torch.cat(inputs)
            output = self._forward(batch.to(dtype=self._input_dtype, memory_format=self._memory_format))
            logits, *extra = output if isinstance(output, (list, tuple)) else (output,)
            if self._check_logits is not None:
                self._check_logits(tuple(logits.shape))
            model_masks = argmax_masks_torch(logits)
            model_hw = tuple(model_masks.shape[-2:])
            full = [
                resize_mask_torch(model_masks[index], size).reshape(-1)
                for index, size in enumerate(sizes)
                if size != model_hw
            ]
            return (
                torch.cat([*full, model_masks.reshape(-1)]),
                model_masks,
                *extra[: len(self.extra_output_names)],
            )

        return StaticProgram(
            buffers=FrameBuffers(host_frames=host_frames, staging=staging, device_frames=device_frames),
            compute=compute,
        )


def split_masks(
    flat: np.ndarray, sizes: Sequence[SizeHW], model_hw: SizeHW
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut the program's flat output into ``(frame mask, model mask)`` pairs (copies).

    Layout: the frame-size masks of the frames whose size differs from ``model_hw``, in
    order, then all model-size masks. A frame at the model's size gets one array twice.
    """
    model_height, model_width = model_hw
    model_count = model_height * model_width
    models_start = sum(height * width for height, width in sizes if (height, width) != tuple(model_hw))
    results = []
    offset = 0
    for index, (height, width) in enumerate(sizes):
        start = models_start + index * model_count
        model_mask = flat[start : start + model_count].reshape(model_height, model_width).copy()
        if (height, width) == tuple(model_hw):
            results.append((model_mask, model_mask))
            continue
        mask = flat[offset : offset + height * width].reshape(height, width).copy()
        offset += height * width
        results.append((mask, model_mask))
    return results
