"""The engine an evaluation or tool runs a model file in, whatever kind of file it is."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seg_perception.inference.engine import Engine


def open_engine(model_path: str | Path, *, threads: int = 2) -> Engine:
    """The engine of a model file (ONNX Runtime; torch for a training checkpoint) on ``threads`` threads.

    Raises:
        ModelFileError: the file is missing or unusable.
    """
    from seg_perception.inference.engine import EngineOptions, create_engine, engine_for_file

    engine = engine_for_file(model_path)
    if engine == "torch":
        import torch

        torch.set_num_threads(threads)  # torch's pool is process-wide: the engine leaves it alone
    return create_engine(Path(model_path), EngineOptions(engine=engine, intra_op_threads=threads))
