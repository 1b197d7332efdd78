"""The report names recovery points a restore would use (an AMI and its snapshot set, a DB or
cluster snapshot): it says "restorable" only after checking they still exist and can be used
(an ``available`` AMI, ``completed`` snapshots not in the archive tier, ``available`` DB and
cluster snapshots). Someone may have deregistered, disabled or archived an AMI or a snapshot, or
deleted it, outside Lifeboat; the catalog would not know.

The artifacts the report names are read in batches (``DescribeImages`` / ``DescribeSnapshots``
with an id filter of at most 200 values per call, ``DescribeDBSnapshots`` /
``DescribeDBClusterSnapshots`` with at most 50, every page read). A point with a vanished
artifact is left out and the report built again, so each resource falls back to its newest
point that exists (or is reported unrestorable, naming what vanished); each round reads only
the artifacts not read before. When the reads fail, the report says plainly that it did not
verify (``verification.verified`` false, a reason in the summary) instead of vouching."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from botocore.exceptions import ClientError

from lifeboat.errors import error_code
from lifeboat.models import RecoveryPoint
from lifeboat.report.build import build_report
from lifeboat.report.models import AzRow, Finding, FleetInputs, Report, Verification

MAX_ROUNDS = 8  # each round removes at least one point; then everything left is read at once


class ArtifactReads(Protocol):
    """Which of these ids exist (the adapters' batched Describe calls)."""

    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]: ...
    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]: ...


class DbSnapshotReads(Protocol):
    def existing_snapshots(self, kind: str, ids: list[str]) -> set[str]:
        """Of ``ids`` (DB snapshots, or cluster snapshots with ``kind`` ``cluster``), those
        that exist."""
        ...


class _Checker:
    def __init__(self, ec2: ArtifactReads, rds: DbSnapshotReads) -> None:
        self.ec2, self.rds = ec2, rds
        self.exists: dict[str, bool] = {}

    def check(self, by_kind: dict[str, set[str]]) -> None:
        wanted = {k: sorted(v - set(self.exists)) for k, v in by_kind.items()}
        found: set[str] = set()
        if wanted["image"]:
            found |= {i for i, d in self.ec2.images(wanted["image"]).items() if usable_image(d)}
        if wanted["snapshot"]:
            found |= {
                i for i, d in self.ec2.snapshots(wanted["snapshot"]).items() if usable_snapshot(d)
            }
        for kind in ("db", "cluster"):
            if wanted[kind]:
                found |= self.rds.existing_snapshots(kind, wanted[kind])
        for ids in wanted.values():
            self.exists.update({i: i in found for i in ids})


def usable_image(image: dict[str, Any]) -> bool:
    """An AMI a restore can launch from: ``available`` (not failed, disabled, deregistered)."""
    return image.get("State") == "available"


def usable_snapshot(snapshot: dict[str, Any]) -> bool:
    """An EBS snapshot a volume can be created from now: ``completed`` and in the standard
    tier (an archived snapshot must first be restored from the archive, which takes days)."""
    return snapshot.get("State") == "completed" and snapshot.get("StorageTier") != "archive"


def _artifacts(point: RecoveryPoint) -> dict[str, set[str]]:
    return {
        "image": {point.image_id} if point.image_id else set(),
        "snapshot": {s.snapshot_id for s in point.snapshots if s.snapshot_id},
        "db": {point.db_snapshot_id} if point.db_snapshot_id else set(),
        "cluster": {point.db_cluster_snapshot_id} if point.db_cluster_snapshot_id else set(),
    }


def named_points(report: Report, points: list[RecoveryPoint]) -> list[RecoveryPoint]:
    """The points the report leans on: each rule's newest point of each resource, and every
    point whose artifact an "if this AZ failed" row would restore from."""
    ids = {r.newest_point_id for res in report.resources for r in res.rules if r.newest_point_id}
    used = {
        a for f in report.az_failures for row in (*f.servers, *f.databases) for a in row.artifacts
    }
    return [p for p in points if p.recovery_point_id in ids or used & set(p.artifact_ids())]


