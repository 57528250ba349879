"""Scenarios are discovered from config/*.yaml and say their behaviour (post-processing, class
roles, synthetic scene) in the YAML: adding one is copying a YAML and editing it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_onnx import write_conv_model

from seg_perception.config import config_dir, load_scenario, scenario_model_path, scenario_names, share_dir
from seg_perception.errors import ConfigError
from seg_perception.inference.engine import create_engine
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.onnxruntime_engine import read_onnx_metadata
from seg_perception.inference.pipeline import SegmentationPipeline

SHIPPED = share_dir()


@pytest.fixture
def share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A share folder with the shipped config/ (copied) and weights/ (linked), made the package's."""
    root = tmp_path / "share"
    shutil.copytree(SHIPPED / "config", root / "config")
    (root / "weights").symlink_to(SHIPPED / "weights")
    monkeypatch.setenv("SEG_PERCEPTION_SHARE", str(root))
    return root


def _edit(path: Path, **changes: object) -> None:
    """Set ``ros__parameters`` keys of a parameter file (None removes the key)."""
    document = yaml.safe_load(path.read_text())
    params = document["/**"]["ros__parameters"]
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_shipped_scenarios_are_discovered_with_their_behaviour() -> None:
    assert scenario_names() == ("highway", "parking", "road")  # drive.yaml names no classes
    highway, road, parking = (load_scenario(name) for name in ("highway", "road", "parking"))
    assert (highway.postprocess, road.postprocess, parking.postprocess) == ("lanes", "lanes", "parking_slots")
    assert highway.roles.get("lane_paint") == 1 and highway.roles.get("crosswalk") is None
    assert road.roles.get("crosswalk") == road.classes.index("crosswalk")
    assert parking.roles.get("free_space") == parking.classes.index("free_slot")
    assert [s.synthetic_scene for s in (highway, road, parking)] == ["highway", "urban", "parking"]
    with pytest.raises(ConfigError, match="unknown scenario 'drive'"):
        load_scenario("drive")


def test_adding_a_scenario_is_copying_a_yaml(share: Path) -> None:
    from seg_perception.data.synthetic import generate_scene
    from seg_perception.ros.launch_helper import check_scenario, default_params_file

    new = share / "config" / "motorway.yaml"
    shutil.copy(share / "config" / "highway.yaml", new)
    _edit(new, scenario="motorway", model_file=str(SHIPPED / "weights" / "highway.onnx"))

    assert "motorway" in scenario_names()
    config = load_scenario("motorway")
    assert config.name == "motorway" and config.path == new and config.postprocess == "lanes"
    assert check_scenario("motorway") == "motorway" and default_params_file("motorway") == new
    sample = generate_scene("motorway", 3, size=(135, 240))
    assert sample.meta["scenario"] == "motorway" and set(np.unique(sample.mask)) <= {0, 1}
    with SegmentationPipeline.load("motorway") as pipeline:  # the YAML's model_file
        assert pipeline.scenario.name == "motorway"
        result = pipeline.process(sample.image)
    assert result.mask.shape == (135, 240) and result.lanes is not None


def test_a_scenario_with_its_own_class_names_follows_its_roles(share: Path, tmp_path: Path) -> None:
    from seg_perception.data.synthetic import generate_scene

    new = config_dir() / "zebra.yaml"
    shutil.copy(share / "config" / "road.yaml", new)
    _edit(
        new,
        scenario="zebra",
        class_names=["void", "paint", "stripes"],
        class_colors=["#000000", "#FFFFFF", "#FFFF00"],
        roles={"background": "void", "lane_paint": "paint", "crosswalk": "stripes"},
    )
    config = load_scenario("zebra")
    assert config.synthetic_scene == "urban" and config.roles.get("crosswalk") == 2
    classes_seen: set[int] = set()
    for seed in range(6):
        classes_seen |= set(np.unique(generate_scene(config, seed, size=(135, 240)).mask).tolist())
    assert classes_seen == {0, 1, 2}

    # Red pixels: paint (1); blue: stripes (2); everything else: void (0), which gets no polygon
    # because it is the background role, although no class is called "background".
    metadata = ModelMetadata(
        model="colour",
        scenario="zebra",
        classes=config.classes.names,
        colors=config.classes.colors_hex,
        input_size=(60, 80),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
    )
    weight = np.array([[0, 0, 0], [1, -1, -1], [-1, -1, 1]], np.float32)
    model = write_conv_model(tmp_path / "zebra.onnx", metadata, weight, np.array([0.5, 0, 0], np.float32))
    pipeline = SegmentationPipeline(create_engine(model), config, "front")
    image = np.full((120, 160, 3), 40, np.uint8)
    image[20:110, 30:34] = (0, 0, 255)
    image[90:110, 60:150] = (255, 0, 0)
    result = pipeline.process(image)
    assert {p.class_name for p in result.polygons} == {"paint", "stripes"}
    assert result.lanes is not None


