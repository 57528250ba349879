"""Fine-tuning the marking-point head on labelled real AVM images (data.source: avm)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from seg_perception.data.augment import build_transforms
from seg_perception.data.errors import DatasetError
from seg_perception.data.parking_labels import DMPR_PIXEL_ORIGIN
from seg_perception.training.avm_dataset import IGNORED, IMAGE, AvmPointDataset
from seg_perception.training.errors import RecipeError
from seg_perception.training.recipe import parse_recipe

INPUT = (320, 320)
POINT_TARGET = (4, 4.0, False)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _t_junction(folder: Path, name: str, *, size: int, mark: tuple[float, float], label: dict) -> Path:
    """A black image with a white T (entrance line across, separating line down from ``mark``), labelled."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(exist_ok=True)
    image = np.zeros((size, size, 3), np.uint8)
    x, y = round(mark[0]), round(mark[1])
    cv2.line(image, (x - size // 6, y), (x + size // 6, y), (255, 255, 255), max(2, size // 60))
    cv2.line(image, (x, y), (x, y + size // 5), (255, 255, 255), max(2, size // 60))
    path = folder / "images" / f"{name}.png"
    cv2.imwrite(str(path), image)
    (folder / "labels" / f"{name}.json").write_text(json.dumps(label))
    return path


def _transform(train: bool = False):
    return build_transforms({}, train=train, size=INPUT, mean=MEAN, std=STD, keypoints=True)


def _dmpr(mark: tuple[float, float], size: int, **extra: object) -> dict:
    """A DMPR-PS label of one mark at the 0-based pixel ``mark`` (the file counts from 1, as ps2.0's)."""
    x, y = np.asarray(mark, np.float64) + DMPR_PIXEL_ORIGIN
    return {"marks": [[x, y, x, y + 20.0, 0]], "slots": [], "image_size": [size, size], **extra}


def _dataset(
    folder: Path,
    name: str,
    *,
    size: int,
    mark: tuple[float, float],
    label: dict,
    model_mpp: float | tuple[float, float] = 0.04,
    label_mpp: float | None = None,
) -> AvmPointDataset:
    """One painted, labelled image (:func:`_t_junction`) as a dataset at ``model_mpp``."""
    image = _t_junction(folder, name, size=size, mark=mark, label=label)
    return AvmPointDataset(
        [(image, folder / "labels" / f"{name}.json")],
        input_size=INPUT,
        model_metres_per_pixel=model_mpp,
        transform=_transform(),
        point_target=POINT_TARGET,
        label_metres_per_pixel=label_mpp,
    )


def test_an_image_is_rescaled_to_the_model_scale_and_centred_with_its_mark(tmp_path: Path) -> None:
    mark = (180.0, 150.0)
    dataset = _dataset(tmp_path, "a", size=400, mark=mark, label=_dmpr(mark, 400, metres_per_pixel=0.025))
    canvas, mask, marks = dataset.canvas(0)
    # 400 px at 2.5 cm = 10 m = 250 px at 4 cm, centred in 320: offset 35
    assert canvas.shape == (*INPUT, 3)
    assert (mask[35:285, 35:285] == IMAGE).all()
    assert (mask[:35] == IGNORED).all() and (mask[:, 285:] == IGNORED).all()
    expected = (np.array(mark) + 0.5) * 0.625 - 0.5 + 35
    assert marks[:, :2] == pytest.approx(expected[None], abs=1e-4)
    assert marks[0, 2:] == pytest.approx([0.0, 1.0], abs=1e-6)  # into the slot: down the image
    x, y = np.round(expected).astype(int)
    assert canvas[y, x].min() > 100 and canvas[y + 20, x].min() > 100  # the paint moved with its mark
    _, tensor_mask, target = dataset[0]
    heat = target[0].numpy()
    row, col = np.unravel_index(int(heat.argmax()), heat.shape)
    assert heat.max() > 0.7 and (row, col) == (int(expected[1] // 4), int(expected[0] // 4))
    assert target[2, row, col] == pytest.approx(1.0)  # direction (dx, dy) = (0, 1)
    assert (tensor_mask == torch.from_numpy(mask).long()).all()


def test_a_label_without_a_scale_takes_the_recipe_option_then_ps2s_ten_metres(tmp_path: Path) -> None:
    mark = (300.0, 300.0)

    def fitted(label_mpp: float | None) -> float:
        dataset = _dataset(tmp_path, "b", size=600, mark=mark, label=_dmpr(mark, 600), label_mpp=label_mpp)
        mask = dataset.canvas(0)[1]
        return float((mask[INPUT[0] // 2] == IMAGE).sum())  # the image's width in the canvas

    assert fitted(None) == pytest.approx(600 * (10.0 / 600) / 0.04, abs=1)  # ps2.0: 10 m across
    assert fitted(0.02) == pytest.approx(600 * 0.02 / 0.04, abs=1)


def test_a_scale_range_draws_one_scale_per_sample(tmp_path: Path) -> None:
    mark = (200.0, 200.0)
    label = _dmpr(mark, 400, metres_per_pixel=0.025)
    dataset = _dataset(tmp_path, "c", size=400, mark=mark, label=label, model_mpp=(0.03, 0.053))

    def widths(count: int) -> list[int]:
        return [int((dataset.canvas(0)[1][INPUT[0] // 2] == IMAGE).sum()) for _ in range(count)]

    drawn = widths(12)
    assert len(set(drawn)) > 3 and min(drawn) >= 400 * 0.025 / 0.053 - 1 and max(drawn) <= 320
    dataset.reseed(7)  # a loader worker's own stream: repeatable, and not another worker's
    first = widths(6)
    dataset.reseed(7)
    assert widths(6) == first
    dataset.reseed(8)
    assert widths(6) != first


def test_marks_without_directions_cannot_train_the_head(tmp_path: Path) -> None:
    labelme = {"shapes": [{"label": "1", "points": [[10, 10]], "shape_type": "point"}], "imageHeight": 400,
               "imageWidth": 400}  # fmt: skip
    dataset = _dataset(tmp_path, "d", size=400, mark=(10.0, 10.0), label=labelme)
    with pytest.raises(DatasetError, match="direction for every mark"):
        dataset[0]


def _recipe(folder: Path, **data: object) -> dict:
    return {
        "name": "avm_points",
        "scenario": "parking",
        "input_size": [96, 96],
        "model": {"name": "icnet_lite", "options": {"marking_points": True}},
        "data": {"source": "avm", "path": str(folder), "val_seeds": [100000, 100002], **data},
        "marking_points": {"sigma_px": 4.0},
        "optimizer": {"lr": 0.004},
        "train": {"batch_size": 2, "steps": 2, "val_every": 2, "checkpoint_every": 2, "threads": 1},
    }


def test_an_avm_recipe_needs_the_marking_point_head_and_known_options(tmp_path: Path) -> None:
    from seg_perception.training.datasets import build_datasets

    document = _recipe(tmp_path)
    document.pop("marking_points")
    with pytest.raises(RecipeError, match="marking_points"):
        parse_recipe(document)
    with pytest.raises(RecipeError, match="not options of the avm source"):
        build_datasets(parse_recipe(_recipe(tmp_path, options={"scale": 0.02})))
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "unlabelled.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(RecipeError, match=r"holds no labelled AVM images \(1 without a label\)"):
        build_datasets(parse_recipe(_recipe(tmp_path)))


def test_training_on_avm_labels_moves_the_point_head_and_leaves_the_class_head_alone(tmp_path: Path) -> None:
    from seg_perception.training.datasets import ScenePool
    from seg_perception.training.trainer import Trainer

    for number in range(4):
        mark = (120.0 + 30 * number, 160.0)
        _t_junction(tmp_path / "data", f"s{number}", size=400, mark=mark, label=_dmpr(mark, 400))
    recipe = parse_recipe(_recipe(tmp_path / "data"))
    trainer = Trainer(recipe, out_dir=tmp_path / "run", progress=False)
    assert isinstance(trainer.train_set, AvmPointDataset) and len(trainer.train_set) == 4
    assert isinstance(trainer.val_set, ScenePool)  # validation: synthetic scenes of val_seeds
    before = {name: value.clone() for name, value in trainer.model.state_dict().items()}
    images, masks, target = next(trainer._batches())
    assert float(target[:, 0].max()) > 0.5
    loss = trainer._train_step(images, masks, target)
    assert np.isfinite(loss)
    after = trainer.model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    point_head = {name for name in changed if name.startswith("point_head.")}
    classifier = {name for name in before if name.startswith("classifier.")}
    assert point_head and classifier and not (changed & classifier)
    # the run's checkpoint is scored on labelled AVM images as it is (the torch engine), as its recipe says
    from seg_perception.training.avm_eval import evaluate_avm

    report = evaluate_avm(trainer.save(tmp_path / "run" / "last.pt"), tmp_path / "data", count=2, threads=1)
    assert report["images"] == 2 and report["groups"]["all"]["points"]["true"] == 2


def test_train_names_the_last_checkpoint_to_export_for_a_points_only_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """best.pt is chosen by the synthetic validation's mIoU, which a points-only run does not train."""
    import yaml

    from seg_perception.cli import main

    mark = (160.0, 160.0)
    _t_junction(tmp_path / "data", "s", size=400, mark=mark, label=_dmpr(mark, 400))
    recipe = _recipe(tmp_path / "data")
    recipe["train"] = {**recipe["train"], "steps": 1, "val_every": 1, "checkpoint_every": 1, "batch_size": 1}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", "--config", str(tmp_path / "recipe.yaml"), "--out", str(tmp_path / "run"),
                 "--no-progress"]) == 0  # fmt: skip
    export = next(line for line in capsys.readouterr().out.splitlines() if "export:" in line)
    assert f"export {tmp_path / 'run' / 'last.pt'} " in export


def test_each_loader_worker_draws_its_own_scales(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    from seg_perception.training.trainer import _seed_worker

    mark = (200.0, 200.0)
    label = _dmpr(mark, 400, metres_per_pixel=0.025)
    one = _dataset(tmp_path, "w", size=400, mark=mark, label=label, model_mpp=(0.04, 0.053))
    dataset = AvmPointDataset(
        one.samples * 2,
        input_size=INPUT,
        model_metres_per_pixel=(0.04, 0.053),
        transform=_transform(),
        point_target=POINT_TARGET,
    )
    loader = DataLoader(
        dataset,
        batch_size=1,
        num_workers=2,
        worker_init_fn=_seed_worker,
        generator=torch.Generator().manual_seed(0),
    )
    # sample 0 is worker 0's first draw, sample 1 worker 1's: copies of one stream would give the same scale
    widths = [int((mask[0, INPUT[0] // 2] == IMAGE).sum()) for _, mask, _ in loader]
    assert widths[0] != widths[1]
