"""Child ROS processes of the tools and benchmarks: started with their log in a file, stopped
politely (SIGINT, SIGTERM, SIGKILL), in the environment the node needs (Fast DDS with the shipped
shared-memory profile, a private localhost domain).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from seg_perception.config import share_dir

PROFILE_NAME = "fastdds_shm.xml"
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 8


class ManagedProcess:
    """A child process whose stdout and stderr go to a log file, stopped politely."""

    def __init__(self, name: str, command: list[str], *, log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w")
        self._log.write("$ " + " ".join(command) + "\n")
        self._log.flush()
        # Own session: a Ctrl-C in the terminal reaches the demo, which then stops
        # the children in order instead of all dying at once.
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def exited(self) -> int | None:
        return self.process.poll()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join("    " + line for line in text)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGINT, wait ``timeout_s``; SIGTERM, wait; SIGKILL. Returns the exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout_s if sig != signal.SIGKILL else None)
            except subprocess.TimeoutExpired:
                self._log.write(f"[stop] {self.name} ignored {sig.name} for {timeout_s:.0f} s\n")
        self._log.close()
        return int(self.process.returncode)


def ros_environment(*, profile: Path | None, domain_id: int) -> dict[str, str]:
    """Environment of the demo's ROS processes: Fast DDS, SHM profile, private localhost domain."""
    env = dict(os.environ)
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    if profile is not None:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def temporary_environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (rmw reads them at init)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def shipped_profile() -> Path | None:
    """The Fast DDS profile to use: ``$FASTDDS_DEFAULT_PROFILES_FILE`` if set, else the shipped one."""
    if os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        return Path(os.environ["FASTDDS_DEFAULT_PROFILES_FILE"])
    path = share_dir() / "config" / PROFILE_NAME
    return path if path.is_file() else None
