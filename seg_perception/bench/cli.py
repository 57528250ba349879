"""``seg-perception bench``: speed of the engines (and optionally the node) on this machine.

Examples:
    seg-perception bench                                  # CPU-friendly defaults, a minute or two
    seg-perception bench --model-file weights/highway.onnx --engines onnxruntime-cpu
    seg-perception bench --engines onnxruntime-tensorrt onnxruntime-cuda torch-cuda \\
        --sizes 1024x2048 --models icnet_r50 hrnetv2_w48 hrnetv2_w18_small_v2
    seg-perception bench --node --node-seconds 10          # both cameras end to end at 30 Hz
    seg-perception bench --model-file weights/highway.onnx --two-cameras   # how two cameras share a device

Engines this machine cannot run are listed as ``skipped: <reason>``. Results go to
``<out>/bench.json`` and ``<out>/bench.md``; exported models are cached in ``<out>/models``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from seg_perception.bench.engines import ENGINE_CHOICES
from seg_perception.bench.errors import BenchError
from seg_perception.bench.runner import DEFAULT_MODELS, DEFAULT_SIZES, BenchSettings, run_bench
from seg_perception.bench.two_cameras import DEFAULT_TWO_CAMERA_SIZES
from seg_perception.cli_args import add_device_argument, add_size_argument
from seg_perception.config import scenario_names
from seg_perception.inference.arguments import add_precision_argument


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        help=f"registry models, exported untrained (default: {' '.join(DEFAULT_MODELS)})",
    )
    add_size_argument(
        parser, "--sizes", "model input sizes (default: 256x512)", nargs="+", default=list(DEFAULT_SIZES)
    )
    parser.add_argument(
        "--model-file",
        nargs="+",
        type=Path,
        default=[],
        metavar="FILE",
        help="benchmark these .onnx/.pt files instead of --models/--sizes",
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        default=list(ENGINE_CHOICES),
        choices=list(ENGINE_CHOICES),
        help="engines to try (default: all; unavailable ones are reported as skipped)",
    )
    parser.add_argument(
        "--scenario",
        choices=scenario_names(),
        default="highway",
        help="class map of exported models (default highway)",
    )
    parser.add_argument("--iterations", type=int, default=30, help="timed calls per measurement (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=4.0,
        help="stop a measurement after this long once 3 calls ran (default 4)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="CPU threads of CPU engines; 0 = library default (default 2)"
    )
    add_precision_argument(
        parser,
        "auto: FP16 on the GPU engines, FP32 on the CPU; bf16 applies to torch-cuda "
        "(others use FP16 then) (default auto)",
    )
    parser.add_argument(
        "--no-cuda-graphs",
        dest="cuda_graphs",
        action="store_false",
        help="GPU engines run without CUDA graphs (default: with, where possible)",
    )
    add_size_argument(
        parser, "--frame-size", "uint8 frame size for predict (default: the model's input size)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out/bench"), help="output folder (default out/bench)"
    )
    two = parser.add_argument_group("two cameras on one device (--two-cameras)")
    two.add_argument(
        "--two-cameras",
        action="store_true",
        help="also measure, per model x engine, two free-running cameras sharing the device: "
        "serialized (one engine, a lock), parallel (two engines), batched (batch of 2)",
    )
    default_two = " ".join(f"{h}x{w}" for h, w in DEFAULT_TWO_CAMERA_SIZES)
    add_size_argument(
        two,
        "--two-camera-sizes",
        f"front and AVM frame sizes (default {default_two})",
        nargs=2,
        default=list(DEFAULT_TWO_CAMERA_SIZES),
    )
    node = parser.add_argument_group("node end to end (--node)")
    node.add_argument(
        "--node",
        action="store_true",
        help="also run the node with both cameras at 30 Hz (front 540x960, AVM 640x640)",
    )
    node.add_argument("--node-seconds", type=float, default=5.0, help="measurement window (default 5)")
    node.add_argument("--node-rate", type=float, default=30.0, help="camera rate in Hz (default 30)")
    add_device_argument(node, "--node-device", what="node device: ")
    node.add_argument(
        "--node-model-dir",
        type=Path,
        help="folder with <scenario>.onnx (default: shipped weights, else untrained exports)",
    )
    node.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra parameter for both nodes (repeatable), e.g. --node-param fp16:=true",
    )
    node.add_argument("--domain-id", type=int, help="ROS domain (default: a private one in 101..200)")


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """Validate the options and build :class:`BenchSettings`.

    Raises:
        BenchError: a count or duration out of range.
    """
    if args.iterations < 1 or args.warmup < 0 or args.max_seconds <= 0:
        raise BenchError("--iterations must be >= 1, --warmup >= 0 and --max-seconds > 0")
    if args.node and (args.node_seconds <= 0 or args.node_rate <= 0):
        raise BenchError("--node-seconds and --node-rate must be > 0")
    node_options = {
        "seconds": args.node_seconds,
        "rate_hz": args.node_rate,
        "device": args.node_device,
        "model_dir": args.node_model_dir,
        "cache_dir": args.out / "models" / "node",
        "node_params": tuple(args.node_param),
        "domain_id": args.domain_id if args.domain_id is not None else 101 + os.getpid() % 100,
    }
    return BenchSettings(
        out=args.out,
        models=tuple(dict.fromkeys(args.models)),
        sizes=tuple(dict.fromkeys(args.sizes)),
        model_files=tuple(args.model_file),
        engines=tuple(dict.fromkeys(args.engines)),
        scenario=args.scenario,
        iterations=args.iterations,
        warmup=args.warmup,
        max_seconds=args.max_seconds,
        threads=args.threads or None,
        precision=args.precision,
        cuda_graphs=args.cuda_graphs,
        frame_size=args.frame_size,
        node=args.node,
        node_options=node_options,
        two_cameras=args.two_cameras,
        two_camera_sizes=tuple(tuple(size) for size in args.two_camera_sizes),
    )


def run(args: argparse.Namespace) -> int:
    report = run_bench(settings_from_args(args))
    for target in report["targets"]:
        print(f"  target: {target['target']}: {target['text']}")
    print(f"report: {report['files']['markdown']} and {report['files']['json']}")
    return 0
