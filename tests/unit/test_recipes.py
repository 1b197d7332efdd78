"""The shipped recipes (lifeboat/recipes/*.sh): valid bash, and what they hold is released by
the post script or by their own timer, with the real command replaced by a fake that logs."""

from __future__ import annotations

import os
import subprocess
import time
from importlib import resources
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RECIPES = resources.files("lifeboat").joinpath("recipes")
FSFREEZE = Path(str(RECIPES.joinpath("fsfreeze.sh")))
MYSQL = Path(str(RECIPES.joinpath("mysql-flush-lock.sh")))


def _fake(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(0o755)
    return path


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def _wait_for(path: Path, text: str, seconds: float = 5) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = path.read_text(encoding="utf-8") if path.exists() else ""
        if text in found:
            return found
        time.sleep(0.05)
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.parametrize("script", [FSFREEZE, MYSQL], ids=lambda p: p.name)
def test_recipes_are_valid_bash(script: Path) -> None:
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0


@pytest.fixture
def freeze_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    log = tmp_path / "fsfreeze.log"
    fake = _fake(tmp_path, "fsfreeze", f'echo "$*" >> "{log}"\n')
    return {"LIFEBOAT_FSFREEZE": str(fake), "LIFEBOAT_STATE_DIR": str(tmp_path / "run")}, log


def test_the_freeze_watchdog_thaws_by_itself_when_no_post_script_comes(
    freeze_env: tuple[dict[str, str], Path],
) -> None:
    env, log = freeze_env
    done = _run(FSFREEZE, env, "freeze", "/data", "1")
    assert done.returncode == 0, done.stderr
    assert log.read_text(encoding="utf-8").splitlines() == ["-f /data"]
    # No thaw is ever sent: the watchdog unfreezes after its second.
    assert _wait_for(log, "-u /data").splitlines() == ["-f /data", "-u /data"]
    # A post script arriving after that says so (exit 3: the point is then crash-consistent).
    time.sleep(0.2)
    late = _run(FSFREEZE, env, "thaw", "/data")
    assert late.returncode == 3 and "already thawed" in late.stderr
    assert _run(FSFREEZE, env, "thaw", "/data").returncode == 0  # said once


def test_the_post_script_thaws_at_once_and_stops_the_watchdog(
    freeze_env: tuple[dict[str, str], Path],
) -> None:
    env, log = freeze_env
    assert _run(FSFREEZE, env, "freeze", "/data", "2").returncode == 0
    assert _run(FSFREEZE, env, "thaw", "/data").returncode == 0
    assert log.read_text(encoding="utf-8").splitlines() == ["-f /data", "-u /data"]
    time.sleep(2.5)  # past the watchdog's time: it was stopped, no second thaw
    assert log.read_text(encoding="utf-8").splitlines() == ["-f /data", "-u /data"]


def test_a_pre_script_delivered_twice_keeps_the_first_watchdog(
    freeze_env: tuple[dict[str, str], Path],
) -> None:
    env, log = freeze_env
    assert _run(FSFREEZE, env, "freeze", "/data", "1").returncode == 0
    again = _run(FSFREEZE, env, "freeze", "/data", "1")
    assert again.returncode == 0 and "already frozen" in again.stdout
    # Frozen once, and still thawed by the first watchdog.
    assert _wait_for(log, "-u /data").splitlines() == ["-f /data", "-u /data"]


def test_freeze_refuses_the_root_filesystem_and_thaw_is_safe_when_nothing_is_frozen(
    freeze_env: tuple[dict[str, str], Path],
) -> None:
    env, log = freeze_env
    refused = _run(FSFREEZE, env, "freeze", "/", "5")
    assert refused.returncode == 2 and "refusing" in refused.stderr
    assert not log.exists()
    assert _run(FSFREEZE, env, "thaw", "/data").returncode == 0


def test_a_failed_freeze_stops_its_watchdog_and_fails_the_pre_script(tmp_path: Path) -> None:
    log = tmp_path / "fsfreeze.log"
    fake = _fake(tmp_path, "fsfreeze", f'echo "$*" >> "{log}"\n[ "$1" != -f ]\n')
    env = {"LIFEBOAT_FSFREEZE": str(fake), "LIFEBOAT_STATE_DIR": str(tmp_path / "run")}
    assert _run(FSFREEZE, env, "freeze", "/data", "1").returncode == 1
    time.sleep(1.5)
    assert log.read_text(encoding="utf-8").splitlines() == ["-f /data"]


# A fake client: runs the session's statements in order, logging each; SLEEP(n) sleeps.
FAKE_MYSQL = r"""
log="$(dirname "$0")/mysql.log"
if [ "${1:-}" = -e ]; then echo "other: $2" >> "$log"; exit 0; fi
while IFS= read -r line; do
  echo "$line" >> "$log"
  case "$line" in
    "SELECT CONNECTION_ID();") echo 42 ;;
    "SELECT 'lifeboat-locked';") echo lifeboat-locked ;;
    "SELECT 'lifeboat-timer-released';") echo lifeboat-timer-released ;;
    "SELECT SLEEP("*) n="${line#SELECT SLEEP(}"; sleep "${n%);}" ;;
  esac
done
"""


@pytest.fixture
def mysql_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    fake = _fake(tmp_path, "mysql", FAKE_MYSQL)
    env = {"LIFEBOAT_MYSQL": str(fake), "LIFEBOAT_STATE_DIR": str(tmp_path / "run")}
    return env, tmp_path / "mysql.log"


def test_the_read_lock_is_released_by_its_own_timer(
    mysql_env: tuple[dict[str, str], Path],
) -> None:
    env, log = mysql_env
    done = _run(MYSQL, env, "freeze", "1")
    assert done.returncode == 0, done.stderr
    held = log.read_text(encoding="utf-8")
    assert "FLUSH TABLES WITH READ LOCK;" in held and "UNLOCK TABLES;" not in held
    assert "UNLOCK TABLES;" in _wait_for(log, "UNLOCK TABLES;")
    out = Path(env["LIFEBOAT_STATE_DIR"]) / "mysql-lock.out"
    assert "lifeboat-timer-released" in _wait_for(out, "lifeboat-timer-released")
    late = _run(MYSQL, env, "thaw")
    assert late.returncode == 3 and "already released" in late.stderr


def test_the_post_script_ends_the_locking_session(
    mysql_env: tuple[dict[str, str], Path],
) -> None:
    env, log = mysql_env
    assert _run(MYSQL, env, "freeze", "5").returncode == 0
    thawed = _run(MYSQL, env, "thaw")
    assert thawed.returncode == 0, thawed.stderr
    assert "other: KILL 42" in log.read_text(encoding="utf-8")
    assert not (Path(env["LIFEBOAT_STATE_DIR"]) / "mysql-lock.pid").exists()
    assert _run(MYSQL, env, "thaw").returncode == 0  # nothing held: still fine
