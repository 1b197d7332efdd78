"""``lifeboat restore volume`` against the emulator: the plan in words, the result, the exit
codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lifeboat.cli import EXIT_INPUT, EXIT_OK, main

pytestmark = pytest.mark.integration


def test_restore_volume_dry_run_then_for_real(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    base = ["restore", "volume", "--instance", web1, "--device", "/dev/sdf", "--poll", "0.05"]
    assert main([*base, "--dry-run"]) == EXIT_OK
    text = capsys.readouterr().out
    assert f"Restore /dev/sdf of {web1} from recovery point" in text
    assert "attached at /dev/sdg" in text and "nothing was changed" in text
    assert "None" not in text

    assert main([*base, "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "SUCCEEDED" and result["output"]["status"] == "completed"
    assert main([*base[:-2], "--attach-as", "/dev/sdh", "--poll", "0.05"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "RESTORED:" in text and "at /dev/sdh" in text
    assert "Roll back: lifeboat restore rollback arn:" in text


def test_restore_volume_refusals_exit_2(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    bastion = backed_up.other_instances["bastion (untagged)"]
    base = ["restore", "volume", "--device", "/dev/sdf", "--poll", "0.05"]
    assert main([*base, "--instance", bastion]) == EXIT_INPUT
    assert "does not protect" in capsys.readouterr().err
    web1 = backed_up.protected_instances["web-1"]
    assert main([*base, "--instance", web1, "--point", "2020-01-01T00:00:00Z"]) == EXIT_INPUT
    assert "at or before" in capsys.readouterr().err
    assert main(["restore", "volume", "--instance", web1, "--device", "/dev/root"]) == EXIT_INPUT
    assert "device" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: one of --attach-as or --replace
        main([*base, "--instance", web1, "--attach-as", "/dev/sdh", "--replace"])


def test_a_volume_rollback_dry_run_then_done_then_refused(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from lifeboat.cli.restore_volume import cmd_volume_rollback, volume_execution

    web1 = backed_up.protected_instances["web-1"]
    argv = ["restore", "volume", "--instance", web1, "--device", "/dev/sdf", "--json"]
    assert main([*argv, "--poll", "0.05"]) == EXIT_OK
    restored = json.loads(capsys.readouterr().out)["execution_arn"]
    machine = stack.outputs["VolumeRestoreStateMachineArn"]
    # The ARN, or the name the restore printed, names it; anything else is not a volume restore.
    assert volume_execution(restored, machine) == restored
    assert volume_execution(restored.rsplit(":", 1)[-1], machine) == restored
    assert volume_execution("restore-web-1-20261205", machine) is None

    def args(**given: Any) -> argparse.Namespace:
        base = {"json": False, "dry_run": False, "yes": True, "poll": 0.05, "timeout": 120}
        return argparse.Namespace(**{**base, **given})

    assert cmd_volume_rollback(args(dry_run=True), restored, machine) == EXIT_OK
    text = capsys.readouterr().out
    assert "Roll back volume restore" in text and "nothing was changed" in text
    assert cmd_volume_rollback(args(), restored, machine) == EXIT_OK
    assert "ROLLED BACK." in capsys.readouterr().out
    assert cmd_volume_rollback(args(), restored, machine) == EXIT_INPUT  # already rolled back
    assert "not a completed volume restore" in capsys.readouterr().err


def test_restore_volume_by_name_and_rolled_back_with_restore_rollback(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The Name tag names the instance (the shared resolver); an unknown one exits 2.
    base = ["restore", "volume", "--device", "/dev/sdf", "--poll", "0.05"]
    assert main([*base, "--instance", "web-1", "--point", "latest", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["output"]["instance_id"] == backed_up.protected_instances["web-1"]
    assert main([*base, "--instance", "no-such-server"]) == EXIT_INPUT
    assert "no instance is named 'no-such-server'" in capsys.readouterr().err
    # lifeboat restore rollback takes a volume restore by ARN or by name.
    name = result["execution_arn"].rsplit(":", 1)[-1]
    assert main(["restore", "rollback", name, "--dry-run"]) == EXIT_OK
    assert "Roll back volume restore" in capsys.readouterr().out
    assert main(["restore", "rollback", result["execution_arn"], "--yes"]) == EXIT_OK
    assert "ROLLED BACK." in capsys.readouterr().out


def test_restore_list_shows_volume_restores_and_their_rollbacks(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    argv = ["restore", "volume", "--instance", web1, "--device", "/dev/sdf", "--poll", "0.05"]
    assert main([*argv, "--json"]) == EXIT_OK
    restored = json.loads(capsys.readouterr().out)
    assert main(["restore", "rollback", restored["execution_arn"], "--yes"]) == EXIT_OK
    capsys.readouterr()
    assert main(["restore", "list", "--json"]) == EXIT_OK
    rows = {r["execution_arn"]: r for r in json.loads(capsys.readouterr().out)}
    row = rows[restored["execution_arn"]]
    assert (row["kind"], row["resource_id"], row["status"]) == ("volume", web1, "rolled-back")
    assert row["replacement_id"] == restored["output"]["new_volume_id"]
    assert row["trigger"] == "cli"
    (rollback,) = [r for r in rows.values() if r["name"].startswith("rollback-")]
    assert rollback["status"] == "rolled-back" and rollback["resource_id"] == web1
    assert main(["restore", "list"]) == EXIT_OK
    assert f"{web1} (volume)" in capsys.readouterr().out
