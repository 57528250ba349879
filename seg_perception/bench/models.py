"""Model files to benchmark: untrained registry models exported once and cached, or given files.

Speed does not depend on the weights, so a freshly initialised model (fixed seed)
stands in for a trained one. Exports go through
:func:`seg_perception.inference.export.export_onnx` (checked, parity-tested) and are
cached under ``<out>/models/`` by model, size and class count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seg_perception.bench.engines import CHECKPOINT, ONNX
from seg_perception.bench.errors import BenchError
from seg_perception.config import load_scenario
from seg_perception.errors import SegPerceptionError
from seg_perception.inference.metadata import ModelMetadata

EXPORT_SEED = 0


@dataclass(frozen=True)
class ModelFiles:
    """One model at one input size, in the formats at hand.

    Attributes:
        label: What the tables call it (registry name, or the file name for ``--model-file``).
        model: Registry name from the metadata.
        input_size: (height, width) the files expect.
        files: ``onnx`` and/or ``checkpoint`` path.
        source: ``exported (untrained)`` or the given path.
    """

    label: str
    model: str
    input_size: tuple[int, int]
    files: dict[str, Path]
    source: str


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def exported_model(
    model: str,
    size: tuple[int, int],
    *,
    scenario: str,
    cache_dir: Path,
    kinds: set[str],
) -> ModelFiles:
    """Untrained ``model`` at ``size`` with ``scenario``'s class map, exported once into ``cache_dir``.

    Args:
        model: Registry name.
        size: (height, width) of the exported input.
        scenario: Supplies classes and colours (and so the output channel count).
        cache_dir: Where ``<model>_<H>x<W>_<C>cls.{onnx,pt}`` are kept between runs.
        kinds: Formats to produce: ``onnx`` and/or ``checkpoint``.

    Raises:
        BenchError: unknown model, or the export failed.
    """
    import torch

    from seg_perception.inference.checkpoint import save_checkpoint
    from seg_perception.inference.export import export_onnx
    from seg_perception.models.registry import build_model

    classes = load_scenario(scenario).classes
    metadata = ModelMetadata(
        model=model,
        scenario=scenario,
        classes=classes.names,
        colors=classes.colors_hex,
        input_size=size,
        extra={"note": "untrained weights exported by seg-perception bench (speed only)"},
    )
    stem = cache_dir / f"{model}_{size_text(size)}_{classes.num_classes}cls"
    paths = {ONNX: stem.with_suffix(".onnx"), CHECKPOINT: stem.with_suffix(".pt")}
    missing = [kind for kind in sorted(kinds) if not paths[kind].is_file()]
    if missing:
        torch.manual_seed(EXPORT_SEED)
        try:
            network = build_model(model, classes.num_classes).eval()
            if CHECKPOINT in missing:
                save_checkpoint(paths[CHECKPOINT], network, metadata)
            if ONNX in missing:
                export_onnx(network, metadata, paths[ONNX])
        except SegPerceptionError as err:
            raise BenchError(f"cannot prepare {model} at {size_text(size)}: {err}") from err
    return ModelFiles(
        label=model,
        model=model,
        input_size=size,
        files={kind: paths[kind] for kind in kinds},
        source="exported (untrained weights)",
    )


def given_model(path: Path) -> ModelFiles:
    """A ``--model-file``: ONNX (``.onnx``) or a PyTorch checkpoint (``.pt``/``.pth``/``.ckpt``).

    Raises:
        BenchError: the file is missing or its metadata cannot be read.
    """
    from seg_perception.inference.engine import CHECKPOINT_SUFFIXES

    if not path.is_file():
        raise BenchError(f"--model-file {path} does not exist")
    kind = CHECKPOINT if path.suffix in CHECKPOINT_SUFFIXES else ONNX
    try:
        metadata = _checkpoint_metadata(path) if kind == CHECKPOINT else _onnx_metadata(path)
    except SegPerceptionError as err:
        raise BenchError(f"--model-file {path}: {err}") from err
    return ModelFiles(
        label=path.name,
        model=metadata.model,
        input_size=metadata.input_size,
        files={kind: path},
        source=str(path),
    )


def _onnx_metadata(path: Path) -> ModelMetadata:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf decode errors have several types
        raise BenchError(f"{path} is not an ONNX model ({err})") from err
    props = {prop.key: prop.value for prop in proto.metadata_props}
    return ModelMetadata.from_props(props, source=str(path))


def _checkpoint_metadata(path: Path) -> ModelMetadata:
    from seg_perception.inference.checkpoint import load_checkpoint

    _model, metadata, _raw = load_checkpoint(path)
    return metadata


def scenario_model(scenario: str, *, model_dir: Path | None, cache_dir: Path) -> tuple[Path, str]:
    """The model the node runs for ``scenario``, and where it came from.

    ``<model_dir>/<scenario>.onnx`` when a folder is given; else the shipped default
    model; else the scenario's training-recipe model and input size, untrained, exported
    into ``cache_dir`` (same speed as the trained one).

    Raises:
        BenchError: ``model_dir`` lacks the file, or the export failed.
    """
    from seg_perception.config import default_model_path
    from seg_perception.training.recipe import load_recipe

    if model_dir is not None:
        path = model_dir / f"{scenario}.onnx"
        if not path.is_file():
            raise BenchError(f"--node-model-dir: {path} does not exist")
        return path, str(path)
    shipped = default_model_path(scenario)
    if shipped.is_file():
        return shipped, f"shipped {shipped.name}"
    recipe = load_recipe(scenario)
    files = exported_model(
        recipe.model, recipe.input_size, scenario=scenario, cache_dir=cache_dir, kinds={ONNX}
    )
    origin = f"{recipe.model} {size_text(recipe.input_size)} exported untrained (no shipped file)"
    return files.files[ONNX], origin
