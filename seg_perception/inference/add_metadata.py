"""``seg-perception add-metadata``: make an ONNX segmentation model trained elsewhere usable here.

The node, ``predict``, ``eval`` and ``process`` read classes, colours, input size and
mean/std from the file's ``metadata_props`` (:class:`~seg_perception.inference.metadata.ModelMetadata`).
This command writes them into a copy of a third-party file, renames its input and output
to ``image`` / ``logits`` (the fused GPU graph expects them), keeps one output, and then
checks the result: ONNX checker, one ONNX Runtime run at the input size, and the output's
channel count against the class count (a 19-class Cityscapes head given a 3-class map is
refused, not silently arg-maxed into nonsense).

Examples::

    seg-perception add-metadata lanes.onnx --scenario highway --out lanes_sp.onnx
    seg-perception add-metadata model.onnx --classes background,curb,arrow \\
        --colors '#000000,#FF8000,#00FFFF' --input-size 512x1024 --mean 0.5 0.5 0.5 --std 0.5 0.5 0.5 \\
        --out model_sp.onnx
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seg_perception import __version__
from seg_perception.cli_args import add_size_argument
from seg_perception.errors import ConfigError, ModelFileError
from seg_perception.inference.metadata import INPUT_NAME, METADATA_PREFIX, OUTPUT_NAME, ModelMetadata

CUSTOM_SCENARIO = "custom"


@dataclass(frozen=True)
class AddMetadataReport:
    path: Path
    metadata: ModelMetadata
    output_shape: tuple[int, ...]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", type=Path, help="ONNX file trained elsewhere (one image input, logits output)"
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the file with metadata")
    parser.add_argument(
        "--scenario",
        help="take classes and colours from this scenario (highway, road, parking or a YAML path); "
        "also the scenario the model is for",
    )
    parser.add_argument(
        "--classes", help="comma-separated class names, index = class id (instead of --scenario)"
    )
    parser.add_argument(
        "--colors", help="comma-separated #RRGGBB per class (with --classes; default: a palette)"
    )
    add_size_argument(parser, "--input-size", "input size (default: the file's static input size)")
    parser.add_argument("--mean", type=float, nargs=3, default=(0.485, 0.456, 0.406), help="RGB mean on 0..1")
    parser.add_argument("--std", type=float, nargs=3, default=(0.229, 0.224, 0.225), help="RGB std on 0..1")
    parser.add_argument("--model-name", help="architecture name shown in logs (default: the graph's name)")
    parser.add_argument("--output-index", type=int, default=0, help="which graph output holds the logits")


PALETTE = ("#000000", "#FF30D0", "#00A0FF", "#30E060", "#FFFFFF", "#FF8000", "#00FFFF", "#FFFF00")


def _class_map(args: argparse.Namespace) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    from seg_perception.config import ClassMap, load_scenario

    if args.scenario and args.classes:
        raise ConfigError("give --scenario or --classes, not both")
    if args.scenario:
        scenario = load_scenario(args.scenario)
        return scenario.name, scenario.classes.names, scenario.classes.colors_hex
    if not args.classes:
        raise ConfigError("give --scenario (highway, road, parking or a YAML path) or --classes a,b,c")
    names = tuple(name.strip() for name in args.classes.split(",") if name.strip())
    if args.colors:
        colors = tuple(color.strip() for color in args.colors.split(","))
    else:
        colors = tuple(PALETTE[i % len(PALETTE)] for i in range(len(names)))
    classes = ClassMap(names, colors)  # validates count, uniqueness and colour syntax
    return CUSTOM_SCENARIO, classes.names, classes.colors_hex


def _rename(graph: Any, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new


def _static_dims(value: Any) -> list[int | None]:
    dims = value.type.tensor_type.shape.dim
    return [dim.dim_value if dim.HasField("dim_value") else None for dim in dims]


def add_metadata(args: argparse.Namespace) -> AddMetadataReport:
    """Write ``args.model`` with metadata to ``args.out`` and check it (see the module docstring).

    Raises:
        ModelFileError: unreadable file, not one image input, or an output that does not match
            the class count.
        ConfigError: a bad class map.
    """
    import onnx
    import onnxruntime as ort

    scenario, names, colors = _class_map(args)
    try:
        model = onnx.load(str(args.model))
    except Exception as err:  # onnx raises several types for unreadable files
        raise ModelFileError(f"{args.model} is not a readable ONNX file ({err})") from err
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise ModelFileError(
            f"{args.model} has {len(inputs)} inputs ({[v.name for v in inputs]}); one image input "
            "(batch, 3, H, W) is supported"
        )
    dims = _static_dims(inputs[0])
    if len(dims) != 4 or dims[1] not in (3, None):
        raise ModelFileError(
            f"{args.model}: input {inputs[0].name!r} has shape {dims}; expected (batch, 3, H, W)"
        )
    input_size = args.input_size or (dims[2], dims[3])
    if input_size[0] is None or input_size[1] is None:
        raise ModelFileError(f"{args.model}: the input size is dynamic ({dims}); give --input-size HxW")
    if args.input_size and all(dims[2:]) and tuple(dims[2:]) != tuple(args.input_size):
        raise ModelFileError(
            f"{args.model}: --input-size {args.input_size} but the file's input is {tuple(dims[2:])}"
        )
    if not 0 <= args.output_index < len(graph.output):
        raise ModelFileError(
            f"{args.model} has {len(graph.output)} outputs; --output-index {args.output_index}"
        )
    logits = graph.output[args.output_index]
    for extra in [value for value in graph.output if value is not logits]:
        graph.output.remove(extra)
    _rename(graph, inputs[0].name, INPUT_NAME)
    _rename(graph, graph.output[0].name, OUTPUT_NAME)
    metadata = ModelMetadata(
        model=args.model_name or graph.name or args.model.stem,
        scenario=scenario,
        classes=tuple(names),
        colors=tuple(colors),
        input_size=(int(input_size[0]), int(input_size[1])),
        mean=tuple(args.mean),
        std=tuple(args.std),
        extra={"source_file": args.model.name, "added_by": f"seg-perception {__version__} add-metadata"},
    )
    kept = [prop for prop in model.metadata_props if not prop.key.startswith(METADATA_PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in kept}, **metadata.to_props()})
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise ModelFileError(f"{args.model} fails the ONNX checker after renaming: {err}") from err
    data = model.SerializeToString()
    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        zeros = np.zeros((1, 3, *metadata.input_size), dtype=np.float32)
        output = session.run([OUTPUT_NAME], {INPUT_NAME: zeros})[0]
    except Exception as err:  # ORT raises pybind error types
        raise ModelFileError(
            f"ONNX Runtime cannot run {args.model} at input {metadata.input_size}: {err}"
        ) from err
    shape = tuple(int(v) for v in output.shape)
    if len(shape) != 4 or shape[1] != metadata.num_classes:
        raise ModelFileError(
            f"{args.model}: output {shape} does not match {metadata.num_classes} classes {list(names)}: "
            "the output must be per-class logits (batch, classes, h, w); choose the scenario or --classes "
            "the model was trained on (or --output-index for another output)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    return AddMetadataReport(path=args.out, metadata=metadata, output_shape=shape)


def run(args: argparse.Namespace) -> int:
    report = add_metadata(args)
    meta = report.metadata
    print(
        f"wrote {report.path}: scenario {meta.scenario}, {meta.num_classes} classes {list(meta.classes)}, "
        f"input {meta.input_size[0]}x{meta.input_size[1]}, logits {report.output_shape}\n"
        f"try it: seg-perception predict IMAGE_OR_VIDEO --model-file {report.path}"
    )
    return 0
