"""Demo settings: the ROS domain follows --domain-id, then $ROS_DOMAIN_ID, then a private one."""

import pytest

pytest.importorskip("rclpy")

from seg_perception.ros.demo import DemoError, demo_domain_id  # noqa: E402


def test_domain_id_precedence():
    assert demo_domain_id(5, {"ROS_DOMAIN_ID": "9"}) == 5
    assert demo_domain_id(None, {"ROS_DOMAIN_ID": "9"}) == 9
    assert 1 <= demo_domain_id(None, {}) <= 100
    assert 1 <= demo_domain_id(None, {"ROS_DOMAIN_ID": " "}) <= 100


def test_a_malformed_ros_domain_id_is_named():
    with pytest.raises(DemoError, match="ROS_DOMAIN_ID='x'"):
        demo_domain_id(None, {"ROS_DOMAIN_ID": "x"})
