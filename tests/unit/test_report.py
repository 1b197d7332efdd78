"""The readiness report on a seeded fleet in the fakes: its JSON names the unprotected and
stale resources, and the "if AZ x fails" rows match the fleet, Aurora clusters included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.models import PointStatus
from lifeboat.report import build_report, render_html
from tests.report_fleet import AURORA_RUN, AZ_A, AZ_B, seed_fleet

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
    assert set(rows[AZ_A]) == {ids["web-1"], ids["app-1"], "elearn-db", "orders-aurora"}
    # the bastion is not protected
    assert set(rows[AZ_B]) == {ids["web-2"], ids["batch-1"], "orders-aurora", "ledger-aurora"}
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
    assert set(by_id) == {
        *(ids[name] for name in ("web-1", "web-2", "app-1", "batch-1")),
        *("elearn-db", "orders-aurora", "ledger-aurora"),
    }
    web1 = by_id[ids["web-1"]]
    rules = {r["rule"]: r for r in web1["rules"]}
    assert rules["hourly"]["rpo_seconds"] == 900 and rules["hourly"]["target_seconds"] == 3600
    assert rules["daily"]["rpo_seconds"] == 7 * 3600 and not rules["daily"]["stale"]
    assert web1["last_drill"]["result"] == "healthy" and web1["last_drill"]["rto_seconds"] == 312
    assert web1["alarms"] and not web1["missing_alarms"] and web1["status"] == "green"
    app1 = by_id[ids["app-1"]]
    assert app1["status"] == "red" and app1["missing_alarms"] and app1["last_drill"] is None
    # An instance's newest point says how consistent it is (the seeded runs had no scripts).
    assert {r["newest_consistency"] for r in web1["rules"]} == {"crash"}
    assert [r["rule"] for r in by_id["elearn-db"]["rules"]] == ["daily"]
    assert by_id["elearn-db"]["rules"][0]["newest_consistency"] is None
    orders = by_id["orders-aurora"]
    assert orders["type"] == "cluster" and orders["name"] == "orders-aurora"
    assert [(r["rule"], r["rpo_seconds"]) for r in orders["rules"]] == [("daily", 7 * 3600)]
    assert report["summary"]["status"] == "red" and report["summary"]["stale_rules"] == 1
    assert report["summary"]["protected_databases"] == 3


def _az_row(report: dict[str, Any], az: str, resource: str) -> dict[str, Any]:
    failure = next(f for f in report["az_failures"] if f["availability_zone"] == az)
    return dict(next(r for r in failure["databases"] if r["id"] == resource))


def test_an_aurora_writer_in_the_failed_az_fails_over_to_a_reader(
    report: dict[str, Any],
) -> None:
    # Given orders-aurora: its writer in us-east-1a, a reader in us-east-1b
    row = _az_row(report, AZ_A, "orders-aurora")
    # Then losing us-east-1a costs a failover, no data
    assert row["type"] == "cluster" and row["restorable"]
    assert row["how"] == f"Aurora fails over to reader orders-aurora-2 in {AZ_B}"
    assert row["target_azs"] == [AZ_B] and row["rpo_seconds"] == 0 and not row["problems"]
    # and losing us-east-1b costs the reader only: the writer goes on
    row = _az_row(report, AZ_B, "orders-aurora")
    assert row["restorable"] and row["rpo_seconds"] == 0 and row["target_azs"] == [AZ_A]
    assert row["how"].startswith(f"the writer orders-aurora-1 in {AZ_A} is not affected")


def test_aurora_promotes_the_reader_of_the_lowest_promotion_tier() -> None:
    # Given orders-aurora's writer in us-east-1a and two readers in us-east-1b, the second
    # one of promotion tier 0
    fleet = seed_fleet()
    fleet.rds.dbs["orders-aurora-3"] = dict(fleet.rds.dbs["orders-aurora-2"])
    fleet.rds.clusters["orders-aurora"]["DBClusterMembers"].append(
        {"DBInstanceIdentifier": "orders-aurora-3", "IsClusterWriter": False, "PromotionTier": 0}
    )
    report = dict(json.loads(build_report(fleet.inputs()).model_dump_json()))
    # Then Aurora fails over to that one
    assert _az_row(report, AZ_A, "orders-aurora")["how"].endswith("orders-aurora-3 in us-east-1b")


def test_an_aurora_cluster_all_in_the_failed_az_is_restored_from_its_newest_snapshot(
    report: dict[str, Any],
) -> None:
    # Given ledger-aurora, its only instance in us-east-1b, a completed cluster snapshot 7 h
    # old and a failed one an hour old
    row = _az_row(report, AZ_B, "ledger-aurora")
    # Then it is restored from the completed one into the other AZ of its subnet group
    snapshot = T.snapshot_identifier(AURORA_RUN, "ledger-aurora")
    assert row["restorable"] and row["how"] == f"restore {snapshot} into {AZ_A}"
    assert row["target_azs"] == [AZ_A] and row["rpo_seconds"] == 7 * 3600
    assert "by hand" in row["problems"][0]  # lifeboat restore covers DB instances


def test_an_aurora_cluster_without_a_completed_snapshot_is_not_restorable() -> None:
    # Given ledger-aurora with no completed cluster snapshot (only the failed one)
    inputs = seed_fleet().inputs()
    inputs.points = [
        p
        for p in inputs.points
        if p.source_id != "ledger-aurora" or p.status is not PointStatus.COMPLETED
    ]
    report = dict(json.loads(build_report(inputs).model_dump_json()))
    # Then losing us-east-1b loses it: the AZ and the summary are red
    row = _az_row(report, AZ_B, "ledger-aurora")
    assert not row["restorable"] and row["rpo_seconds"] is None and not row["data"]
    assert row["problems"][0].startswith("no completed cluster snapshot (Aurora's own backups")
    failure = next(f for f in report["az_failures"] if f["availability_zone"] == AZ_B)
    assert failure["status"] == "red" and report["summary"]["unrestorable"] == 2


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
    assert "Aurora fails over to reader orders-aurora-2 in us-east-1b" in page
