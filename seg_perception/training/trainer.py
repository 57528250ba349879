"""The training loop: AdamW + cosine warm restarts, AMP on CUDA, validation, checkpoints, reports."""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from seg_perception import __version__
from seg_perception.config import load_scenario
from seg_perception.errors import ConfigError
from seg_perception.inference.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.metrics.segmentation import SegmentationMetrics
from seg_perception.models.base import MARKING_POINT_STRIDE
from seg_perception.training.anchor_frames import AnchorSet, load_anchor_frames
from seg_perception.training.errors import RecipeError
from seg_perception.training.feature_styles import MixStyle
from seg_perception.training.losses import (
    IGNORE_INDEX,
    DistillationLoss,
    MarkingPointLoss,
    build_loss,
    valid_cells,
)
from seg_perception.training.recipe import DistillSpec, Recipe, training_metres_per_pixel
from seg_perception.training.reporting import plot_curves, read_records, write_metrics

ModelFactory = Callable[[str, int], nn.Module]


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    steps: int
    best_miou: float
    last_checkpoint: Path
    best_checkpoint: Path | None
    seconds: float
    records: list[dict[str, Any]]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run repeats (the augmentation pipeline is seeded by the recipe)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    # Every worker holds a copy of the seeded augmentation pipeline (and of a dataset's own random
    # draws, e.g. the avm source's scales): give each its own stream.
    info = torch.utils.data.get_worker_info()
    dataset = getattr(info, "dataset", None)
    for owner in (dataset, getattr(dataset, "transform", None)):
        reseed = getattr(owner, "reseed", None)
        if reseed is not None:
            reseed(seed)


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto``; asking for CUDA where it is absent is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but CUDA is not available; use --device cpu")
    return torch.device(name)


def _default_model_factory(recipe: Recipe) -> ModelFactory:
    from seg_perception.models import build_model

    return lambda name, num_classes: build_model(name, num_classes, **recipe.model_options)


