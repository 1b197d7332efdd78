"""The readiness report keeps its promises (issue 20, items 10–11): the newest drill's verdict
is the one that counts (an older passing drill's RTO never stands for a restore that failed
since); a point whose AMI or snapshots vanished outside Lifeboat is never "restorable" — the
report reads the artifacts it names (batched), falls back to the newest point that exists, or
says plainly that it did not verify."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifeboat.aws.rds import RDS_FILTER_VALUES, RdsGateway
from lifeboat.plans import Kind
from lifeboat.report import FleetInputs, build_report
from lifeboat.report.verify import verified_report
from tests.fakes import client_error
from tests.report_fleet import AZ_A, AZ_B, NOW, seed_fleet

pytestmark = pytest.mark.unit


def _row(report: Any, az: str, resource: str) -> Any:
    failure = next(f for f in report.az_failures if f.availability_zone == az)
    return next(r for r in (*failure.servers, *failure.databases) if r.id == resource)


def _card(report: Any, az: str) -> str:
    return str(next(f.status for f in report.az_failures if f.availability_zone == az))


# --- item 10: the newest drill counts ------------------------------------------------------------
@pytest.mark.parametrize("kind", ["instance", "db", "cluster"])
def test_after_the_latest_drill_failed_the_card_is_red_with_that_result(kind: str) -> None:
    # Given web-1 (elearn-db, ledger-aurora) passed a drill with an RTO, then failed yesterday
    fleet = seed_fleet()
    resource, az = {
        "instance": (fleet.ids["web-1"], AZ_A),
        "db": ("elearn-db", AZ_A),
        "cluster": ("ledger-aurora", AZ_B),
    }[kind]
    if kind == "cluster":  # its passing drill, two days ago
        earlier = NOW - timedelta(days=2, hours=1)
        fleet.ports.catalog.put_record(
            "DRILL#standard",
            f"{earlier.isoformat()}#drill-0",
            {
                "status": "succeeded",
                "started_at": earlier.isoformat(),
                "resources": [{"id": resource, "type": kind, "result": "healthy",
                               "rto_seconds": 900, "rpo_seconds": 3600, "error": None}],
            },
        )  # fmt: skip
    before = build_report(fleet.inputs())
    assert _row(before, az, resource).rto_seconds is not None
    started = NOW - timedelta(days=1)
    fleet.ports.catalog.put_record(
        "DRILL#standard",
        f"{started.isoformat()}#drill-2",
        {
            "status": "failed",
            "started_at": started.isoformat(),
            "resources": [
                {"id": resource, "type": kind, "result": "unhealthy", "rto_seconds": None,
                 "rpo_seconds": 1800, "error": "not healthy in time (running impaired/ok)"},
            ],
        },
    )  # fmt: skip
    report = build_report(fleet.inputs())
    row = _row(report, az, resource)
    # Then the AZ card carries that drill's result, with no RTO from the older drill
    assert row.last_drill == "unhealthy" and row.rto_seconds is None
    assert any("latest drill unhealthy" in p and "drill-2" in p for p in row.problems)
    assert _card(report, az) == "red"
    card = next(r for r in report.resources if r.id == resource)
    assert card.last_drill is not None and card.last_drill.execution == "drill-2"
    assert card.status != "green" and report.summary.status == "red"


# --- item 11: the artifacts the report names exist ---------------------------------------------
class Reads:
    """Batched Describe calls over the artifacts that still exist; each call's ids recorded."""

    def __init__(self, existing: set[str], fail: bool = False) -> None:
        self.existing, self.fail = existing, fail
        self.calls: list[tuple[str, list[str]]] = []

    def _read(self, what: str, ids: list[str]) -> set[str]:
        self.calls.append((what, list(ids)))
        if self.fail:
            raise client_error("UnauthorizedOperation", "DescribeImages")
        return set(ids) & self.existing

    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: {"ImageId": i} for i in self._read("images", ids)}

    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: {"SnapshotId": i} for i in self._read("snapshots", ids)}

    def existing_snapshots(self, kind: str, ids: list[str]) -> set[str]:
        return self._read(kind, ids)


def _everything(inputs: FleetInputs) -> set[str]:
    return {a for p in inputs.points for a in p.artifact_ids()}


