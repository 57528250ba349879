"""Every training recipe the package ships (config/training/*.yaml) loads, names itself and builds.

The recipes are the record of how each shipped file was made (weights/README.md quotes them), and
most are only run for an hour on a free CPU: a recipe that no longer parses, names a model that was
renamed, or draws its pool from the validation or evaluation seeds would only show up then.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seg_perception.config import load_scenario
from seg_perception.data.augment import build_transforms
from seg_perception.models.registry import build_model, list_models
from seg_perception.training.recipe import EVAL_SEED_START, VAL_SEEDS, Recipe, load_recipe

RECIPE_DIR = Path(__file__).resolve().parents[1] / "config" / "training"
RECIPES = sorted(RECIPE_DIR.glob("*.yaml"))


def test_the_package_ships_recipes() -> None:
    assert {"highway", "road", "parking"} <= {path.stem for path in RECIPES}


@pytest.fixture(params=RECIPES, ids=[path.stem for path in RECIPES])
def recipe(request: pytest.FixtureRequest) -> Recipe:
    path: Path = request.param
    loaded = load_recipe(path)
    assert loaded.name == path.stem, "a recipe's name is its file's (runs/<name>, the docs' commands)"
    return loaded


def test_recipe_names_a_registered_model_for_a_shipped_scenario(recipe: Recipe) -> None:
    assert recipe.model in list_models()
    scenario = load_scenario(recipe.scenario)
    model = build_model(recipe.model, scenario.classes.num_classes, **recipe.model_options)
    assert model.num_classes == scenario.classes.num_classes


def test_recipe_augmentations_build(recipe: Recipe) -> None:
    transform = build_transforms(
        recipe.augment,
        train=True,
        size=recipe.input_size,
        mean=recipe.mean,
        std=recipe.std,
        seed=recipe.seed,
    )
    height, width = recipe.input_size
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = rng.integers(0, 2, (height, width), dtype=np.uint8)
    tensor, target = transform(image, mask)
    crop = recipe.augment.get("crop", recipe.input_size)
    if isinstance(crop, dict):  # {size: [h, w], focus: ..., focus_p: ...}
        crop = crop["size"]
    assert tuple(tensor.shape) == (3, *crop)
    assert tuple(target.shape) == tuple(crop)


SYNTHETIC = [path for path in RECIPES if load_recipe(path).data.source == "synthetic"]


@pytest.mark.parametrize("path", SYNTHETIC, ids=[path.stem for path in SYNTHETIC])
def test_synthetic_pool_stays_in_the_training_seeds(path: Path) -> None:
    data = load_recipe(path).data
    first, end = data.train_seeds
    assert 0 <= first < end <= EVAL_SEED_START
    pool_end = first + data.pool_size if data.pool_size else end
    assert pool_end <= end
    assert pool_end <= VAL_SEEDS[0] or first >= VAL_SEEDS[1], "the pool would reach the validation seeds"


def test_schedule_fits_the_run(recipe: Recipe) -> None:
    assert recipe.steps > 0 and recipe.lr > 0 and recipe.batch_size > 0
    assert 0 < recipe.val_every <= recipe.steps
    assert recipe.eta_min < recipe.lr


def test_the_real_avm_recipe_trains_on_a_labelled_folder(tmp_path: Path) -> None:
    """``parking_avm_finetune`` (the user's own labelled AVM images) builds on such a folder."""
    import dataclasses
    import json

    import cv2

    from seg_perception.data.parking_labels import to_dmpr_json
    from seg_perception.data.synthetic import generate_scene
    from seg_perception.training.avm_dataset import AvmPointDataset
    from seg_perception.training.datasets import build_datasets

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for seed in (0, 1):  # two generated scenes written as ps2.0 would hold them: image + DMPR-PS JSON
        scene = generate_scene("parking", seed, size=(400, 400), metres_per_pixel=0.025)
        cv2.imwrite(str(tmp_path / "images" / f"{seed}.png"), scene.image)
        label = to_dmpr_json(scene.marking_points, scene.slots)
        (tmp_path / "labels" / f"{seed}.json").write_text(json.dumps(label))
    shipped = load_recipe(RECIPE_DIR / "parking_avm_finetune.yaml")
    assert shipped.data.source == "avm" and shipped.distill is not None and not shipped.trains_segmentation
    recipe = dataclasses.replace(
        shipped, data=dataclasses.replace(shipped.data, path=str(tmp_path), val_seeds=(100000, 100001))
    )
    train, val = build_datasets(recipe)[:2]
    assert isinstance(train, AvmPointDataset) and len(train) == 2 and len(val) == 1
    image, _mask, target = train[0]
    assert tuple(image.shape) == (3, *recipe.input_size) and float(target[0].max()) > 0.5
