"""The node's outputs table (seg_perception.ros.outputs) is what the node publishes, what offline
``process`` writes, what the recorder hears and what README.md lists; node and process put the
outputs in the same frame with the same projection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy  # noqa: E402
from test_reliability_helpers import FakeEngine, scenario_of_model  # noqa: E402

from seg_perception.config import load_scenario  # noqa: E402
from seg_perception.ros.outputs import CAMERA_OUTPUTS, LATCHED, NODE_OUTPUTS, POLYGONS  # noqa: E402
from seg_perception.ros.projection import scenario_camera_geometry  # noqa: E402
from seg_perception.tools.recorder import OutputTopics  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 131
ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# config/drive.yaml: front (lanes) + AVM (parking, its geometry from parking.yaml) in one node
DRIVE = [
    Parameter("scenario", value="highway"),
    Parameter("cameras", value=["front", "avm"]),
    Parameter("avm.scenario", value="parking"),
]


def readme_topic_rows() -> dict[str, str]:
    """README's topic table: topic name (``<cam>/`` dropped) -> the whole row."""
    lines = README.read_text().splitlines()
    start = lines.index("| topic | type | content |")
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        topic = line.split("|")[1].strip()
        match = re.fullmatch(r"`(<cam>/)?([^`]+)`", topic)
        if match and (match.group(1) or match.group(2).startswith("/diagnostics")):
            rows[match.group(2)] = line
    return rows


def test_readme_topic_table_follows_the_outputs_table() -> None:
    rows = readme_topic_rows()
    outputs = {output.name: output for output in (*CAMERA_OUTPUTS, *NODE_OUTPUTS)}
    assert set(rows) == set(outputs)
    for name, row in rows.items():
        output = outputs[name]
        type_cell = row.split("|")[2]
        assert output.msgtype.split("/")[-1] in type_cell, (name, row)
        assert ("only while subscribed" in row) == output.only_when_subscribed, (name, row)
        assert ("latched" in row) == (output.qos == LATCHED), (name, row)


def test_recorder_topics_are_the_node_outputs() -> None:
    topics = OutputTopics.for_camera("front", input_topic="/camera/front/image_raw", namespace="/car")
    by_name = {output.name: output.topic("front", "/car") for output in (*CAMERA_OUTPUTS, *NODE_OUTPUTS)}
    assert topics.mask == by_name["mask"] == "/car/front/mask"
    assert topics.diagnostics == by_name["/diagnostics"] == "/diagnostics"
    recorded = {topics.mask, topics.overlay, topics.markers, topics.lanes, topics.slots}
    assert recorded | {topics.processing_time, topics.diagnostics} <= set(by_name.values())


@pytest.fixture
def make_node() -> Iterator:
    from seg_perception.ros.node import SegmentationNode

    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    nodes: list[Node] = []

    def make(overrides: list[Parameter]) -> SegmentationNode:
        def factory(settings, logger):
            return FakeEngine(scenario_of_model(settings.model_file))

        node = SegmentationNode(context=context, parameter_overrides=overrides, engine_factory=factory)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.shutdown()
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_the_node_publishes_the_outputs_table(make_node) -> None:
    node = make_node([*DRIVE, Parameter("publish_polygon_cloud", value=True)])
    published = dict(node.get_publisher_names_and_types_by_node(node.get_name(), node.get_namespace()))
    expected = {
        output.topic(camera): output.msgtype for output in CAMERA_OUTPUTS for camera in ("front", "avm")
    }
    expected.update({output.name: output.msgtype for output in NODE_OUTPUTS})
    for topic, msgtype in expected.items():
        assert published.get(topic) == [msgtype], topic
    for output in CAMERA_OUTPUTS:
        (info,) = node.get_publishers_info_by_topic(output.topic("front"))
        assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
        latched = info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
        assert latched == (output.qos == LATCHED), output.name


def test_the_polygon_cloud_is_opt_in(make_node) -> None:
    node = make_node([Parameter("scenario", value="highway")])
    published = dict(node.get_publisher_names_and_types_by_node(node.get_name(), node.get_namespace()))
    assert POLYGONS.topic("front") not in published and "/front/mask" in published


@pytest.mark.parametrize(
    ("overrides", "offline_scenarios"),
    [
        ([Parameter("scenario", value="parking")], {"avm": "parking"}),
        ([Parameter("scenario", value="highway")], {"front": "highway"}),
        (DRIVE, {"front": "highway", "avm": "parking"}),  # process runs one scenario at a time
    ],
)
def test_node_and_process_agree_on_frame_and_projection(make_node, overrides, offline_scenarios) -> None:
    node = make_node(overrides)
    points = np.array([[10.0, 20.0], [320.0, 387.5], [600.0, 100.0]])
    assert [worker.camera.name for worker in node.workers] == list(offline_scenarios)
    for worker in node.workers:
        name = worker.camera.name
        offline = scenario_camera_geometry(load_scenario(offline_scenarios[name]), name)
        assert worker.camera.frame_id == offline.frame_id
        live = worker.camera.projection
        assert (live.metres_per_pixel, live.origin_px) == (
            offline.projection.metres_per_pixel,
            offline.projection.origin_px,
        )
        np.testing.assert_array_equal(
            live.display_points(points, (640, 640)), offline.projection.display_points(points, (640, 640))
        )
        if name == "avm":  # parking.yaml's AVM block: metric, in the vehicle frame
            assert worker.camera.frame_id == "base_link" and live.metres_per_pixel > 0
