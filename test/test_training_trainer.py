"""A short training run on tiny scenes: loss falls, checkpoints and reports appear, resume continues."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from seg_perception.errors import ConfigError, ModelFileError
from seg_perception.inference.checkpoint import read_checkpoint
from seg_perception.training.errors import RecipeError
from seg_perception.training.recipe import Recipe, load_recipe, parse_recipe
from seg_perception.training.trainer import Trainer

SIZE = (32, 48)


class StripeScenes(Dataset):
    """Grey images whose bright horizontal stripes are class 1 (a stand-in for lane scenes)."""

    def __init__(self, count: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images, self.masks = [], []
        for _ in range(count):
            mask = torch.zeros(SIZE, dtype=torch.int64)
            for row in torch.randint(2, SIZE[0] - 4, (2,), generator=generator).tolist():
                mask[row : row + 2] = 1
            noise = 0.3 * torch.randn(3, *SIZE, generator=generator)
            self.images.append(mask.float().expand(3, -1, -1) * 2.0 - 1.0 + noise)
            self.masks.append(mask)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.masks[index]


class TinyCascadeNet(nn.Module):
    """Two-scale stand-in following the model contract: a list of logits in train mode."""

    loss_weights = (1.0, 0.4)

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, num_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        logits = self.body(x)
        if self.training:
            return [logits, nn.functional.avg_pool2d(logits, 2)]
        return logits


def tiny_recipe(**changes: object) -> Recipe:
    recipe = parse_recipe(
        {
            "name": "tiny",
            "scenario": "highway",
            "model": "tiny_cascade",
            "input_size": list(SIZE),
            "loss": {"terms": {"focal": 0.3, "soft_ce": 0.7}, "class_weights": [1.0, 2.0]},
            "optimizer": {"lr": 0.02, "weight_decay": 0.0},
            "scheduler": {"T_0": 20, "T_mult": 1},
            "train": {"batch_size": 4, "steps": 30, "val_every": 10, "checkpoint_every": 10, "threads": 1},
        }
    )
    return recipe.with_overrides(**changes)


def make_trainer(
    recipe: Recipe, out: Path, net: type[nn.Module] = TinyCascadeNet, **kwargs: object
) -> Trainer:
    return Trainer(
        recipe,
        out_dir=out,
        progress=False,
        datasets=(StripeScenes(24, seed=0), StripeScenes(6, seed=1)),
        model_factory=lambda name, num_classes: net(num_classes),
        **kwargs,  # type: ignore[arg-type]
    )


def test_short_run_learns_and_writes_reports(tmp_path: Path) -> None:
    result = make_trainer(tiny_recipe(), tmp_path).fit()
    assert result.steps == 30
    losses = [r["train_loss"] for r in result.records]
    assert losses[-1] < losses[0]
    assert result.best_miou > 0.5
    for name in ("last.pt", "best.pt", "metrics.csv", "metrics.json", "curves.png"):
        assert (tmp_path / name).is_file(), name
    with (tmp_path / "metrics.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["step"]) for r in rows] == [10, 20, 30]
    assert {"miou", "pixel_accuracy", "iou_background", "iou_lane_marking"} <= set(rows[0])
    best = read_checkpoint(tmp_path / "best.pt")
    assert best["best_miou"] == pytest.approx(max(r["miou"] for r in result.records))
    assert list(best["metadata"]["classes"]) == ["background", "lane_marking"]
    assert best["metadata"]["extra"]["val_miou"] == pytest.approx(best["best_miou"])
    assert json.loads((tmp_path / "metrics.json").read_text())["records"][-1]["step"] == 30


def test_resume_continues_from_saved_step(tmp_path: Path) -> None:
    make_trainer(tiny_recipe(steps=20), tmp_path).fit()
    saved = read_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == 20
    trainer = make_trainer(tiny_recipe(steps=30), tmp_path, resume=tmp_path / "last.pt")
    assert trainer.step == 20
    assert trainer.scheduler.last_epoch == saved["scheduler"]["last_epoch"]
    result = trainer.fit()
    assert result.steps == 30
    assert [r["step"] for r in result.records] == [10, 20, 30]
    assert read_checkpoint(tmp_path / "last.pt")["step"] == 30
    history = json.loads((tmp_path / "metrics.json").read_text())["loss_history"]
    assert [step for step, _ in history] == list(range(1, 31))  # kept across the resume, no repeats


def test_init_starts_a_new_run_from_saved_weights(tmp_path: Path) -> None:
    make_trainer(tiny_recipe(steps=20), tmp_path / "first").fit()
    saved = read_checkpoint(tmp_path / "first" / "last.pt")
    trainer = make_trainer(tiny_recipe(steps=12), tmp_path / "tuned", init=tmp_path / "first" / "last.pt")
    assert trainer.step == 0 and trainer.scheduler.last_epoch == 0  # a new schedule, not a resume
    assert not trainer.optimizer.state  # fresh optimiser moments
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, saved["state_dict"][name])
    result = trainer.fit()
    assert result.steps == 12
    tuned = read_checkpoint(tmp_path / "tuned" / "last.pt")
    assert tuned["step"] == 12
    assert tuned["metadata"]["extra"]["initialised_from"] == {"checkpoint": "last.pt", "steps": 20}
    assert any(not torch.equal(v, saved["state_dict"][k]) for k, v in tuned["state_dict"].items())


def test_init_refuses_resume_too_and_other_models(tmp_path: Path) -> None:
    make_trainer(tiny_recipe(steps=10), tmp_path).fit()
    with pytest.raises(ConfigError, match="not both"):
        make_trainer(tiny_recipe(), tmp_path, init=tmp_path / "last.pt", resume=tmp_path / "last.pt")
    with pytest.raises(ConfigError, match="tiny_cascade"):
        make_trainer(tiny_recipe(model="other_net"), tmp_path / "x", init=tmp_path / "last.pt")

    class WiderNet(TinyCascadeNet):
        def __init__(self, num_classes: int) -> None:
            super().__init__(num_classes)
            self.body[0] = nn.Conv2d(3, 16, 3, padding=1)

    with pytest.raises(ConfigError, match="does not fit"):
        Trainer(
            tiny_recipe(),
            out_dir=tmp_path / "y",
            progress=False,
            datasets=(StripeScenes(8, seed=0), StripeScenes(2, seed=1)),
            model_factory=lambda name, num_classes: WiderNet(num_classes),
            init=tmp_path / "last.pt",
        )


class GrownNet(TinyCascadeNet):
    """TinyCascadeNet with a batch-normed layer and one module more (``extra``): a grown model."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, num_classes, 1)
        )
        self.extra = nn.Conv2d(num_classes, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        logits = self.extra(self.body(x))
        if self.training:
            return [logits, nn.functional.avg_pool2d(logits, 2)]
        return logits


class BaseOfGrownNet(GrownNet):
    """GrownNet without ``extra``: what the checkpoint being fine-tuned holds."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes)
        del self.extra
        self.extra = nn.Identity()


def grown_trainer(recipe: Recipe, out: Path, net: type[nn.Module] = GrownNet, **kwargs: object) -> Trainer:
    return make_trainer(recipe, out, net, **kwargs)


def test_init_new_names_the_modules_a_checkpoint_lacks_and_nothing_is_skipped_silently(
    tmp_path: Path,
) -> None:
    grown_trainer(tiny_recipe(steps=10), tmp_path / "base", BaseOfGrownNet).fit()
    base = tmp_path / "base" / "last.pt"
    saved = read_checkpoint(base)["state_dict"]
    with pytest.raises(ConfigError, match="does not fit"):  # a missing module is never skipped by default
        grown_trainer(tiny_recipe(), tmp_path / "a", init=base)
    trainer = grown_trainer(tiny_recipe(steps=4), tmp_path / "b", init=base, init_new=("extra",))
    fresh = GrownNet(2).state_dict()
    for name, value in trainer.model.state_dict().items():
        if name.startswith("extra."):
            assert name not in saved and value.shape == fresh[name].shape
        else:
            assert torch.equal(value, saved[name]), name
    trainer.fit()
    provenance = read_checkpoint(tmp_path / "b" / "last.pt")["metadata"]["extra"]["initialised_from"]
    assert provenance["new_modules"] == ["extra"]
    with pytest.raises(ConfigError, match="not part of"):  # a typo is an error, not a no-op
        grown_trainer(tiny_recipe(), tmp_path / "c", init=base, init_new=("extar",))
    with pytest.raises(ConfigError, match="already"):  # the checkpoint has it: nothing is new
        grown_trainer(tiny_recipe(), tmp_path / "d", init=tmp_path / "b" / "last.pt", init_new=("extra",))

    class GrownTwiceNet(GrownNet):
        def __init__(self, num_classes: int) -> None:
            super().__init__(num_classes)
            self.more = nn.Conv2d(num_classes, num_classes, 1)

    with pytest.raises(ConfigError, match=r"missing keys \['more.weight', 'more.bias'\]"):
        grown_trainer(tiny_recipe(), tmp_path / "e", GrownTwiceNet, init=base, init_new=("extra",))
    with pytest.raises(ConfigError, match="needs init"):
        grown_trainer(tiny_recipe(), tmp_path / "f", init_new=("extra",))


def test_init_new_replaces_a_classifier_trained_for_another_class_count(tmp_path: Path) -> None:
    """A model for one more class (another scenario's class map) starts a new run: every layer is
    loaded but the named classifier layers, whose every key has another shape; a named module with
    a key of the same shape is not new and stays an error."""
    plain_loss = {"terms": {"ce": 1.0}}  # no per-class weights: the base model has one logit more
    make_trainer(
        tiny_recipe(steps=4, loss=plain_loss), tmp_path / "base", lambda classes: GrownNet(classes + 1)
    ).fit()
    base = tmp_path / "base" / "last.pt"
    saved = read_checkpoint(base)["state_dict"]
    with pytest.raises(ConfigError, match="does not fit"):  # other shapes are never skipped by default
        grown_trainer(tiny_recipe(), tmp_path / "a", init=base)
    trainer = grown_trainer(tiny_recipe(steps=2), tmp_path / "b", init=base, init_new=("body.3", "extra"))
    for name, value in trainer.model.state_dict().items():
        if name.startswith(("body.3.", "extra.")):
            assert value.shape != saved[name].shape, name
        else:
            assert torch.equal(value, saved[name]), name
    trainer.fit()
    with pytest.raises(ConfigError, match="already"):  # body.0 has the same shapes: not new
        grown_trainer(tiny_recipe(), tmp_path / "c", init=base, init_new=("body.0", "body.3", "extra"))


def test_trainable_trains_only_the_named_modules_and_keeps_the_rest_as_loaded(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = grown_trainer(tiny_recipe(steps=10, trainable=("extra",)), tmp_path / "run")
    before = {name: value.clone() for name, value in trainer.model.state_dict().items()}
    trainer.fit()
    after = trainer.model.state_dict()
    for name, value in after.items():
        if name.startswith("extra."):
            assert not torch.equal(value, before[name]), name
        else:  # weights and batch-norm statistics alike
            assert torch.equal(value, before[name]), name
    assert len(trainer.optimizer.param_groups[0]["params"]) == 2  # extra.weight, extra.bias
    with pytest.raises(ConfigError, match="no parameters"):
        grown_trainer(tiny_recipe(trainable=("head",)), tmp_path / "x")
    recipe = parse_recipe(
        {"scenario": "highway", "model": "m", "input_size": [8, 8], "train": {"trainable": ["a.b"]}}
    )
    assert recipe.trainable == ("a.b",)
    with pytest.raises(RecipeError, match="trainable"):
        parse_recipe({"scenario": "highway", "model": "m", "input_size": [8, 8], "train": {"trainable": "a"}})


def test_offset_head_and_its_loss_go_together_in_a_recipe() -> None:
    def recipe(options: dict[str, object], block: dict[str, object]) -> Recipe:
        return parse_recipe(
            {
                "scenario": "parking",
                "input_size": [96, 96],
                "model": {"name": "icnet_lite", "options": options},
                "marking_points": block,
            }
        )

    with_offsets = recipe({"marking_points": True, "point_offsets": True}, {"offset_weight": 1.0})
    assert with_offsets.point_target() == (4, 4.0, True)
    with pytest.raises(RecipeError, match="go together"):
        recipe({"marking_points": True, "point_offsets": True}, {"sigma_px": 4.0})
    with pytest.raises(RecipeError, match="go together"):
        recipe({"marking_points": True}, {"offset_weight": 1.0})


def test_resume_from_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"missing\.pt"):
        make_trainer(tiny_recipe(), tmp_path, resume=tmp_path / "missing.pt")


def test_recipe_validation() -> None:
    with pytest.raises(RecipeError, match="overlap"):
        parse_recipe(
            {
                "scenario": "highway",
                "model": "m",
                "input_size": [8, 8],
                "data": {"train_seeds": [0, 100], "val_seeds": [50, 60]},
            }
        )
    with pytest.raises(RecipeError, match="evaluation scenes start there"):
        parse_recipe(
            {
                "scenario": "parking",
                "model": "m",
                "input_size": [8, 8],
                "data": {"train_seeds": [150_000, 200_001]},
            }
        )
    beyond_val = {"train_seeds": [120_000, 130_000]}  # large GPU pools live between val and eval
    assert parse_recipe(
        {"scenario": "parking", "model": "m", "input_size": [8, 8], "data": beyond_val}
    ).data.train_seeds == (120_000, 130_000)
    with pytest.raises(RecipeError, match="input_size"):
        parse_recipe({"scenario": "highway", "model": "m"})
    with pytest.raises(RecipeError, match="unknown train fields"):
        parse_recipe({"scenario": "highway", "model": "m", "input_size": [8, 8], "train": {"stepz": 1}})
    base = {"scenario": "highway", "model": "m", "input_size": [8, 8]}
    assert parse_recipe({**base, "data": {"botts_dots_p": 0.5}}).data.botts_dots_p == 0.5
    assert parse_recipe(base).data.botts_dots_p is None  # the generator's own share
    with pytest.raises(RecipeError, match="probability"):
        parse_recipe({**base, "data": {"botts_dots_p": 1.5}})
    with pytest.raises(RecipeError, match="synthetic"):
        parse_recipe({**base, "data": {"source": "folder", "path": "x", "botts_dots_p": 0.5}})
    assert parse_recipe({**base, "data": {"barrier_p": 1.0}}).data.barrier_p == 1.0
    assert parse_recipe(base).data.barrier_p is None
    with pytest.raises(RecipeError, match="probability"):
        parse_recipe({**base, "data": {"barrier_p": -0.1}})
    with pytest.raises(RecipeError, match="barrier_p shapes synthetic"):
        parse_recipe({**base, "data": {"source": "folder", "path": "x", "barrier_p": 0.5}})
    assert parse_recipe({**base, "data": {"dark_p": 0.6}}).data.dark_p == 0.6
    assert parse_recipe(base).data.dark_p is None
    with pytest.raises(RecipeError, match="probability"):
        parse_recipe({**base, "data": {"dark_p": 1.2}})
    assert parse_recipe({**base, "data": {"highway_p": 0.3}}).data.highway_p == 0.3
    assert parse_recipe(base).data.highway_p is None
    with pytest.raises(RecipeError, match="probability"):
        parse_recipe({**base, "data": {"highway_p": 2.0}})


@pytest.mark.parametrize(
    "name",
    [
        "highway",
        "road",
        "parking",
        "parking_finetune",
        "parking_offsets",
        "parking_offsets_head",
        "parking_realism",
        "parking_junctions",
        "parking_v2",
        "parking_hrnet",
        "highway_finetune",
        "highway_refine",
        "highway_gentle",
        "highway_hrnet",
    ],
)
def test_shipped_recipes_parse(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.data.source == "synthetic"
    assert recipe.steps > 0 and recipe.batch_size > 0


def test_train_command_on_synthetic_scenes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("seg_perception.data.synthetic")
    pytest.importorskip("seg_perception.models")
    from seg_perception.cli import main

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "name: tiny\nscenario: road\nmodel: icnet_lite\ninput_size: [64, 96]\n"
        "data: {train_seeds: [0, 100000], val_seeds: [100000, 100002], pool_size: 6}\n"
        "augment: {crop: [48, 64], horizontal_flip: 0.5, noise: 0.5}\n"
        "loss: {terms: {focal: 0.3, soft_ce: 0.7}, resize: logits}\n"
        "train: {batch_size: 3, steps: 6, val_every: 3, checkpoint_every: 3, threads: 1}\n"
    )
    out = tmp_path / "run"
    assert main(["train", "--config", str(recipe), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"--out {out / 'tiny.onnx'}" in printed and "weights/" not in printed  # never over a shipped model
    best = read_checkpoint(out / "best.pt")
    assert best["model_name"] == "icnet_lite"
    assert list(best["metadata"]["classes"]) == ["background", "lane_marking", "crosswalk"]
    assert read_checkpoint(out / "last.pt")["step"] == 6
    assert (out / "curves.png").is_file()


def write_pairs(root: Path, count: int) -> None:
    import cv2
    import numpy as np

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for index in range(count):
        cv2.imwrite(str(root / "images" / f"{index:03d}.png"), np.full((8, 8, 3), index, np.uint8))
        cv2.imwrite(str(root / "masks" / f"{index:03d}.png"), np.zeros((8, 8), np.uint8))


def test_flat_folder_holds_out_validation_pairs_never_trained_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from seg_perception.training.datasets import build_datasets

    write_pairs(tmp_path / "data", 20)
    recipe = parse_recipe(
        {
            "scenario": "highway",
            "model": "m",
            "input_size": [8, 8],
            "data": {"source": "folder", "path": str(tmp_path / "data")},
        }
    )
    train, val = build_datasets(recipe)[:2]
    assert len(train) == 18 and len(val) == 2
    assert not set(train.indices) & set(val.indices)
    assert "validating on 2 of 20 pairs held out of training" in capsys.readouterr().err


def test_folder_with_train_but_no_val_is_refused(tmp_path: Path) -> None:
    from seg_perception.training.datasets import build_datasets

    write_pairs(tmp_path / "data" / "train", 4)
    recipe = parse_recipe(
        {
            "scenario": "highway",
            "model": "m",
            "input_size": [8, 8],
            "data": {"source": "folder", "path": str(tmp_path / "data")},
        }
    )
    with pytest.raises(RecipeError, match="has train/ but not val/"):
        build_datasets(recipe)


def test_marking_point_training_reduces_its_loss_and_exports_the_head(tmp_path: Path) -> None:
    from seg_perception.inference.checkpoint import load_checkpoint
    from seg_perception.inference.export import export_checkpoint
    from seg_perception.training.trainer import Trainer

    recipe = parse_recipe(
        {
            "name": "tiny_points",
            "scenario": "parking",
            "input_size": [96, 96],
            "model": {"name": "icnet_lite", "options": {"marking_points": True}},
            "data": {"train_seeds": [0, 100000], "val_seeds": [100000, 100002], "pool_size": 4},
            "augment": {"horizontal_flip": 0.5, "rotate": {"limit": 20, "p": 0.5}},
            "marking_points": {"sigma_px": 4.0},
            "optimizer": {"lr": 0.004},
            "train": {"batch_size": 4, "steps": 30, "val_every": 30, "checkpoint_every": 30, "threads": 1},
        }
    )
    trainer = Trainer(recipe, out_dir=tmp_path / "run", progress=False)
    images, masks, target = next(trainer._batches())
    assert target.shape == (4, 3, 24, 24) and float(target[:, 0].max()) > 0.5
    first = trainer._train_step(images, masks, target)
    for _ in range(29):
        last = trainer._train_step(images, masks, target)
    assert last < first * 0.7
    path = trainer.save(tmp_path / "run" / "best.pt")
    _, metadata, _ = load_checkpoint(path)
    assert metadata.marking_point_stride == 4 and metadata.metres_per_pixel == pytest.approx(0.02 * 640 / 96)
    report = export_checkpoint(path, tmp_path / "points.onnx")
    assert report.max_abs_diff < 1e-3


@pytest.mark.parametrize("knob", ["botts_dots_p", "barrier_p", "dark_p"])
def test_highway_shares_reach_the_training_pool_only(knob: str) -> None:
    from seg_perception.data.synthetic import generate_scene
    from seg_perception.training.datasets import ScenePool, build_datasets

    data = {"train_seeds": [0, 50], "val_seeds": [100, 102], "pool_size": 12, knob: 1.0}
    recipe = parse_recipe({"scenario": "highway", "model": "m", "input_size": [32, 64], "data": data})
    train, val = build_datasets(recipe)[:2]
    assert isinstance(train, ScenePool) and isinstance(val, ScenePool)
    dotted = [generate_scene("highway", seed, size=(32, 64), **{knob: 1.0}).image for seed in range(12)]
    plain = [generate_scene("highway", seed, size=(32, 64)).image for seed in range(12)]
    assert any(not np.array_equal(a, b) for a, b in zip(dotted, plain, strict=True))
    assert all(np.array_equal(pool, scene) for pool, scene in zip(train.images, dotted, strict=True))
    val_scene = generate_scene("highway", 100, size=(32, 64)).image  # validation: the generator's share
    assert np.array_equal(val.images[0], val_scene)


def test_pool_drawn_in_worker_processes_is_the_same_pool() -> None:
    from seg_perception.training.datasets import ScenePool

    def transform(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return image, mask

    seeds = range(500, 540)  # two chunks and a partial third
    options = {"size": (48, 48), "transform": transform, "metres_per_pixel": (0.03, 0.05)}
    serial = ScenePool.generate("parking", seeds, **options)
    parallel = ScenePool.generate("parking", seeds, workers=2, **options)
    assert np.array_equal(serial.images, parallel.images) and np.array_equal(serial.masks, parallel.masks)
    assert serial.points is not None and parallel.points is not None
    assert len(parallel.points) == len(seeds)
    assert all(np.array_equal(a, b) for a, b in zip(serial.points, parallel.points, strict=True))
    assert len({image.tobytes() for image in parallel.images}) > len(seeds) // 2  # real, varied scenes
