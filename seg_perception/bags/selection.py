"""Choosing the image topics of a bag and the scenario camera each one feeds."""

from __future__ import annotations

from collections.abc import Sequence

from seg_perception.bags.errors import BagError
from seg_perception.bags.storage import BagReader
from seg_perception.bags.topics import IMAGE_MSGTYPES, camera_of_topic
from seg_perception.config import ScenarioConfig


def select_image_topics(
    reader: BagReader, scenario: ScenarioConfig, requested: Sequence[str] | None = None
) -> dict[str, str]:
    """Image topic → scenario camera.

    Without ``requested``: every ``Image``/``CompressedImage`` topic under ``/camera/<cam>/``
    whose ``<cam>`` is one of the scenario's cameras (ground-truth masks excluded). With it:
    exactly those topics; a topic whose camera is not the scenario's feeds the scenario's
    only camera (several cameras: an error naming them).

    Raises:
        BagError: a requested topic is missing (the message lists the bag's topics) or is not
            an image, or the selection is empty.
    """
    if requested:
        topics = reader.require_topics(requested, msgtypes=IMAGE_MSGTYPES)
    else:
        topics = [
            topic
            for topic in reader.topics_of_type(IMAGE_MSGTYPES)
            if camera_of_topic(topic) in scenario.cameras and "/ground_truth/" not in topic
        ]
        if not topics:
            raise BagError(
                f"no image topic of camera(s) {', '.join(scenario.cameras)} (scenario {scenario.name}) in "
                f"{reader.path}; pass --topics; the bag has: {reader.topic_listing()}"
            )
    selection: dict[str, str] = {}
    for topic in topics:
        camera = camera_of_topic(topic)
        if camera not in scenario.cameras:
            if len(scenario.cameras) != 1:
                raise BagError(
                    f"topic {topic}: cannot tell which of the cameras {list(scenario.cameras)} it is; "
                    "name it /camera/<camera>/..."
                )
            camera = scenario.primary_camera
        selection[topic] = camera
    if len(set(selection.values())) != len(selection):
        raise BagError(f"several topics feed the same camera: {selection}; pick one per camera with --topics")
    if reader.message_counts and not any(reader.message_counts.get(topic, 0) for topic in selection):
        raise BagError(f"the selected topics {', '.join(selection)} hold no messages in {reader.path}")
    return selection
