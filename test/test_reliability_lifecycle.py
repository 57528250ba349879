"""The managed node driven through its lifecycle services from a client node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from test_reliability_helpers import FakeEngine, Harness, fake_factory, image_msg, scene, wait_for  # noqa: E402

from seg_perception.ros.errors import NodeStartError  # noqa: E402
from seg_perception.ros.lifecycle_node import LifecycleSegmentationNode  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 106
FRONT = "/camera/front/image_raw"


@pytest.fixture(scope="module")
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    yield ctx
    rclpy.try_shutdown(context=ctx)


class Lifecycle:
    """Service clients for ``/<node>/change_state`` and ``/<node>/get_state``."""

    def __init__(self, harness: Harness) -> None:
        name = harness.node.get_fully_qualified_name()
        self.change = harness.client.create_client(ChangeState, f"{name}/change_state")
        self.get = harness.client.create_client(GetState, f"{name}/get_state")
        assert self.change.wait_for_service(timeout_sec=10) and self.get.wait_for_service(timeout_sec=10)

    def state(self) -> int:
        return self._call(self.get, GetState.Request()).current_state.id

    def transition(self, transition_id: int) -> bool:
        before = self.state()
        future = self.change.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        try:
            wait_for(future.done, "the transition's reply")
        except AssertionError:
            # Seen once in CI under load: the node logged the transition within 60 ms but the reply
            # never reached this client (a transport loss, not the node's behaviour). The node's state
            # says whether the transition happened; a refused one leaves it unchanged.
            return self.state() != before
        return bool(future.result().success)

    @staticmethod
    def _call(client, request):
        future = client.call_async(request)
        wait_for(future.done, "the service response")
        return future.result()


def make(context: Context, engine: FakeEngine | None, **params: object) -> Harness:
    overrides = [
        Parameter("scenario", value="highway"),
        Parameter("qos.reliability", value="reliable"),
        *(Parameter(name, value=value) for name, value in params.items()),
    ]
    factory = fake_factory(engine) if engine is not None else None
    return Harness(context, LifecycleSegmentationNode, overrides, engine_factory=factory)


def test_transitions_configure_activate_deactivate_cleanup_shutdown(context: Context) -> None:
    engine = FakeEngine("highway")
    harness = make(context, engine)
    try:
        lifecycle = Lifecycle(harness)
        masks = harness.subscribe(Image, "front/mask")
        camera = harness.client.create_publisher(Image, FRONT, 10)
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert not lifecycle.transition(Transition.TRANSITION_ACTIVATE)  # not allowed from unconfigured

        assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
        assert harness.node.core.configured and camera.get_subscription_count() == 0

        assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
        assert lifecycle.state() == State.PRIMARY_STATE_ACTIVE
        wait_for(lambda: camera.get_subscription_count() == 1, "the camera subscription")
        wait_for(lambda: harness.node.count_subscribers("front/mask") > 0, "mask subscription")
        camera.publish(image_msg(scene()))
        wait_for(lambda: masks, "a mask while active")

        assert lifecycle.transition(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
        assert not any(worker.running for worker in harness.node.workers)
        wait_for(lambda: camera.get_subscription_count() == 0, "the camera subscription to go")

        assert lifecycle.transition(Transition.TRANSITION_CLEANUP)
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert engine.closed and not harness.node.core.configured

        assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)  # configure again works
        assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
        assert lifecycle.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)  # shutdown from active
        assert lifecycle.state() == State.PRIMARY_STATE_FINALIZED
        assert not harness.node.core.configured and not harness.node.workers
    finally:
        harness.close()


def test_configure_failure_returns_failure_with_the_logged_reason(
    context: Context, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.onnx"
    harness = make(context, None, model_file=str(missing))
    try:
        lifecycle = Lifecycle(harness)
        assert not lifecycle.transition(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        err = capfd.readouterr().err
        assert f"configure failed: ONNX model file {missing} does not exist" in err
        assert "Traceback" not in err
        assert lifecycle.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert lifecycle.state() == State.PRIMARY_STATE_FINALIZED
    finally:
        harness.close()


def test_autostart_configures_and_activates(context: Context) -> None:
    harness = make(context, FakeEngine("highway"), autostart=True)
    try:
        harness.node.start()
        lifecycle = Lifecycle(harness)
        assert lifecycle.state() == State.PRIMARY_STATE_ACTIVE
        assert all(worker.running for worker in harness.node.workers)
    finally:
        harness.close()


def test_autostart_failure_raises_a_start_error(context: Context, tmp_path: Path) -> None:
    harness = make(context, None, autostart=True, model_file=str(tmp_path / "absent.onnx"))
    try:
        with pytest.raises(NodeStartError, match="configure"):
            harness.node.start()
    finally:
        harness.close()


def test_bad_topic_name_fails_configure_with_the_reason_in_the_log(
    context: Context, capfd: pytest.CaptureFixture[str]
) -> None:
    harness = make(context, FakeEngine("highway"), **{"front.topic": "bad topic!"})
    try:
        lifecycle = Lifecycle(harness)
        assert not lifecycle.transition(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        err = capfd.readouterr().err
        line = next(line for line in err.splitlines() if "configure failed" in line)
        assert "parameter 'front.topic' = 'bad topic!' is not a valid topic name" in line
        assert "Traceback" not in err
    finally:
        harness.close()


def test_activate_failure_returns_failure_with_the_logged_reason(
    context: Context, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make(context, FakeEngine("highway"))
    try:
        lifecycle = Lifecycle(harness)
        assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)

        def refuse(*args: object, **kwargs: object) -> None:
            raise RuntimeError("subscription refused\nby the middleware")

        monkeypatch.setattr(harness.node, "create_subscription", refuse)
        assert not lifecycle.transition(Transition.TRANSITION_ACTIVATE)
        assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
        err = capfd.readouterr().err
        assert "activate failed: subscription refused by the middleware" in err
        assert "Traceback" not in err
        monkeypatch.undo()
        assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)  # and it can be activated again
        assert all(worker.running for worker in harness.node.workers)
    finally:
        harness.close()
