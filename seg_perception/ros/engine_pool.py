"""The node's engines: one per distinct model, shared by the cameras that run it.

With ``camera_engines: shared`` two cameras running the same model file share one
engine (calls serialised by :class:`~seg_perception.ros.core.SerializedEngine`); with
``per_camera`` every camera has its own. An engine is closed when its last camera
lets go of it, so a scenario switch loads the new model beside the old one, and the
old one goes only once no camera uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

FrameSize = tuple[int, int]


class PooledEngine(Protocol):
    """What the pool calls on an engine (the node pools ``SerializedEngine`` of ``ros/core.py``)."""

    def warmup(self, *, frame_sizes: Sequence[FrameSize]) -> None: ...

    def close(self) -> None: ...


EngineT = TypeVar("EngineT", bound=PooledEngine)


@dataclass
class _Entry(Generic[EngineT]):
    engine: EngineT
    users: int = 0
    warmed: set[FrameSize] = field(default_factory=set)
    warmed_once: bool = False


class EnginePool(Generic[EngineT]):
    """Engines keyed by model file (and camera, when ``per_camera``), counted by their users."""

    def __init__(self, create: Callable[[Path], EngineT], *, per_camera: bool) -> None:
        """Args:
        create: Loads one model file into an engine (raises on a missing or broken file).
        per_camera: One engine per camera even where cameras run the same model.
        """
        self._create = create
        self._per_camera = per_camera
        self._entries: dict[tuple[str, str], _Entry[EngineT]] = {}
        self._lock = threading.Lock()

    def _key(self, camera: str, model_file: Path) -> tuple[str, str]:
        path = str(Path(model_file).expanduser().resolve())
        return (camera if self._per_camera else "", path)

    @property
    def engines(self) -> list[EngineT]:
        """Every loaded engine, in load order."""
        with self._lock:
            return [entry.engine for entry in self._entries.values()]

    def acquire(self, camera: str, model_file: Path) -> tuple[EngineT, bool]:
        """The engine of ``model_file`` for ``camera``, loaded if no camera has it yet.

        Returns:
            The engine and whether it was loaded by this call.

        Raises:
            Whatever ``create`` raises (nothing is kept then).
        """
        key = self._key(camera, model_file)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.users += 1
                return entry.engine, False
        engine = self._create(model_file)  # outside the lock: loading takes a while
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:  # loaded meanwhile by another caller: keep one
                entry.users += 1
                duplicate = engine
            else:
                self._entries[key] = _Entry(engine, users=1)
                return engine, True
        duplicate.close()
        return entry.engine, False

    def warm_up(self, engine: EngineT, frame_sizes: Sequence[FrameSize]) -> None:
        """Warm ``engine`` up at the sizes it has not run yet (once at the model size if none)."""
        with self._lock:
            entry = next((e for e in self._entries.values() if e.engine is engine), None)
            if entry is None:
                return
            sizes = [size for size in dict.fromkeys(frame_sizes) if size not in entry.warmed]
            if entry.warmed_once and not sizes:
                return
            entry.warmed.update(sizes)
            entry.warmed_once = True
        engine.warmup(frame_sizes=sizes)

    def release(self, engine: EngineT) -> bool:
        """One user less; the engine is closed when it was the last. Returns True if closed."""
        with self._lock:
            for key, entry in self._entries.items():
                if entry.engine is engine:
                    entry.users -= 1
                    if entry.users > 0:
                        return False
                    del self._entries[key]
                    break
            else:
                return False
        engine.close()
        return True

    def close_all(self) -> None:
        """Close every engine (idempotent)."""
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.engine.close()
