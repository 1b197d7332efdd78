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
from lifeboat.report.build import drills_by_resource, last_rto
from lifeboat.report.verify import verified_report
from tests.fakes.common import client_error
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

    def __init__(
        self,
        existing: set[str],
        fail: bool = False,
        described: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.existing, self.fail = existing, fail
        self.described = described or {}  # what Describe says of an id beyond it existing
        self.calls: list[tuple[str, list[str]]] = []

    def _read(self, what: str, ids: list[str]) -> set[str]:
        self.calls.append((what, list(ids)))
        if self.fail:
            raise client_error("UnauthorizedOperation", "DescribeImages")
        return set(ids) & self.existing

    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            i: {"ImageId": i, "State": "available", **self.described.get(i, {})}
            for i in self._read("images", ids)
        }

    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            i: {"SnapshotId": i, "State": "completed", "StorageTier": "standard",
                **self.described.get(i, {})}
            for i in self._read("snapshots", ids)
        }  # fmt: skip

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
    def __init__(
        self,
        calls: list[dict[str, Any]],
        snapshots: set[str],
        cluster: bool,
        status: dict[str, str] | None = None,
    ) -> None:
        self.calls, self.snapshots, self.cluster = calls, snapshots, cluster
        self.status = status or {}

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
            {key: [{field: s, "Status": self.status.get(s, "available")} for s in found[:half]]},
            {key: [{field: s, "Status": self.status.get(s, "available")} for s in found[half:]]},
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


def test_the_newest_drill_counts_across_plans() -> None:
    # Given web-1 moved from plan "critical" (a passing drill two days ago) to "standard" (a
    # failed drill yesterday): the report reads DRILL#<plan> records plan by plan
    def record(when: Any, execution: str, result: str, rto: float | None) -> dict[str, Any]:
        return {
            "sk": f"{when.isoformat()}#{execution}",
            "status": "succeeded" if result == "healthy" else "failed",
            "started_at": when.isoformat(),
            "resources": [{"id": "i-web1", "type": "instance", "result": result,
                           "rto_seconds": rto, "rpo_seconds": 60, "error": None}],
        }  # fmt: skip

    older = record(NOW - timedelta(days=2), "drill-critical", "healthy", 600.0)
    newer = record(NOW - timedelta(days=1), "drill-standard", "unhealthy", None)
    for records in ({"critical": [older], "standard": [newer]},
                    {"standard": [newer], "critical": [older]}):  # fmt: skip
        drills = drills_by_resource(records)["i-web1"]
        # Then the newest drill, whichever plan recorded it, is the verdict: no RTO stands
        assert [d.execution for d in drills] == ["drill-standard", "drill-critical"]
        assert last_rto(drills) is None


@pytest.mark.parametrize(
    ("what", "described"),
    [
        ("snapshot", None),  # the AMI exists, one of its snapshots is gone
        ("snapshot", {"StorageTier": "archive"}),  # archived: days to restore before any use
        ("snapshot", {"State": "error"}),
        ("image", {"State": "failed"}),
        ("image", {"State": "disabled"}),  # DisableImage: no launch from it
    ],
)
def test_an_artifact_that_exists_but_cannot_be_used_is_not_restorable(
    what: str, described: dict[str, str] | None
) -> None:
    # Given web-1's only AMI exists, but it (or one of its snapshots) cannot be restored from
    fleet = seed_fleet()
    inputs = fleet.inputs()
    web1 = fleet.ids["web-1"]
    point = next(p for p in inputs.points if p.source_id == web1 and p.kind is Kind.AMI)
    assert point.snapshots, "an AMI point records its snapshots"
    broken = point.image_id if what == "image" else point.snapshots[-1].snapshot_id
    assert broken
    if described is None:
        reads = Reads(_everything(inputs) - {broken})
    else:
        reads = Reads(_everything(inputs), described={broken: described})
    report = verified_report(inputs, reads, reads)
    # Then the report does not call web-1 restorable from it, and names it
    row = _row(report, AZ_A, web1)
    assert not row.restorable and broken not in row.artifacts
    assert report.verification is not None and broken in report.verification.missing
    assert _card(report, AZ_A) == "red"


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_a_db_snapshot_that_is_not_available_is_not_counted(kind: str) -> None:
    calls: list[dict[str, Any]] = []
    existing = {"lifeboat-ok", "lifeboat-failed"}

    class Rds:
        def get_paginator(self, operation: str) -> _Pages:
            return _Pages(calls, existing, kind == "cluster", {"lifeboat-failed": "failed"})

    found = RdsGateway(rds=Rds()).existing_snapshots(kind, sorted(existing))
    assert found == {"lifeboat-ok"}


def test_when_the_reads_fail_no_card_is_green_and_every_row_says_unverified() -> None:
    # Given the caller may not read the AMIs (DescribeImages denied, or throttled to the end)
    fleet = seed_fleet()
    inputs = fleet.inputs()
    healthy = build_report(inputs)
    assert any(r.status == "green" for r in healthy.resources), "the fleet has green cards"
    report = verified_report(inputs, Reads(set(), fail=True), Reads(set(), fail=True))
    # Then no AZ card and no resource card is green: nothing vouches for the artifacts
    assert {f.status for f in report.az_failures} <= {"amber", "red"}
    assert all(r.status != "green" for r in report.resources)
    for failure in report.az_failures:
        for row in (*failure.servers, *failure.databases):
            if row.restorable:
                assert any("not verified" in p for p in row.problems), row.id


def test_the_cli_says_unverified_not_yes_when_the_reads_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lifeboat.cli.report import _print

    inputs = seed_fleet().inputs()
    _print(verified_report(inputs, Reads(set(), fail=True), Reads(set(), fail=True)))
    unverified = capsys.readouterr().out
    assert "unverified" in unverified and " yes " not in unverified
    _print(verified_report(inputs, Reads(_everything(inputs)), Reads(_everything(inputs))))
    assert " yes " in capsys.readouterr().out


def test_the_cli_never_says_read_and_found_when_some_vanished(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lifeboat.cli.report import _print

    fleet = seed_fleet()
    inputs = fleet.inputs()
    ami = next(p.image_id for p in inputs.points if p.kind is Kind.AMI and p.image_id)
    reads = Reads(_everything(inputs) - {str(ami)})
    _print(verified_report(inputs, reads, reads))
    out = capsys.readouterr().out
    assert "read and found" not in out and f"vanished or cannot be used: {ami}" in out


def test_the_html_report_shows_every_kind_of_finding_vanished_artifacts_included() -> None:
    from typing import get_args

    from lifeboat.report import render_html
    from lifeboat.report.html import FINDING_TITLES
    from lifeboat.report.models import FindingKind

    assert set(FINDING_TITLES) == set(get_args(FindingKind)), "a finding kind the page drops"
    fleet = seed_fleet()
    inputs = fleet.inputs()
    ami = next(p.image_id for p in inputs.points if p.kind is Kind.AMI and p.image_id)
    reads = Reads(_everything(inputs) - {str(ami)})
    page = render_html(verified_report(inputs, reads, reads))
    assert str(ami) in page and FINDING_TITLES["vanished_artifact"] in page
