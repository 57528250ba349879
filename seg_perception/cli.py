"""``seg-perception``: one command-line entry point with subcommands.

Each subcommand lives in its own module, imported only when chosen, so that
``seg-perception --help`` stays fast and a command that needs no torch or ROS
never imports them. A subcommand module defines ``register(parser)`` and
``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from seg_perception import __version__
from seg_perception.errors import SegPerceptionError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("seg_perception.models.summary", "print parameters and GFLOPs of every registered model"),
    "generate": ("seg_perception.data.cli", "write synthetic scenes (image, mask, polygons) to a folder"),
    "train": ("seg_perception.training.cli", "train a model on synthetic scenes or a dataset"),
    "export": ("seg_perception.inference.export", "export a checkpoint to ONNX with embedded metadata"),
    "recover": (
        "seg_perception.tools.recover",
        "a training checkpoint from an exported ONNX model (to fine-tune a shipped model)",
    ),
    "average": (
        "seg_perception.tools.average",
        "average the weights of two checkpoints of one model (a fine-tune and its start)",
    ),
    "quantize": (
        "seg_perception.tools.quantize",
        "an int8 copy of an exported model for CPUs (calibrated on synthetic scenes, parity-checked)",
    ),
    "point-threshold": (
        "seg_perception.tools.point_threshold",
        "pick a parking model's marking-point threshold on labelled AVM images (slot F1), write it in",
    ),
    "predict": ("seg_perception.tools.predict", "segment images, a folder, a video or a camera (no ROS)"),
    "add-metadata": (
        "seg_perception.inference.add_metadata",
        "add classes, colours, input size and mean/std to an ONNX model trained elsewhere",
    ),
    "eval": ("seg_perception.training.evaluate", "mIoU, per-class IoU and pixel accuracy of a model"),
    "demo": ("seg_perception.tools.demo", "run the node on a synthetic camera stream and write a report"),
    "make-bag": ("seg_perception.bags.make_bag", "record a synthetic drive with ground truth in a ROS 2 bag"),
    "play": ("seg_perception.tools.bag_player", "publish a bag's topics over ROS 2 at the recorded timing"),
    "process": ("seg_perception.bags.process", "run the pipeline on a bag offline (output bag, JSON, video)"),
    "eval-bag": ("seg_perception.bags.evaluate", "mIoU, polygon IoU, slot precision/recall on a bag"),
    "calibrate": ("seg_perception.calibrate", "front-camera ground homography, checked on a metric grid"),
    "bench": ("seg_perception.bench.cli", "fps, latency and memory of the engines (and of the node: --node)"),
    "soak": ("seg_perception.bench.soak", "flood the cameras for minutes: node RSS over time, slope, drops"),
    "bench-stages": (
        "seg_perception.bench.node_stages",
        "the node's own cost per output (conversion, post-processing, each message), in one process",
    ),
    "bench-lanes": (
        "seg_perception.bench.lanes",
        "CPU ms per front frame of the lane boundaries (extraction + tracking) on held-out drives",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seg-perception",
        description="Lane and parking-slot segmentation: models, data, training, export and ROS tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"seg-perception {name}", description=COMMANDS[name][1])
    module.register(sub)
    args = sub.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except SegPerceptionError as err:
        print(f"seg-perception {name}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"seg-perception {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
