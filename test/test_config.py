"""Scenario configuration parsing and its error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from seg_perception.config import ClassMap, load_scenario, parse_hex_color
from seg_perception.errors import ConfigError


def test_hex_colours_parse_to_rgb_and_bgr() -> None:
    assert parse_hex_color("#FF8000") == (255, 128, 0)
    classes = ClassMap(("background", "lane"), ("#000000", "#FF8000"))
    assert classes.colors_bgr[1].tolist() == [0, 128, 255]
    assert classes.index("lane") == 1


@pytest.mark.parametrize("bad", ["#12345", "red", "#GG0000"])
def test_bad_colour_is_rejected(bad: str) -> None:
    with pytest.raises(ConfigError, match="#RRGGBB"):
        parse_hex_color(bad)


def test_class_map_checks_lengths_and_uniqueness() -> None:
    with pytest.raises(ConfigError, match="2 class names but 1"):
        ClassMap(("a", "b"), ("#000000",))
    with pytest.raises(ConfigError, match="not unique"):
        ClassMap(("a", "a"), ("#000000", "#000000"))
    with pytest.raises(ConfigError, match="unknown class 'c'"):
        ClassMap(("a", "b"), ("#000000", "#000000")).index("c")


def test_unknown_scenario_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="highway, parking, road"):
        load_scenario("moon")


def test_custom_yaml_path_and_missing_keys(tmp_path: Path) -> None:
    good = tmp_path / "mine.yaml"
    good.write_text(
        "/**:\n  ros__parameters:\n    scenario: mine\n    class_names: [background, x]\n"
        "    class_colors: ['#000000', '#00FF00']\n    cameras: [front]\n"
        "    front: {image_size: [10, 20]}\n"
    )
    config = load_scenario(good)
    assert config.name == "mine" and config.image_size() == (10, 20)
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    scenario: bad\n")
    with pytest.raises(ConfigError, match="lacks the parameter 'class_names'"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenario(tmp_path / "nope.yaml")
