"""Training and validation datasets built from a recipe's ``data`` block.

Synthetic scenes are slow to draw on a few CPU cores, so by default a pool of
``pool_size`` training scenes is generated once into memory and the augmentations
(random per step) provide the variety; ``pool_size: 0`` draws every sample fresh.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from seg_perception.training.errors import RecipeError
from seg_perception.training.recipe import Recipe

Transform = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]


class ScenePool(Dataset[Any]):
    """Pre-generated synthetic scenes held in memory, transformed on access.

    Args:
        images: ``(N, H, W, 3)`` uint8 BGR images.
        masks: ``(N, H, W)`` uint8 class-id masks.
        transform: ``(image_bgr, mask) -> (float CHW RGB tensor, int64 HW tensor)``.
        points: Per scene, the ``(K, 4)`` marking points of its slots
            (:func:`~seg_perception.data.marking_points.slot_marking_points`); with
            ``point_target`` a sample is ``(image, mask, marking-point target)``.
        point_target: ``(stride, sigma_px, offsets)`` of
            :func:`~seg_perception.data.marking_points.marking_point_target`.
    """

    def __init__(
        self,
        images: np.ndarray,
        masks: np.ndarray,
        transform: Transform,
        *,
        points: Sequence[np.ndarray] | None = None,
        point_target: tuple[int, float, bool] | None = None,
    ) -> None:
        self.images = images
        self.masks = masks
        self.transform = transform
        self.points = points
        self.point_target = point_target
        if point_target is not None and points is None:
            raise RecipeError("marking-point targets need the scenes' marking points")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        if self.point_target is None or self.points is None:
            return self.transform(self.images[index], self.masks[index])
        from seg_perception.data.marking_points import marking_point_target

        image, mask, moved = self.transform.with_points(  # type: ignore[attr-defined]
            self.images[index], self.masks[index], self.points[index]
        )
        stride, sigma, offsets = self.point_target
        target = marking_point_target(
            moved, tuple(mask.shape), stride=stride, sigma_px=sigma, offsets=offsets
        )
        return image, mask, torch.from_numpy(target)

    @classmethod
    def generate(
        cls,
        scenario: str,
        seeds: Sequence[int],
        *,
        size: tuple[int, int],
        transform: Transform,
        progress: bool = False,
        point_target: tuple[int, float, bool] | None = None,
        metres_per_pixel: float | tuple[float, float] | None = None,
        botts_dots_p: float | None = None,
        barrier_p: float | None = None,
        dark_p: float | None = None,
        highway_p: float | None = None,
        workers: int = 0,
    ) -> ScenePool:
        """Draw ``generate_scene(scenario, seed, size=size)`` for every seed.

        ``metres_per_pixel`` (AVM scenes: a value, or a ``(low, high)`` range drawn per seed)
        is passed on when set; default: the scenario camera's, scaled to ``size``.
        ``botts_dots_p`` (highway scenes: share of roads with Botts' dots), ``barrier_p`` (highway
        scenes: probability of a barrier on each side), ``dark_p`` (front scenes: probability of dusk
        or night) and ``highway_p`` (urban scenes: probability of a highway scene instead) likewise;
        default: the generator's.
        ``workers`` > 1 draws the scenes in that many processes (each scene depends on its seed
        alone, so the pool is the same); 0 or 1 draws them in this process.
        """
        scene_options: dict[str, Any] = (
            {} if metres_per_pixel is None else {"metres_per_pixel": metres_per_pixel}
        )
        if botts_dots_p is not None:
            scene_options["botts_dots_p"] = botts_dots_p
        if barrier_p is not None:
            scene_options["barrier_p"] = barrier_p
        if dark_p is not None:
            scene_options["dark_p"] = dark_p
        if highway_p is not None:
            scene_options["highway_p"] = highway_p
        seeds = list(seeds)
        height, width = size
        images = np.empty((len(seeds), height, width, 3), dtype=np.uint8)
        masks = np.empty((len(seeds), height, width), dtype=np.uint8)
        points: list[np.ndarray] = []
        chunks = [seeds[start : start + _POOL_CHUNK] for start in range(0, len(seeds), _POOL_CHUNK)]
        bar: Any = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(seeds), desc=f"generating {scenario} scenes", unit="scene", leave=False)
        drawn: Iterator[_DrawnScenes]
        executor: ProcessPoolExecutor | None = None
        if workers > 1 and len(chunks) > 1:
            # spawn, not fork: the parent may already hold torch / OpenMP threads
            executor = ProcessPoolExecutor(
                max_workers=min(workers, len(chunks)), mp_context=multiprocessing.get_context("spawn")
            )
            drawn = executor.map(_draw_scenes, [(scenario, chunk, size, scene_options) for chunk in chunks])
        else:
            drawn = (_draw_scenes((scenario, chunk, size, scene_options)) for chunk in chunks)
        try:
            index = 0
            for chunk_images, chunk_masks, chunk_points in drawn:
                count = len(chunk_images)
                images[index : index + count] = chunk_images
                masks[index : index + count] = chunk_masks
                points.extend(chunk_points)
                index += count
                if bar is not None:
                    bar.update(count)
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
            if bar is not None:
                bar.close()
        return cls(images, masks, transform, points=points, point_target=point_target)


_POOL_CHUNK = 32  # scenes per task: large enough to amortise the transfer, small enough to balance
_DrawnScenes = tuple[np.ndarray, np.ndarray, list[np.ndarray]]


def _draw_scenes(task: tuple[str, Sequence[int], tuple[int, int], dict[str, Any]]) -> _DrawnScenes:
    """Images, masks and marking points of ``generate_scene`` for each seed of one chunk."""
    from seg_perception.data.marking_points import scene_marking_points
    from seg_perception.data.synthetic import generate_scene

    scenario, seeds, size, scene_options = task
    samples = [generate_scene(scenario, seed, size=size, **scene_options) for seed in seeds]
    return (
        np.stack([sample.image for sample in samples]),
        np.stack([sample.mask for sample in samples]),
        [scene_marking_points(sample) for sample in samples],
    )


def _int_keys(mapping: dict[Any, Any]) -> dict[int, int]:
    """YAML mappings of ids may arrive with string keys; the readers want ints."""
    return {int(key): int(value) for key, value in mapping.items()}


DEFAULT_VAL_FRACTION = 0.1


def _held_out_split(dataset: Any, split: str, val_fraction: float) -> Dataset[Any]:
    """Every ``round(1 / val_fraction)``-th pair of a flat folder for ``val``, the others for ``train``."""
    from torch.utils.data import Subset

    if not 0.0 < val_fraction < 1.0:
        raise RecipeError(f"data.options.val_fraction must be within (0, 1), got {val_fraction}")
    count = len(dataset)
    if count < 2:
        raise RecipeError(f"dataset folder {dataset.root} has {count} pair: need at least 2 to hold one out")
    stride = max(2, round(1.0 / val_fraction))
    val_indices = list(range(stride - 1, count, stride)) or [count - 1]
    if split == "val":
        print(
            f"dataset {dataset.root}: no train/ and val/ subfolders; validating on {len(val_indices)} "
            f"of {count} pairs held out of training (every {stride}th; data.options.val_fraction)",
            file=sys.stderr,
        )
        return Subset(dataset, val_indices)
    held_out = set(val_indices)
    return Subset(dataset, [index for index in range(count) if index not in held_out])


def _dataset_reader(recipe: Recipe, split: str, transform: Transform) -> Dataset[Any]:
    """A reader of the user's dataset for one split (``train`` or ``val``).

    - ``folder``: ``path/<split>/{images,masks}``; a flat ``path/{images,masks}`` holds out every
      ``1/options.val_fraction``-th pair (default 10 %) for validation, never the training pairs;
    - ``cityscapes``: ``path/leftImg8bit/<split>`` + ``gtFine``; ``options.remap`` maps label ids;
    - ``coco``: ``path/annotations/<split>.json`` with images in ``path/images/<split>``
      (override with ``options.<split>_annotations`` / ``<split>_images``); ``options.category_map``.
    - ``tusimple``: label files ``options.<split>_labels`` (default ``label_data_0313/0601.json``
      for training, ``label_data_0531.json`` for validation) under ``path``;
    - ``culane``: list files ``options.<split>_list`` (default ``list/train_gt.txt`` and
      ``list/val_gt.txt``); both also take ``class_id``, ``line_width_px`` and ``taper``.
    """
    from seg_perception.data.datasets import CityscapesDataset, CocoPolygonDataset, ImageMaskFolderDataset
    from seg_perception.data.lanes import (
        CULANE_LISTS,
        TUSIMPLE_TRAIN_LABELS,
        TUSIMPLE_VAL_LABELS,
        CULaneDataset,
        TuSimpleDataset,
    )

    root = Path(str(recipe.data.path))
    if not root.exists():
        raise RecipeError(f"dataset path {root} does not exist")
    options = dict(recipe.data.options)
    if recipe.data.source == "folder":
        val_fraction = float(options.pop("val_fraction", DEFAULT_VAL_FRACTION))
        has_splits = [(root / name).is_dir() for name in ("train", "val")]
        if all(has_splits):
            return ImageMaskFolderDataset(root / split, transform=transform, **options)
        if any(has_splits):
            raise RecipeError(
                f"dataset folder {root} has {'train/' if has_splits[0] else 'val/'} but not "
                f"{'val/' if has_splits[0] else 'train/'}: give both, or neither (a flat images/ + masks/ "
                "folder, from which validation pairs are held out)"
            )
        return _held_out_split(
            ImageMaskFolderDataset(root, transform=transform, **options), split, val_fraction
        )
    if recipe.data.source in ("tusimple", "culane"):
        other = "val" if split == "train" else "train"
        options = {k: v for k, v in options.items() if not k.startswith(f"{other}_")}
        if recipe.data.source == "tusimple":
            default = TUSIMPLE_TRAIN_LABELS if split == "train" else TUSIMPLE_VAL_LABELS
            labels = options.pop(f"{split}_labels", default)
            labels = [labels] if isinstance(labels, str) else list(labels)
            return TuSimpleDataset(root, label_files=labels, transform=transform, **options)
        list_file = options.pop(f"{split}_list", CULANE_LISTS[split])
        return CULaneDataset(root, list_file=list_file, transform=transform, **options)
    if recipe.data.source == "cityscapes":
        remap = _int_keys(options.pop("remap", {}))
        if not remap:
            raise RecipeError("cityscapes data needs data.options.remap (Cityscapes label id -> class id)")
        return CityscapesDataset(root, split=split, remap=remap, transform=transform, **options)
    category_map = _int_keys(options.pop("category_map", {}))
    if not category_map:
        raise RecipeError("coco data needs data.options.category_map (COCO category id -> class id)")
    annotations = root / options.pop(f"{split}_annotations", f"annotations/{split}.json")
    images = root / options.pop(f"{split}_images", f"images/{split}")
    for key in [k for k in options if k.endswith(("_annotations", "_images"))]:
        options.pop(key)
    return CocoPolygonDataset(annotations, images, category_map=category_map, transform=transform, **options)


AVM_OPTIONS = ("index", "metres_per_pixel")


def _avm_train_set(
    recipe: Recipe, transform: Transform, point_target: tuple[int, float, bool]
) -> Dataset[Any]:
    """The ``avm`` source's training set: the labelled images under ``data.path`` (or its ``options.index``
    CSV), at the model's ground resolution (``data.metres_per_pixel``, else the scenario camera's)."""
    from seg_perception.config import load_scenario
    from seg_perception.training.avm_dataset import AvmPointDataset
    from seg_perception.training.avm_eval import avm_samples
    from seg_perception.training.recipe import training_metres_per_pixel

    options = dict(recipe.data.options)
    unknown = sorted(set(options) - set(AVM_OPTIONS))
    if unknown:
        raise RecipeError(
            f"data.options {unknown} are not options of the avm source; known: {list(AVM_OPTIONS)}"
        )
    index = options.get("index")
    root = Path(str(recipe.data.path))
    samples, unlabelled = avm_samples(root, index=None if index is None else Path(index))
    if not samples:
        raise RecipeError(
            f"{root} holds no labelled AVM images ({unlabelled} without a label): each image needs a .json "
            "label of the same stem beside it or in a sibling folder, or a row in data.options.index"
        )
    model_mpp = recipe.data.metres_per_pixel or training_metres_per_pixel(
        load_scenario(recipe.scenario), recipe.input_size
    )
    if model_mpp is None:
        raise RecipeError(f"scenario {recipe.scenario!r} has no ground resolution; set data.metres_per_pixel")
    return AvmPointDataset(
        [(sample.image_path, sample.label_path) for sample in samples],
        input_size=recipe.input_size,
        model_metres_per_pixel=model_mpp,
        transform=transform,
        point_target=point_target,
        label_metres_per_pixel=options.get("metres_per_pixel"),
        seed=recipe.seed,
    )


def build_datasets(
    recipe: Recipe, *, progress: bool = False, pool_workers: int = 0
) -> tuple[Dataset[Any], Dataset[Any], dict[str, float]]:
    """Return ``(train_dataset, val_dataset, timings)`` for a recipe.

    ``pool_workers`` > 1 draws the synthetic pools in that many processes (same scenes).

    ``timings`` holds the seconds spent generating the synthetic pools (empty otherwise).
    Samples go through :func:`seg_perception.data.augment.build_transforms` with the recipe's
    ``augment`` block (augmentations and crop in training; resize + normalise in validation).

    Raises:
        AugmentationError: the ``augment`` block names an unknown augmentation or option.
    """
    from seg_perception.data.augment import build_transforms

    size = recipe.input_size
    point_target = recipe.point_target()
    common: dict[str, Any] = {
        "size": size,
        "mean": recipe.mean,
        "std": recipe.std,
        "keypoints": point_target is not None,
    }
    train_transform = build_transforms(recipe.augment, train=True, seed=recipe.seed, **common)
    val_transform = build_transforms(recipe.augment, train=False, seed=recipe.seed, **common)
    timings: dict[str, float] = {}
    if recipe.trains_segmentation and recipe.data.source != "synthetic":
        if point_target is not None:
            raise RecipeError(
                "marking_points training needs marking-point labels: the synthetic or the avm source"
            )
        return (
            _dataset_reader(recipe, "train", train_transform),
            _dataset_reader(recipe, "val", val_transform),
            timings,
        )
    # validation on synthetic scenes, for the avm source too (its labels hold no classes)
    started = time.perf_counter()
    val = ScenePool.generate(
        recipe.scenario,
        range(*recipe.data.val_seeds),
        size=size,
        transform=val_transform,
        progress=progress,
        point_target=point_target,
        metres_per_pixel=recipe.data.metres_per_pixel,
        workers=pool_workers,
    )
    timings["val_pool_s"] = time.perf_counter() - started
    if not recipe.trains_segmentation:
        if point_target is None:  # parse_recipe refuses such a recipe; one built by hand may not be
            raise RecipeError(
                f"data.source {recipe.data.source!r} trains the marking-point head: add marking_points"
            )
        return _avm_train_set(recipe, train_transform, point_target), val, timings
    train_start, train_stop = recipe.data.train_seeds
    if recipe.data.pool_size > 0:
        count = min(recipe.data.pool_size, train_stop - train_start)
        started = time.perf_counter()
        train: Dataset[Any] = ScenePool.generate(
            recipe.scenario,
            range(train_start, train_start + count),
            size=size,
            transform=train_transform,
            progress=progress,
            point_target=point_target,
            metres_per_pixel=recipe.data.metres_per_pixel,
            botts_dots_p=recipe.data.botts_dots_p,  # training scenes only: validation keeps the generator's
            barrier_p=recipe.data.barrier_p,
            dark_p=recipe.data.dark_p,
            highway_p=recipe.data.highway_p,
            workers=pool_workers,
        )
        timings["train_pool_s"] = time.perf_counter() - started
    else:
        if point_target is not None:
            raise RecipeError("marking_points training needs a scene pool (data.pool_size > 0)")
        for name in ("botts_dots_p", "barrier_p", "dark_p", "highway_p"):
            if getattr(recipe.data, name) is not None:
                raise RecipeError(f"data.{name} needs a scene pool (data.pool_size > 0)")
        from seg_perception.data.datasets import SyntheticDataset

        train = SyntheticDataset(
            recipe.scenario, seeds=range(train_start, train_stop), size=size, transform=train_transform
        )
    return train, val, timings