def verified_report(inputs: FleetInputs, ec2: ArtifactReads, rds: DbSnapshotReads) -> Report:
    checker = _Checker(ec2, rds)
    vanished: dict[str, list[str]] = {}
    current = inputs
    for round_ in range(MAX_ROUNDS + 1):
        report = build_report(current)
        points = named_points(report, current.points) if round_ < MAX_ROUNDS else current.points
        needed: dict[str, set[str]] = {
            "image": set(),
            "snapshot": set(),
            "db": set(),
            "cluster": set(),
        }
        for point in points:
            for kind, ids in _artifacts(point).items():
                needed[kind] |= ids
        try:
            checker.check(needed)
        except ClientError as exc:
            return _unverified(report, f"{error_code(exc)}: reading the artifacts failed")
        gone = {
            p.recovery_point_id: [a for a in p.artifact_ids() if not checker.exists.get(a, True)]
            for p in points
        }
        gone = {k: v for k, v in gone.items() if v}
        if not gone:
            return _verified(report, inputs, vanished, len(checker.exists))
        vanished.update(gone)
        current = replace(
            current, points=[p for p in current.points if p.recovery_point_id not in vanished]
        )
    return _verified(build_report(current), inputs, vanished, len(checker.exists))


def _verified(
    report: Report, inputs: FleetInputs, vanished: dict[str, list[str]], checked: int
) -> Report:
    by_id = {p.recovery_point_id: p for p in inputs.points}
    findings = [
        Finding(
            kind="vanished_artifact",
            id=by_id[point_id].source_id,
            detail=f"recovery point {point_id} ({by_id[point_id].rule}, "
            f"{by_id[point_id].created_at:%Y-%m-%d %H:%M}): {', '.join(sorted(ids))} no longer "
            "exist or cannot be restored from (deleted, deregistered, disabled, archived or "
            "failed outside Lifeboat); restores use an older point",
        )
        for point_id, ids in sorted(vanished.items())
    ]
    summary = report.summary
    if findings:
        status = "red" if summary.status == "red" else "amber"
        reasons = [r for r in summary.reasons if not r.startswith("every protected")]
        reasons.append(f"{len(findings)} recovery point(s) whose AMI or snapshots vanished")
        summary = summary.model_copy(update={"status": status, "reasons": reasons})
    return report.model_copy(
        update={
            "summary": summary,
            "not_protected": [*report.not_protected, *findings],
            "verification": Verification(
                verified=True,
                checked=checked,
                missing=sorted(a for ids in vanished.values() for a in ids),
            ),
        }
    )


def _unverified(report: Report, error: str) -> Report:
    summary = report.summary
    reasons = [r for r in summary.reasons if not r.startswith("every protected")]
    reasons.append(
        "the recovery points' AMIs and snapshots were NOT verified to exist "
        f"({error}): 'restorable' rests on the catalog alone"
    )
    status = "red" if summary.status == "red" else "amber"
    note = f"not verified: its AMI and snapshots could not be read ({error})"
    failures = [
        failure.model_copy(
            update={
                "status": "amber" if failure.status == "green" else failure.status,
                "servers": [_unverified_row(r, note) for r in failure.servers],
                "databases": [_unverified_row(r, note) for r in failure.databases],
            }
        )
        for failure in report.az_failures
    ]
    resources = [
        r.model_copy(update={"status": "amber"}) if r.status == "green" else r
        for r in report.resources
    ]
    return report.model_copy(
        update={
            "summary": summary.model_copy(update={"status": status, "reasons": reasons}),
            "az_failures": failures,
            "resources": resources,
            "verification": Verification(verified=False, error=error),
        }
    )


def _unverified_row(row: AzRow, note: str) -> AzRow:
    """A row the catalog calls restorable, nothing having vouched for its artifacts."""
    if not row.restorable:
        return row
    return row.model_copy(update={"problems": [*row.problems, note]})