def test_a_server_whose_only_ami_was_deregistered_is_not_restorable() -> None:
    fleet = seed_fleet()
    inputs = fleet.inputs()
    web1 = fleet.ids["web-1"]
    ami = next(p.image_id for p in inputs.points if p.source_id == web1 and p.kind is Kind.AMI)
    assert _row(build_report(inputs), AZ_A, web1).restorable, "the catalog alone says so"
    reads = Reads(_everything(inputs) - {ami})
    report = verified_report(inputs, reads, reads)
    row = _row(report, AZ_A, web1)
    assert not row.restorable and row.problems[0].startswith("no AMI")
    assert _card(report, AZ_A) == "red" and report.summary.status == "red"
    (finding,) = [f for f in report.not_protected if f.kind == "vanished_artifact"]
    assert ami is not None and finding.id == web1 and ami in finding.detail
    assert report.verification is not None and report.verification.verified
    assert report.verification.missing == [ami]
    # every artifact read at most once, in batches (the adapters cut them to the API's limits)
    read = [i for _what, ids in reads.calls for i in ids]
    assert len(read) == len(set(read))


def test_a_vanished_newest_ami_falls_back_to_the_newest_that_exists() -> None:
    fleet = seed_fleet()
    web1 = fleet.ids["web-1"]
    newest = next(p for p in fleet.inputs().points if p.source_id == web1 and p.kind is Kind.AMI)
    older = newest.model_copy(
        update={
            "recovery_point_id": "old/ami",
            "run_id": "old",
            "created_at": newest.created_at - timedelta(days=1),
            "image_id": "ami-0older",
        }
    )
    fleet.ports.catalog.put_point(older)
    inputs = fleet.inputs()
    reads = Reads(_everything(inputs) - {str(newest.image_id)})
    report = verified_report(inputs, reads, reads)
    row = _row(report, AZ_A, web1)
    assert row.restorable and "ami-0older" in row.how and "ami-0older" in row.artifacts
    assert report.verification is not None and report.verification.missing == [newest.image_id]
    assert any(f.kind == "vanished_artifact" for f in report.not_protected)


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_a_deleted_db_or_cluster_snapshot_is_found_missing(kind: str) -> None:
    fleet = seed_fleet()
    inputs = fleet.inputs()
    if kind == "db":
        gone = next(p.db_snapshot_id for p in inputs.points if p.source_id == "elearn-db")
    else:
        gone = next(
            p.db_cluster_snapshot_id for p in inputs.points if p.source_id == "ledger-aurora"
        )
    assert gone
    reads = Reads(_everything(inputs) - {gone})
    report = verified_report(inputs, reads, reads)
    assert report.verification is not None and report.verification.missing == [gone]
    assert any(kind == what for what, ids in reads.calls if gone in ids)


def test_when_the_reads_fail_the_report_says_it_did_not_verify() -> None:
    fleet = seed_fleet()
    inputs = fleet.inputs()
    report = verified_report(inputs, Reads(set(), fail=True), Reads(set(), fail=True))
    assert report.verification is not None and not report.verification.verified
    assert report.verification.error and "UnauthorizedOperation" in report.verification.error
    assert any("NOT verified" in r for r in report.summary.reasons)
    assert report.summary.status != "green"


class _Pages:
    def __init__(self, calls: list[dict[str, Any]], snapshots: set[str], cluster: bool) -> None:
        self.calls, self.snapshots, self.cluster = calls, snapshots, cluster

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        (flt,) = kwargs["Filters"]
        found = sorted(set(flt["Values"]) & self.snapshots)
        field, key = (
            ("DBClusterSnapshotIdentifier", "DBClusterSnapshots")
            if self.cluster
            else ("DBSnapshotIdentifier", "DBSnapshots")
        )
        half = len(found) // 2  # two pages: every page is read
        return [
            {key: [{field: s} for s in found[:half]]},
            {key: [{field: s} for s in found[half:]]},
        ]


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_db_snapshots_are_read_in_batches_within_the_filter_limit(kind: str) -> None:
    calls: list[dict[str, Any]] = []
    existing = {f"lifeboat-{n}" for n in range(0, 130, 2)}

    class Rds:
        def get_paginator(self, operation: str) -> _Pages:
            assert operation == (
                "describe_db_cluster_snapshots" if kind == "cluster" else "describe_db_snapshots"
            )
            return _Pages(calls, existing, kind == "cluster")

    wanted = [f"lifeboat-{n}" for n in range(130)]
    found = RdsGateway(rds=Rds()).existing_snapshots(kind, wanted)
    assert found == existing
    assert len(calls) == 3 and all(
        len(c["Filters"][0]["Values"]) <= RDS_FILTER_VALUES for c in calls
    )
