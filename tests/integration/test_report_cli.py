"""``lifeboat report`` against the emulator: after a backup of the eLearn stack, and with Aurora
clusters (read through the real RDS adapter)."""

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


def test_report_covers_aurora_clusters_in_the_az_rows(
    elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two protected Aurora clusters in the eLearn DB subnets: orders-aurora with its
    # writer in us-east-1a and a reader in us-east-1b, ledger-aurora with its only instance in
    # us-east-1b and no cluster snapshot yet
    from lifeboat.aws.clients import client

    rds = client("rds")
    clusters = {"orders-aurora": ["us-east-1a", "us-east-1b"], "ledger-aurora": ["us-east-1b"]}
    for cluster_id, zones in clusters.items():
        rds.create_db_cluster(
            DBClusterIdentifier=cluster_id,
            Engine="aurora-mysql",
            MasterUsername="admin",
            MasterUserPassword="not-a-real-password-3",
            DBSubnetGroupName="elearn-db",
            Tags=[{"Key": "lifeboat:plan", "Value": "standard"}],
        )
        for number, zone in enumerate(zones, start=1):  # the first instance is the writer
            rds.create_db_instance(
                DBInstanceIdentifier=f"{cluster_id}-{number}",
                DBClusterIdentifier=cluster_id,
                DBInstanceClass="db.r6g.large",
                Engine="aurora-mysql",
                DBSubnetGroupName="elearn-db",
                AvailabilityZone=zone,
            )
    # When the report is read through the real adapters
    assert main(["report", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    rows = {
        (az["availability_zone"], r["id"]): r
        for az in report["az_failures"]
        for r in az["databases"]
        if r["type"] == "cluster"
    }
    # Then losing us-east-1a fails orders-aurora over to its reader; losing us-east-1b leaves
    # its writer, and loses ledger-aurora, which has no completed cluster snapshot
    assert set(rows) == {
        ("us-east-1a", "orders-aurora"),
        ("us-east-1b", "orders-aurora"),
        ("us-east-1b", "ledger-aurora"),
    }
    failover = rows[("us-east-1a", "orders-aurora")]
    assert failover["how"] == "Aurora fails over to reader orders-aurora-2 in us-east-1b"
    assert failover["restorable"] and failover["rpo_seconds"] == 0
    assert rows[("us-east-1b", "orders-aurora")]["restorable"]
    lost = rows[("us-east-1b", "ledger-aurora")]
    assert not lost["restorable"] and lost["target_azs"] == ["us-east-1a"]
    assert lost["problems"][0].startswith("no completed cluster snapshot")
    assert {"orders-aurora", "ledger-aurora"} <= {r["id"] for r in report["resources"]}