class Trainer:
    """Train one recipe into a run folder.

    The run folder gets ``last.pt`` (every ``checkpoint_every`` steps and at the end),
    ``best.pt`` (highest validation mIoU), ``metrics.csv``, ``metrics.json`` and ``curves.png``.

    A recipe with a ``distill`` block also loads its teacher checkpoint (strictly, in eval mode,
    without gradients) and adds :class:`~seg_perception.training.losses.DistillationLoss` between
    the student's main logits and the teacher's on every training batch.

    Args:
        recipe: The training recipe.
        out_dir: Run folder.
        device: ``cpu``, ``cuda`` or ``auto``.
        resume: Checkpoint to continue from (model, optimiser, scheduler, step, best mIoU).
        init: Checkpoint whose model weights start a new run (fine-tuning: fresh optimiser,
            schedule and step count, the recipe's own augmentations); not with ``resume``.
        init_new: Modules of the model (state-dict prefixes such as ``point_head.offset``) that
            keep their fresh initialisation: ``init`` lacks them, or holds them with other shapes
            in every key (a classifier for another class count, e.g. ``last_layer.3``), which are
            then left out. Nothing else may be missing: loading never skips a key silently.
        progress: Show tqdm bars.
        datasets: ``(train, val)`` to use instead of building them from the recipe.
        model_factory: ``(name, num_classes) -> model`` instead of the registry.
        pool_workers: Processes drawing the synthetic scene pools (a many-core training machine);
            the pools are the same scenes whatever the count.
    """

    def __init__(
        self,
        recipe: Recipe,
        *,
        out_dir: str | Path,
        device: str = "cpu",
        resume: str | Path | None = None,
        init: str | Path | None = None,
        init_new: tuple[str, ...] = (),
        progress: bool = True,
        datasets: tuple[Dataset[Any], Dataset[Any]] | None = None,
        model_factory: ModelFactory | None = None,
        pool_workers: int = 0,
    ) -> None:
        self.recipe = recipe
        self.run_dir = Path(out_dir)
        self.device = resolve_device(device)
        self.progress = progress
        self.scenario = load_scenario(recipe.scenario)
        self.class_names = list(self.scenario.classes.names)
        torch.set_num_threads(max(1, recipe.threads))
        seed_everything(recipe.seed)
        self.timings: dict[str, float] = {}
        if datasets is None:
            from seg_perception.training.datasets import build_datasets

            train_set, val_set, self.timings = build_datasets(
                recipe, progress=progress, pool_workers=pool_workers
            )
        else:
            train_set, val_set = datasets
        self.train_set, self.val_set = train_set, val_set
        factory = model_factory or _default_model_factory(recipe)
        self.model = factory(recipe.model, self.scenario.classes.num_classes).to(self.device)
        loss_weights = tuple(getattr(self.model, "loss_weights", (1.0,)))
        self.criterion = build_loss(
            recipe.loss,
            loss_weights=loss_weights,
            ignore_index=IGNORE_INDEX,
            align_corners=bool(getattr(self.model, "align_corners", False)),
        ).to(self.device)
        self.teacher: nn.Module | None = None
        self.distill_criterion: DistillationLoss | None = None
        self.anchors: AnchorSet | None = None
        self.anchor_criterion: DistillationLoss | None = None
        if recipe.distill is not None:
            self._set_up_distillation(recipe.distill, recipe)
        self.point_criterion = self._point_criterion(recipe)
        self._frozen_leaves = self._freeze(recipe.trainable)
        # the hooks draw from their own stream, so a recipe without them repeats its runs exactly
        self.mix_style = (
            None if recipe.mix_style is None else MixStyle(self.model, recipe.mix_style, seed=recipe.seed)
        )
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=recipe.lr,
            weight_decay=recipe.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            self.optimizer, T_0=max(1, recipe.t0), T_mult=max(1, recipe.t_mult), eta_min=recipe.eta_min
        )
        self.use_amp = recipe.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.step = 0
        self.best_miou = -math.inf
        self.records: list[dict[str, Any]] = []
        self.loss_history: list[tuple[int, float]] = []
        if resume is not None and init is not None:
            raise ConfigError(
                "give either resume (continue a run) or init (start from its weights), not both"
            )
        if init_new and init is None:
            raise ConfigError("init_new names modules that init does not have; it needs init")
        self.initialised_from: dict[str, Any] | None = None
        if init is not None:
            raw = self._load_weights(Path(init), new_modules=init_new)
            self.initialised_from = {"checkpoint": Path(init).name, "steps": int(raw.get("step", 0))}
            if init_new:
                self.initialised_from["new_modules"] = list(init_new)
        if resume is not None:
            self._resume(Path(resume))

    def _set_up_distillation(self, spec: DistillSpec, recipe: Recipe) -> None:
        """The teacher, its loss on the training frames and, with anchor frames, its loss on those."""
        self.teacher = self._load_teacher(spec)

        def distillation(weight: float) -> DistillationLoss:
            return DistillationLoss(
                weight=weight,
                temperature=spec.temperature,
                ignore_index=IGNORE_INDEX,
                align_corners=bool(getattr(self.model, "align_corners", False)),
            ).to(self.device)

        if spec.weight > 0.0:
            self.distill_criterion = distillation(spec.weight)
        if spec.anchor_frames is not None:
            frames = load_anchor_frames(
                spec.anchor_frames, recipe.input_size, recipe.mean, recipe.std, every=spec.anchor_every
            )
            self.anchors = AnchorSet.from_teacher(frames.to(self.device), self.teacher)
            self.anchor_criterion = distillation(spec.anchor_weight)

    def _point_criterion(self, recipe: Recipe) -> MarkingPointLoss | None:
        """The marking-point loss of a recipe that trains them (the model must have the head)."""
        if not recipe.marking_points:
            return None
        if not getattr(self.model, "marking_points", False):
            raise ConfigError(
                f"recipe {recipe.name!r} trains marking points but model {recipe.model!r} has no "
                "marking-point head; set model.options.marking_points: true"
            )
        return MarkingPointLoss(
            heat_weight=float(recipe.marking_points.get("heat_weight", 1.0)),
            direction_weight=float(recipe.marking_points.get("direction_weight", 0.5)),
            offset_weight=float(recipe.marking_points.get("offset_weight", 0.0)),
        )

    # -- state --------------------------------------------------------------------------------

    def _freeze(self, trainable: tuple[str, ...]) -> list[nn.Module]:
        """Freeze every parameter outside ``trainable`` (module prefixes); return the frozen leaves.

        Raises:
            ConfigError: a prefix names no parameter of the model.
        """
        if not trainable:
            return []

        def inside(name: str) -> bool:
            return any(name == prefix or name.startswith(prefix + ".") for prefix in trainable)

        names = [name for name, _ in self.model.named_parameters()]
        for prefix in trainable:
            if not any(name.startswith(prefix + ".") for name in names):
                raise ConfigError(
                    f"train.trainable names {prefix!r}, which has no parameters in {self.recipe.model!r}"
                )
        for name, parameter in self.model.named_parameters():
            parameter.requires_grad_(inside(name))
        return [
            module
            for name, module in self.model.named_modules()
            if not any(True for _ in module.children()) and not inside(name)
        ]

    def _train_mode(self) -> None:
        """Train mode, except the frozen modules (their batch norm statistics stay as loaded)."""
        self.model.train()
        for module in self._frozen_leaves:
            module.train(False)

    def _load_weights(self, path: Path, *, new_modules: tuple[str, ...] = ()) -> dict[str, Any]:
        """Load a checkpoint's model weights; return the checkpoint.

        Strict: every key of the model and of the checkpoint, same shapes. The only exception
        is ``new_modules``: the model's keys under those prefixes keep their initialisation and
        must each be missing from the checkpoint or have another shape there in every key (then
        left out: another class count's classifier); each prefix must name such keys.
        """
        raw = read_checkpoint(path, map_location=str(self.device))
        if raw["model_name"] != self.recipe.model:
            raise ConfigError(
                f"{path} holds a {raw['model_name']!r} model but the recipe trains {self.recipe.model!r}"
            )
        state: dict[str, torch.Tensor] = dict(raw["state_dict"])
        model_state = self.model.state_dict()
        model_keys = set(model_state)

        def is_new(key: str) -> bool:
            return any(key == prefix or key.startswith(prefix + ".") for prefix in new_modules)

        for prefix in new_modules:
            owned = {key for key in model_keys if key == prefix or key.startswith(prefix + ".")}
            if not owned:
                raise ConfigError(
                    f"new module {prefix!r} is not part of the recipe's model {self.recipe.model!r}"
                )
            present = sorted(owned & set(state))
            if any(state[key].shape == model_state[key].shape for key in present):
                raise ConfigError(f"new module {prefix!r} is in {path} already ({present[0]}, ...); drop it")
            for key in present:  # another shape in every key: another class count's classifier
                del state[key]
        try:
            result = self.model.load_state_dict(state, strict=not new_modules)
        except RuntimeError as err:
            raise ConfigError(f"{path} does not fit the recipe's model {self.recipe.model!r}: {err}") from err
        if new_modules:
            missing = [key for key in result.missing_keys if not is_new(key)]
            if missing or result.unexpected_keys:
                raise ConfigError(
                    f"{path} does not fit the recipe's model {self.recipe.model!r}: missing keys "
                    f"{missing}, unexpected keys {list(result.unexpected_keys)}"
                )
        return raw

    def _load_teacher(self, spec: DistillSpec) -> nn.Module:
        """Build the distillation teacher from its checkpoint: strict weights, eval mode, no gradients.

        Raises:
            RecipeError: the checkpoint is missing, or predicts another class map (or scenario),
                or expects other input normalisation than the recipe's.
            ModelFileError: the checkpoint is corrupt or its weights do not fit its model.
        """
        path = Path(spec.teacher)
        if not path.is_file():
            raise RecipeError(
                f"recipe {self.recipe.name!r}: distill.teacher {path} does not exist; make it with "
                f"'seg-perception recover MODEL.onnx --out {path}' (from a shipped model) or "
                "'seg-perception train'"
            )
        teacher, metadata, _ = load_checkpoint(path, map_location=str(self.device))
        if list(metadata.classes) != self.class_names or metadata.scenario != self.scenario.name:
            raise RecipeError(
                f"recipe {self.recipe.name!r}: distill.teacher {path} predicts {list(metadata.classes)} "
                f"(scenario {metadata.scenario!r}) but the recipe trains {self.class_names} (scenario "
                f"{self.scenario.name!r}); a teacher needs the student's class map"
            )
        if tuple(metadata.mean) != tuple(self.recipe.mean) or tuple(metadata.std) != tuple(self.recipe.std):
            raise RecipeError(
                f"recipe {self.recipe.name!r}: distill.teacher {path} expects inputs normalised with "
                f"mean {metadata.mean}, std {metadata.std}, the recipe gives mean {self.recipe.mean}, "
                f"std {self.recipe.std}"
            )
        teacher.eval()
        teacher.requires_grad_(False)
        return teacher.to(self.device)

    def _teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's main logits for a normalised batch (eval mode, no gradient)."""
        if self.teacher is None:
            raise RecipeError(f"recipe {self.recipe.name!r} has no distill block, so no teacher")
        with torch.no_grad(), torch.autocast(self.device.type, enabled=self.use_amp):
            output = self.teacher(images)
        return output[0] if isinstance(output, (list, tuple)) else output

    def _anchor_loss(self) -> torch.Tensor:
        """The student held to the teacher on a batch of anchor frames.

        The student runs with its batch norm in eval mode, as it will run on a camera: its running
        statistics stay the generated scenes' and the anchor holds the function a car will use.
        """
        if self.anchors is None or self.anchor_criterion is None or self.recipe.distill is None:
            raise RecipeError(f"recipe {self.recipe.name!r} has no distill.anchor_frames")
        generator = torch.Generator().manual_seed(self.recipe.seed * 1_000_003 + self.step)
        images, teacher_logits = self.anchors.batch(self.recipe.distill.anchor_batch, generator)
        norms = [
            m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
        ]
        for module in norms:
            module.train(False)
        try:
            with torch.autocast(self.device.type, enabled=self.use_amp):
                outputs = self.model(images)
        finally:
            for module in norms:
                module.train(True)
        student = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        everywhere = torch.zeros(
            (len(images), *teacher_logits.shape[-2:]), dtype=torch.long, device=teacher_logits.device
        )
        return self.anchor_criterion(student, teacher_logits, everywhere)

    def _resume(self, path: Path) -> None:
        raw = self._load_weights(path)
        for key, target in (("optimizer", self.optimizer), ("scheduler", self.scheduler)):
            if key in raw:
                target.load_state_dict(raw[key])
        if "scaler" in raw and self.use_amp:
            self.scaler.load_state_dict(raw["scaler"])
        self.step = int(raw.get("step", 0))
        self.best_miou = float(raw.get("best_miou", -math.inf))
        records, history = read_records(self.run_dir)
        self.records = [r for r in records if int(r.get("step", 0)) <= self.step]
        self.loss_history = [(step, loss) for step, loss in history if step <= self.step]

    def metadata(self, *, val_summary: dict[str, Any] | None = None) -> ModelMetadata:
        """Model metadata for checkpoints and ONNX: class map from the scenario config, provenance."""
        extra: dict[str, Any] = {
            "recipe": self.recipe.name,
            "steps": self.step,
            "package_version": __version__,
            "trained_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "data": self.recipe.data.source,
        }
        if self.initialised_from is not None:
            extra["initialised_from"] = dict(self.initialised_from)
        if self.recipe.distill is not None:
            extra["distilled_from"] = {
                "teacher": Path(self.recipe.distill.teacher).name,
                "weight": self.recipe.distill.weight,
                "temperature": self.recipe.distill.temperature,
            }
            if self.recipe.distill.anchor_frames is not None:
                extra["distilled_from"] |= {
                    "anchor_frames": Path(self.recipe.distill.anchor_frames).name,
                    "anchor_weight": self.recipe.distill.anchor_weight,
                    "anchor_batch": self.recipe.distill.anchor_batch,
                    "anchor_every": self.recipe.distill.anchor_every,
                }
        if self.recipe.mix_style is not None:
            spec = self.recipe.mix_style
            extra["mix_style"] = {"modules": list(spec.modules), "p": spec.p, "alpha": spec.alpha}
        if self.recipe.data.source == "synthetic":
            extra["train_seeds"] = list(self.recipe.data.train_seeds)
            extra["val_seeds"] = list(self.recipe.data.val_seeds)
        if val_summary is not None:
            extra["val_miou"] = val_summary["miou"]
            extra["val_per_class_iou"] = val_summary["per_class_iou"]
            extra["val_pixel_accuracy"] = val_summary["pixel_accuracy"]
        return ModelMetadata(
            model=self.recipe.model,
            scenario=self.scenario.name,
            classes=tuple(self.class_names),
            colors=tuple(self.scenario.classes.colors_hex),
            input_size=self.recipe.input_size,
            mean=self.recipe.mean,
            std=self.recipe.std,
            extra=extra,
            marking_point_stride=MARKING_POINT_STRIDE if getattr(self.model, "marking_points", False) else 0,
            marking_point_offsets=bool(getattr(self.model, "point_offsets", False)),
            align_corners=bool(getattr(self.model, "align_corners", False)),
            metres_per_pixel=(
                self.recipe.data.nominal_metres_per_pixel()
                or training_metres_per_pixel(self.scenario, self.recipe.input_size)
            ),
        )

    def save(self, path: Path, *, val_summary: dict[str, Any] | None = None) -> Path:
        return save_checkpoint(
            path,
            self.model,
            self.metadata(val_summary=val_summary),
            model_name=self.recipe.model,
            model_options=self.recipe.model_options,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict(),
            step=self.step,
            best_miou=self.best_miou,
            recipe=self.recipe.to_dict(),
        )

    # -- loops ----------------------------------------------------------------------------------

    def _batches(self) -> Iterator[Sequence[torch.Tensor]]:
        """Endless shuffled batches, seeded by (recipe seed, step): the same command repeats its batches."""
        epoch = 0
        while True:
            generator = torch.Generator().manual_seed(self.recipe.seed * 1_000_003 + self.step + epoch)
            loader = DataLoader(
                self.train_set,
                batch_size=self.recipe.batch_size,
                shuffle=True,
                drop_last=len(cast(Sized, self.train_set)) >= self.recipe.batch_size,
                num_workers=self.recipe.num_workers,
                worker_init_fn=_seed_worker,
                generator=generator,
                persistent_workers=False,
                pin_memory=self.device.type == "cuda",
            )
            yield from loader
            epoch += 1

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Pixel accuracy, per-class IoU and mIoU on the validation set."""
        self.model.eval()
        metrics = SegmentationMetrics(self.class_names)
        loader = DataLoader(self.val_set, batch_size=self.recipe.batch_size, num_workers=0)
        for images, masks, *_ in loader:
            with torch.autocast(self.device.type, enabled=self.use_amp):
                logits = self.model(images.to(self.device))
            if isinstance(logits, (list, tuple)):
                logits = logits[0]
            prediction = logits.argmax(1).cpu().numpy()
            metrics.update(masks.numpy(), prediction)
        self._train_mode()
        return metrics.summary()

    def _train_step(
        self, images: torch.Tensor, masks: torch.Tensor, point_target: torch.Tensor | None = None
    ) -> float:
        images = images.to(self.device, non_blocking=True)
        masks = masks.to(self.device, non_blocking=True).long()
        mixing = self.mix_style.active() if self.mix_style is not None else contextlib.nullcontext()
        with mixing, torch.autocast(self.device.type, enabled=self.use_amp):
            outputs = self.model(images)
        if self.point_criterion is not None:
            if point_target is None:
                raise ConfigError(
                    "the training set gives no marking-point targets for the marking-point head"
                )
            outputs, raw_points = outputs
            point_target = point_target.to(self.device, non_blocking=True)
            valid = valid_cells(masks, tuple(raw_points.shape[-2:]))
            loss = self.point_criterion(raw_points, point_target, valid)
            if self.recipe.trains_segmentation:
                loss = loss + self.criterion(outputs, masks)
        else:
            loss = self.criterion(outputs, masks)
        if self.distill_criterion is not None:
            main = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
            loss = loss + self.distill_criterion(main, self._teacher_logits(images), masks)
        if self.anchors is not None:
            loss = loss + self._anchor_loss()
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.recipe.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.detach())

    def _keep(self, summary: dict[str, Any], best_path: Path) -> None:
        """After a validation: the checkpoint when it is the best so far, the metrics and their curves."""
        if summary["miou"] > self.best_miou:
            self.best_miou = float(summary["miou"])
            self.save(best_path, val_summary=summary)
        write_metrics(
            self.run_dir, self.records, recipe=self.recipe.to_dict(), loss_history=self.loss_history
        )
        plot_curves(self.run_dir, self.records, self.loss_history)

    def fit(self) -> TrainResult:
        """Train until ``recipe.steps``; validate every ``val_every`` steps and at the end."""
        from tqdm import tqdm

        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "recipe.json").write_text(json.dumps(self.recipe.to_dict(), indent=2))
        total = self.recipe.steps
        self._train_mode()
        started = time.perf_counter()
        interval_losses: list[float] = []
        recent_losses: list[float] = []
        log_every = max(1, self.recipe.val_every // 20)  # about 20 loss points per validation
        interval_start = time.perf_counter()
        interval_first_step = self.step
        best_path = self.run_dir / "best.pt"
        last_path = self.run_dir / "last.pt"
        bar = tqdm(total=total, initial=self.step, disable=not self.progress, unit="it", dynamic_ncols=True)
        batches = self._batches()
        last_summary: dict[str, Any] | None = None
        while self.step < total:
            images, masks, *point_target = next(batches)
            loss = self._train_step(images, masks, *point_target)
            if not math.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss} at step {self.step}; lower the lr")
            self.step += 1
            interval_losses.append(loss)
            recent_losses.append(loss)
            if self.step % log_every == 0:
                self.loss_history.append((self.step, float(np.mean(recent_losses))))
                recent_losses = []
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
            at_end = self.step == total
            if self.step % self.recipe.val_every == 0 or at_end:
                elapsed = time.perf_counter() - interval_start
                summary = self.validate()
                mean_loss = float(np.mean(interval_losses)) if interval_losses else float("nan")
                record: dict[str, Any] = {
                    "step": self.step,
                    "train_loss": mean_loss,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "pixel_accuracy": summary["pixel_accuracy"],
                    "miou": summary["miou"],
                    **{f"iou_{k}": v for k, v in summary["per_class_iou"].items()},
                    "it_per_s": (self.step - interval_first_step) / max(elapsed, 1e-9),
                    "elapsed_s": time.perf_counter() - started,
                }
                self.records.append(record)
                interval_losses, interval_start, interval_first_step = [], time.perf_counter(), self.step
                bar.write(
                    f"step {self.step}: loss {mean_loss:.4f}  mIoU {summary['miou']:.4f}  "
                    f"pixel acc {summary['pixel_accuracy']:.4f}  "
                    + "  ".join(
                        f"{k} {'n/a' if v is None else f'{v:.3f}'}"
                        for k, v in summary["per_class_iou"].items()
                    )
                )
                self._keep(summary, best_path)
                self._train_mode()
                last_summary = summary
            if self.step % self.recipe.checkpoint_every == 0 or at_end:
                self.save(last_path, val_summary=last_summary)
        bar.close()
        if not last_path.exists():  # resumed at or past the last step
            self.save(last_path)
        return TrainResult(
            run_dir=self.run_dir,
            steps=self.step,
            best_miou=self.best_miou,
            last_checkpoint=last_path,
            best_checkpoint=best_path if best_path.exists() else None,
            seconds=time.perf_counter() - started,
            records=self.records,
        )
