"""``lifeboat report`` against the emulator after a backup of the eLearn stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lifeboat.cli import EXIT_INPUT, EXIT_OK, main

pytestmark = pytest.mark.integration


def test_report_json_and_html_after_a_backup(
    backed_up: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    assert main(["report", "--json", "--html", str(page)]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    protected = backed_up.protected_instances
    by_id = {r["id"]: r for r in report["resources"]}
    assert set(protected.values()) | {"elearn-db"} <= set(by_id)
    web1 = by_id[protected["web-1"]]
    assert {r["rule"] for r in web1["rules"]} == {"hourly", "daily"}
    assert all(not r["stale"] and r["rpo_seconds"] is not None for r in web1["rules"])
    assert web1["alarms"]  # the backup run created its status-check alarms
    # "if AZ x fails": web-1 and app-1 in us-east-1a, web-2 in us-east-1b, each restorable
    # into the other AZ's subnet of its tier
    rows = {
        az["availability_zone"]: {r["id"]: r for r in az["servers"]} for az in report["az_failures"]
    }
    assert set(rows["us-east-1a"]) == {protected["web-1"], protected["app-1"]}
    assert set(rows["us-east-1b"]) == {protected["web-2"]}
    assert all(r["restorable"] for az in rows.values() for r in az.values())
    assert rows["us-east-1a"][protected["web-1"]]["target_azs"] == ["us-east-1b"]
    # the untagged bastion shares the web tier of web-1
    untagged = {f["id"] for f in report["not_protected"] if f["kind"] == "untagged_instance"}
    assert backed_up.other_instances["bastion (untagged)"] in untagged
    assert "Lifeboat readiness report" in page.read_text()


def test_report_refuses_an_unknown_plan(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--plan", "gold"]) == EXIT_INPUT
    assert "unknown plan 'gold'" in capsys.readouterr().err
