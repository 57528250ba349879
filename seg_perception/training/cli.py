"""``seg-perception train``: train a recipe into a run folder.

Example:
    seg-perception train --config config/training/highway.yaml --out runs/highway
    seg-perception train --config highway --steps 200 --device cpu --threads 2
    seg-perception train --config highway --resume runs/highway/last.pt
    seg-perception train --config parking_finetune --init runs/parking/last.pt --out runs/parking_ft
    seg-perception train --config parking_offsets --init runs/parking/last.pt \
        --init-new point_head.offset --out runs/parking_offsets
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seg_perception.cli_args import add_size_argument
from seg_perception.training.errors import RecipeError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="recipe name (highway, road, ...) or YAML path")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/<recipe name>)")
    parser.add_argument("--resume", type=Path, help="checkpoint to continue from (e.g. runs/x/last.pt)")
    parser.add_argument(
        "--init",
        type=Path,
        help="checkpoint whose weights start a new run (fine-tuning: new optimiser, schedule and steps)",
    )
    parser.add_argument(
        "--init-new",
        action="append",
        default=[],
        metavar="MODULE",
        help="with --init: a module of the recipe's model that keeps its fresh initialisation: the "
        "checkpoint does not have it (e.g. point_head.offset) or has it with another shape in every key "
        "(another class count's classifier, e.g. last_layer.3); repeatable. Any other missing, "
        "unexpected or differently shaped key is an error",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--steps", type=int, help="total optimiser steps (overrides the recipe)")
    parser.add_argument("--batch-size", type=int, help="batch size")
    parser.add_argument("--lr", type=float, help="AdamW learning rate")
    add_size_argument(parser, "--size", "input size, e.g. 256x512")
    parser.add_argument("--model", help="model registry name (e.g. icnet_r18)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--workers", type=int, help="DataLoader worker processes")
    parser.add_argument("--val-every", type=int, help="validate every N steps")
    parser.add_argument("--checkpoint-every", type=int, help="write last.pt every N steps")
    parser.add_argument(
        "--pool-size", type=int, help="synthetic scenes pre-generated into memory (0: on the fly)"
    )
    parser.add_argument(
        "--pool-workers",
        type=int,
        default=0,
        help="processes drawing the synthetic scene pools (same scenes; default 0: this process)",
    )
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from seg_perception.training.recipe import load_recipe
    from seg_perception.training.trainer import Trainer

    recipe = load_recipe(args.config).with_overrides(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        input_size=args.size,
        model=args.model,
        threads=args.threads,
        num_workers=args.workers,
        val_every=args.val_every,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        data_pool_size=args.pool_size,
    )
    if recipe.steps <= 0 or recipe.batch_size <= 0:
        raise RecipeError("steps and batch size must be positive")
    out_dir = args.out or Path("runs") / recipe.name
    trainer = Trainer(
        recipe,
        out_dir=out_dir,
        device=args.device,
        resume=args.resume,
        init=args.init,
        init_new=tuple(args.init_new),
        progress=not args.no_progress,
        pool_workers=args.pool_workers,
    )
    for key, seconds in trainer.timings.items():
        print(f"{key}: {seconds:.1f} s")
    result = trainer.fit()
    # best.pt is the best validation mIoU; a run on marking-point labels alone (avm) is judged by its points
    chosen = (result.best_checkpoint if recipe.trains_segmentation else None) or result.last_checkpoint
    print(
        f"trained {recipe.model} for {result.steps} steps in {result.seconds / 60:.1f} min; "
        f"best val mIoU {result.best_miou:.4f}\n"
        f"  best: {result.best_checkpoint}\n  last: {result.last_checkpoint}\n"
        f"  export: seg-perception export {chosen} "
        f"--out {out_dir / (recipe.name + '.onnx')}\n"
        f"  use:    seg-perception predict IMAGE_OR_VIDEO --model-file {out_dir / (recipe.name + '.onnx')}"
    )
    return 0