def test_a_stop_line_class_is_painted_by_the_generator_and_joins_the_lane_paint(share: Path) -> None:
    from seg_perception.data.synthetic import generate_scene

    with_stop = config_dir() / "stops.yaml"
    shutil.copy(share / "config" / "road.yaml", with_stop)
    _edit(
        with_stop,
        scenario="stops",
        class_names=["background", "lane_marking", "crosswalk", "stop_line"],
        class_colors=["#000000", "#FF30D0", "#00A0FF", "#FF0000"],
        roles={"lane_paint": "lane_marking", "crosswalk": "crosswalk", "stop_line": "stop_line"},
    )
    stops, road = load_scenario("stops"), load_scenario("road")
    for seed in range(40):
        sample = generate_scene(stops, seed, size=(270, 480))
        if (sample.mask == 3).any():
            break
    else:
        pytest.fail("no synthetic urban scene with a stop line in 40 seeds")
    plain = generate_scene(road, seed, size=(270, 480)).mask
    np.testing.assert_array_equal(np.where(sample.mask == 3, 1, sample.mask), plain)

    class MaskEngine:
        """Returns a fixed mask (the generator's truth)."""

        def __init__(self, classes: tuple[str, ...], mask: np.ndarray) -> None:
            self.metadata = ModelMetadata("fixed", "x", classes, ("#000000",) * len(classes), mask.shape)
            self.model_file, self.mask, self.last_timings_ms = Path("fixed"), mask, {}
            self.last_outputs: dict[str, np.ndarray] = {}

        def predict_masks(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self.mask, self.mask

    own = SegmentationPipeline(MaskEngine(stops.classes.names, sample.mask), stops, "front")  # type: ignore[arg-type]
    shared = SegmentationPipeline(MaskEngine(road.classes.names, plain), road, "front")  # type: ignore[arg-type]
    lanes_own = own.process(sample.image).lanes
    lanes_shared = shared.process(sample.image).lanes
    assert lanes_own is not None and lanes_shared is not None
    assert lanes_own.to_json() == lanes_shared.to_json()


def test_a_yaml_without_behaviour_keys_is_regions_only(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "/**:\n  ros__parameters:\n    scenario: mine\n    class_names: [road, x]\n"
        "    class_colors: ['#000000', '#00FF00']\n    cameras: [front]\n"
    )
    config = load_scenario(path)
    assert config.postprocess == "regions" and config.roles.all("background") == (0,)
    assert config.synthetic_scene == "highway"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"postprocess": "lane_lines"}, "unknown postprocess 'lane_lines'; choose one of regions, lanes"),
        ({"roles": {"lane_pain": "lane_marking"}}, "unknown role 'lane_pain'; roles are background"),
        (
            {"roles": {"lane_paint": "lane"}},
            "roles.lane_paint names class 'lane', which is not in class_names",
        ),
        ({"roles": {"crosswalk": "crosswalk"}}, "postprocess lanes needs the role\\(s\\) lane_paint"),
        (
            {"roles": {"lane_paint": "lane_marking", "crosswalk": "lane_marking"}},
            "class 'lane_marking' has two roles",
        ),
        (
            {"roles": {"lane_paint": ["lane_marking", "crosswalk"]}},
            "roles.lane_paint names one class",
        ),
        ({"roles": ["lane_marking"]}, "roles must be a mapping"),
        ({"synthetic": {"scene": "moon"}}, "unknown synthetic.scene 'moon'; choose one of highway, urban"),
    ],
)
def test_bad_behaviour_keys_are_refused_naming_the_file(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad_road.yaml"
    shutil.copy(SHIPPED / "config" / "road.yaml", path)
    _edit(path, **changes)
    with pytest.raises(ConfigError, match=message) as info:
        load_scenario(path)
    assert str(path) in str(info.value)


def test_marker_slot_colours_come_from_the_slot_roles(share: Path) -> None:
    from seg_perception.ros.markers import MarkerStyle

    path = config_dir() / "lot.yaml"
    shutil.copy(share / "config" / "parking.yaml", path)
    _edit(
        path,
        scenario="lot",
        class_names=["background", "free", "lines"],
        class_colors=["#000000", "#00FF00", "#FFFFFF"],
        roles={"slot_line": "lines", "free_space": "free"},
    )
    style = MarkerStyle.for_scenario("avm", load_scenario("lot"), 0.05)
    assert (style.slot_line_id, style.free_space_id) == (2, 1)
    free, occupied = style.slot_color(True), style.slot_color(False)
    assert (free.r, free.g, free.b) == (0.0, 1.0, 0.0) and (occupied.r, occupied.g, occupied.b) == (
        1.0,
        1.0,
        1.0,
    )


def test_the_model_of_a_scenario_follows_the_device() -> None:
    highway, road = load_scenario("highway"), load_scenario("road")
    weights = SHIPPED / "weights"
    # highway: the mirror-averaged HRNet on CUDA, its int8 copy on every other device (weights/README.md)
    cpu_model = weights / "highway_hrnetv2_w18_small_v1_mirror_int8.onnx"
    assert scenario_model_path(highway) == scenario_model_path(highway, "cpu") == cpu_model
    gpu_model = weights / str(highway.params["cuda_model_file"])
    assert cpu_model.is_file() and gpu_model.is_file()  # the named files are shipped
    # both average each frame with its mirror inside the graph (rule 25), and the CPU's is the GPU's in int8
    assert read_onnx_metadata(cpu_model).mirror_averaged and read_onnx_metadata(gpu_model).mirror_averaged
    assert read_onnx_metadata(cpu_model).quantization["source"] == gpu_model.name
    assert scenario_model_path(highway, "cuda") == scenario_model_path(highway, "cuda:1") == gpu_model
    assert scenario_model_path(road, "cuda") == scenario_model_path(road, "cpu") == weights / "road.onnx"


def test_parking_runs_its_hrnet_model_on_cuda_and_an_int8_hrnet_elsewhere() -> None:
    parking = load_scenario("parking")
    weights = SHIPPED / "weights"
    # the CPU's int8 file is a copy of the CUDA file, judged on its own (weights/README.md)
    cpu_model = weights / "parking_hrnetv2_w18_small_v1_wholeframe_int8.onnx"
    assert parking.params["cpu_model_file"] == cpu_model.name and cpu_model.is_file()
    assert scenario_model_path(parking) == scenario_model_path(parking, "cpu") == cpu_model
    gpu_model = weights / "parking_hrnetv2_w18_small_v1_wholeframe.onnx"
    assert parking.params["cuda_model_file"] == gpu_model.name and gpu_model.is_file()
    assert scenario_model_path(parking, "cuda") == scenario_model_path(parking, "cuda:0") == gpu_model
    # each file runs at the marking-point threshold picked for it (the pipeline's fallback is 0.2)
    for model in (cpu_model, gpu_model):
        assert read_onnx_metadata(model).marking_point_threshold is not None


@pytest.mark.parametrize(
    ("scenario", "source", "threshold"),
    [
        ("highway", "highway_hrnetv2_w18_small_v1_mirror.onnx", None),
        ("parking", "parking_hrnetv2_w18_small_v1_wholeframe.onnx", 0.5),
    ],
)
def test_each_shipped_int8_file_is_its_shipped_source_quantized(
    scenario: str, source: str, threshold: float | None
) -> None:
    """Each scenario's CPU default is an int8 file; the float file it was made from is shipped beside
    it (weights/README.md), so the copy can be checked and made again."""
    weights = SHIPPED / "weights"
    int8_file = weights / str(load_scenario(scenario).params["cpu_model_file"])
    copy = read_onnx_metadata(int8_file)
    assert copy.quantization["source"] == source and (weights / source).is_file()
    # the same classes, ground scale and heads as the file it was made from; the parking copy also
    # names the marking-point threshold it was judged at, which may differ from its source's
    assert copy.marking_point_threshold == threshold
    float_metadata = read_onnx_metadata(weights / source)
    assert dataclasses.replace(copy, quantization={}, marking_point_threshold=None) == dataclasses.replace(
        float_metadata, marking_point_threshold=None
    )
    # every int8 file in weights/ is a copy of a float file shipped beside it: no stray copies
    for path in weights.glob("*_int8.onnx"):
        assert (weights / read_onnx_metadata(path).quantization["source"]).is_file(), path.name


def test_a_model_file_in_the_yaml_wins_on_every_device(share: Path, tmp_path: Path) -> None:
    path = share / "config" / "highway.yaml"
    _edit(path, model_file=str(tmp_path / "mine.onnx"))
    highway = load_scenario("highway")
    assert (
        scenario_model_path(highway, "cpu") == scenario_model_path(highway, "cuda") == tmp_path / "mine.onnx"
    )
    _edit(path, model_file="", cuda_model_file=str(tmp_path / "gpu.onnx"))  # a path is used as it is
    assert scenario_model_path(load_scenario("highway"), "cuda") == tmp_path / "gpu.onnx"


def test_a_cpu_model_file_serves_every_device_but_cuda(share: Path, tmp_path: Path) -> None:
    path = share / "config" / "road.yaml"
    _edit(path, cpu_model_file="road_int8.onnx", cuda_model_file="road_big.onnx")  # bare names: in weights/
    road = load_scenario("road")
    weights = share / "weights"
    assert scenario_model_path(road) == scenario_model_path(road, "cpu") == weights / "road_int8.onnx"
    assert scenario_model_path(road, "cuda:1") == weights / "road_big.onnx"
    _edit(path, cpu_model_file=str(tmp_path / "mine_int8.onnx"))  # a path is used as it is
    assert scenario_model_path(load_scenario("road"), "cpu") == tmp_path / "mine_int8.onnx"
    _edit(path, model_file=str(tmp_path / "mine.onnx"))  # model_file still wins everywhere
    road = load_scenario("road")
    assert scenario_model_path(road, "cpu") == scenario_model_path(road, "cuda") == tmp_path / "mine.onnx"
