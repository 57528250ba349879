"""Replayable device programs for the torch engine: CUDA graphs cached by shape, eager fallback.

A *program* is a zero-argument function that reads only static tensors (filled by the
caller before each run) and returns its outputs. :class:`GraphCache` builds one program
per key (the frame sizes of a call), runs it eagerly a few times, then hands it to a
:class:`GraphBackend` that turns it into a replay function. On CUDA the backend captures
a ``torch.cuda.CUDAGraph`` (the documented recipe: warm up on the side stream that will
capture, capture with static inputs and outputs, replay on that stream). The backend is
injectable so the cache, eviction, fallback and buffer-reuse logic run on the CPU in tests.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from seg_perception.inference.providers import EngineLogger

T = TypeVar("T")

DEFAULT_MAX_GRAPHS = 4
#: Eager runs before a capture: lazy cuDNN/cuBLAS set-up must not happen inside the capture.
DEFAULT_WARMUP_RUNS = 3

# One capture at a time in the process: two engines capturing at once from two camera
# threads is legal in "thread_local" mode but untested territory; captures are rare.
_CAPTURE_LOCK = threading.Lock()


def capture_lock() -> threading.Lock:
    """The process-wide lock held during captures (also for ``empty_cache`` on close)."""
    return _CAPTURE_LOCK


class GraphBackend(Protocol):
    """Turns a program into a replay function with the same result."""

    name: str

    def capture(self, compute: Callable[[], T]) -> Callable[[], T]:
        """Return a function that reruns ``compute`` on the current static inputs; may raise."""


class EagerBackend:
    """No capture: the replay is the program itself (CPU, ``cuda_graphs=False``, fallback)."""

    name = "eager"

    def capture(self, compute: Callable[[], T]) -> Callable[[], T]:
        return compute


class CudaGraphBackend:
    """Captures programs into ``torch.cuda.CUDAGraph`` on the engine's own stream.

    The replay launches the graph on the *current* stream, so callers replay inside
    ``torch.cuda.stream(stream)``. Each graph gets its own memory pool: graphs are
    replayed in any order (LRU cache), which a shared pool would not allow.
    """

    name = "cuda_graph"

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def capture(self, compute: Callable[[], T]) -> Callable[[], T]:  # pragma: no cover - needs CUDA
        import torch

        graph = torch.cuda.CUDAGraph()
        # thread_local: a second camera thread allocating or synchronising while this
        # thread captures must not invalidate the capture (nor be refused).
        with _CAPTURE_LOCK, torch.cuda.graph(graph, stream=self._stream, capture_error_mode="thread_local"):
            outputs = compute()

        def replay() -> T:
            graph.replay()
            return outputs  # static tensors, refilled by each replay

        return replay


@dataclass
class StaticProgram(Generic[T]):
    """What a builder returns: static buffers and the program that reads them.

    Attributes:
        buffers: Whatever the caller fills before a run and reads after it (device
            input tensors, pinned host staging, ...). Reused by every call with the key.
        compute: Reads only ``buffers``' tensors and returns the outputs.
    """

    buffers: Any
    compute: Callable[[], T]


@dataclass
class CachedProgram(Generic[T]):
    """A cache entry: the builder's buffers and the replay of its program.

    Attributes:
        key: The cache key (frame sizes of the call).
        buffers: The static buffers from :class:`StaticProgram`, reused between calls.
        replay: Runs the program; with CUDA graphs the outputs are the same tensors
            every time, so read them before the next replay.
        captured: True when ``replay`` is a captured graph, False when it runs eagerly.
    """

    key: Hashable
    buffers: Any
    replay: Callable[[], T]
    captured: bool


class GraphCache:
    """At most ``max_entries`` programs keyed by call shape, least recently used evicted.

    A failed capture logs one warning, and the cache runs that program and every later
    one eagerly (the node keeps running, only slower). Errors of the program itself
    (raised by the eager warm-up runs, e.g. a model whose class count is wrong) propagate.
    """

    def __init__(
        self,
        backend: GraphBackend,
        *,
        max_entries: int = DEFAULT_MAX_GRAPHS,
        warmup_runs: int = DEFAULT_WARMUP_RUNS,
        logger: EngineLogger | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._backend: GraphBackend = backend
        self._max_entries = max_entries
        self._warmup_runs = max(0, warmup_runs)
        self._logger: EngineLogger = logger or logging.getLogger(__name__)
        self._entries: OrderedDict[Hashable, CachedProgram[Any]] = OrderedDict()
        self.capture_error: str | None = None

    @property
    def backend_name(self) -> str:
        """``cuda_graph`` while capturing works, ``eager`` otherwise."""
        return self._backend.name

    def keys(self) -> list[Hashable]:
        """Cached keys, least recently used first."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, build: Callable[[], StaticProgram[T]]) -> CachedProgram[T]:
        """The program for ``key``, built (warmed up, captured) on the first request.

        Args:
            key: Hashable shape of the call, e.g. ``((H, W),)`` or ``((H1, W1), (H2, W2))``.
            build: Allocates the static buffers and returns the program; called on a miss only.
        """
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        program = build()
        for _ in range(0 if isinstance(self._backend, EagerBackend) else self._warmup_runs):
            program.compute()
        replay, captured = self._capture(program.compute)
        entry = CachedProgram(key=key, buffers=program.buffers, replay=replay, captured=captured)
        self._entries[key] = entry
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)  # dropping the last reference frees the graph
        return entry

    def clear(self) -> None:
        """Drop every program and its buffers."""
        self._entries.clear()

    def _capture(self, compute: Callable[[], T]) -> tuple[Callable[[], T], bool]:
        if isinstance(self._backend, EagerBackend):
            return compute, False
        try:
            return self._backend.capture(compute), True
        except Exception as err:  # any capture failure means "run eagerly"
            self.capture_error = f"{type(err).__name__}: {err}"
            self._backend = EagerBackend()
            self._logger.warning(
                f"CUDA graph capture failed ({self.capture_error}); this engine runs eagerly from now on"
            )
            return compute, False
