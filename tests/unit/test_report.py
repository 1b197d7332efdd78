"""The readiness report on a seeded fleet in the fakes: its JSON names the unprotected and
stale resources, and the "if AZ x fails" rows match the fleet."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lifeboat.report import build_report, render_html
from tests.report_fleet import AZ_A, AZ_B, seed_fleet

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return dict(json.loads(build_report(seed_fleet().inputs()).model_dump_json()))


def test_not_protected_names_each_finding(report: dict[str, Any]) -> None:
    ids = seed_fleet().ids
    found = {(f["kind"], f["id"]) for f in report["not_protected"]}
    assert found == {
        ("untagged_instance", ids["bastion"]),
        ("instance_store", ids["app-1"]),
        ("unencrypted_volume", f"vol-{sum(ord(c) for c in 'web-2'):08x}1"),
        ("db_without_backups", "analytics-db"),
        ("stale_rule", "standard/hourly"),
    }
    stale = next(f for f in report["not_protected"] if f["kind"] == "stale_rule")
    assert ids["app-1"] in stale["detail"] and ids["web-1"] not in stale["detail"]


def test_if_an_az_fails_rows_match_the_fleet(report: dict[str, Any]) -> None:
    ids = seed_fleet().ids
    rows = {
        az["availability_zone"]: {r["id"]: r for r in az["servers"] + az["databases"]}
        for az in report["az_failures"]
    }
    assert set(rows) == {AZ_A, AZ_B}
    assert set(rows[AZ_A]) == {ids["web-1"], ids["app-1"], "elearn-db"}
    assert set(rows[AZ_B]) == {ids["web-2"], ids["batch-1"]}  # the bastion is not protected
    web1 = rows[AZ_A][ids["web-1"]]
    assert web1["restorable"] and web1["target_azs"] == [AZ_B] and web1["rto_seconds"] == 312
    assert web1["rpo_seconds"] == 15 * 60  # the hourly set overlays the day's AMI
    assert rows[AZ_A][ids["app-1"]]["rpo_seconds"] == 5 * 3600  # its hourly sets stopped
    db = rows[AZ_A]["elearn-db"]
    assert db["restorable"] and db["target_azs"] == [AZ_B] and db["rpo_seconds"] == 300
    batch = rows[AZ_B][ids["batch-1"]]
    assert not batch["restorable"] and "tier 'batch'" in batch["problems"][0]
    assert [az["status"] for az in report["az_failures"]] == ["amber", "red"]


def test_resources_rules_drills_and_alarms(report: dict[str, Any]) -> None:
    ids = seed_fleet().ids
    by_id = {r["id"]: r for r in report["resources"]}
    assert set(by_id) == {ids["web-1"], ids["web-2"], ids["app-1"], ids["batch-1"], "elearn-db"}
    web1 = by_id[ids["web-1"]]
    rules = {r["rule"]: r for r in web1["rules"]}
    assert rules["hourly"]["rpo_seconds"] == 900 and rules["hourly"]["target_seconds"] == 3600
    assert rules["daily"]["rpo_seconds"] == 7 * 3600 and not rules["daily"]["stale"]
    assert web1["last_drill"]["result"] == "healthy" and web1["last_drill"]["rto_seconds"] == 312
    assert web1["alarms"] and not web1["missing_alarms"] and web1["status"] == "green"
    app1 = by_id[ids["app-1"]]
    assert app1["status"] == "red" and app1["missing_alarms"] and app1["last_drill"] is None
    assert [r["rule"] for r in by_id["elearn-db"]["rules"]] == ["daily"]
    assert report["summary"]["status"] == "red" and report["summary"]["stale_rules"] == 1


def test_the_margin_decides_what_is_stale() -> None:
    inputs = seed_fleet().inputs()
    inputs.margin_seconds = 5 * 3600  # app-1's sets are 5 h old: within 1 h + 5 h
    built = build_report(inputs)
    assert built.summary.stale_rules == 0
    assert all(f.kind != "stale_rule" for f in built.not_protected)


def test_html_is_one_self_contained_page(report: dict[str, Any]) -> None:
    page = render_html(build_report(seed_fleet().inputs()))
    assert page.startswith("<!doctype html>") and 'name="viewport"' in page
    assert "<svg" in page and "<style>" in page
    for external in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert external not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Overall: RED" in page and "If us-east-1b failed" in page and "bastion" in page
