"""The copies feature's world: plans with copy targets, recovery points at home, the ports with a
fake copier, and the copier's pump run until the queue is empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat import tags as T
from lifeboat.copies.enqueue import queue_copies
from lifeboat.copies.models import PumpEvent, PumpReport
from lifeboat.copies.pump import QUEUE, pump
from lifeboat.models import PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.plans import Kind, PlanSet, parse_plans
from lifeboat.ports import Ports
from lifeboat.timeutil import iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.copies import FakeCopier
from tests.fakes.ports import fake_ports

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
ARN = "arn:aws:states:eu-west-1:123456789012:execution:lifeboat-copier:"
KEY = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def plans(copy_retention: dict[str, int] | None = None, min_keep: int = 1) -> PlanSet:
    return parse_plans(
        {
            "plans": {
                "standard": {
                    "min_keep": min_keep,
                    "rules": {
                        "daily": {
                            "schedule": "cron(45 2 * * ? *)",
                            "timezone": "Europe/London",
                            "kinds": ["ami", "ebs", "rds"],
                            "retention": {"daily": 7},
                            "copy_to": [
                                {
                                    "region": "us-west-2",
                                    "kms_key": KEY,
                                    "retention": copy_retention or {"daily": 7},
                                }
                            ],
                        }
                    },
                }
            }
        }
    )


def point(source: str, kind: Kind, day: int = 0, snapshots: int = 1) -> RecoveryPoint:
    created = NOW - timedelta(days=day)
    run_id = f"{iso(created)}-standard-daily"
    fields: dict[str, Any] = {}
    if kind is Kind.AMI:
        fields["image_id"] = f"ami-{source[2:]}{day:02d}"
    if kind in (Kind.AMI, Kind.EBS):
        fields["snapshots"] = [
            VolumeSnapshot(
                volume_id=f"vol-{n}", snapshot_id=f"snap-{source[2:]}{day:02d}{n}", size_gb=8
            )
            for n in range(snapshots)
        ]
    if kind is Kind.RDS:
        fields["db_snapshot_id"] = f"lifeboat-{source}-{day}"
    return RecoveryPoint(
        recovery_point_id=f"{run_id}/{source}/{kind.value}",
        run_id=run_id,
        plan="standard",
        rule="daily",
        kind=kind,
        source_id=source,
        source_type="db" if kind is Kind.RDS else "instance",
        status=PointStatus.COMPLETED,
        created_at=created,
        completed_at=created,
        **fields,
    )


def world(copier: FakeCopier | None = None) -> tuple[Ports, FakeCatalog, FakeCopier]:
    copier = copier or FakeCopier()
    ports = fake_ports(copies=lambda region: copier, home_region="eu-west-1")
    assert isinstance(ports.catalog, FakeCatalog)
    return ports, ports.catalog, copier


def home(ports: Ports, points: list[RecoveryPoint]) -> None:
    ports.catalog.put_points(points)
    for p in points:
        if p.db_snapshot_id:  # the RDS snapshot exists at home (its ARN is read)
            ports.rds.create_db_snapshot(p.source_id, p.db_snapshot_id, {})


def run_pump(
    ports: Ports,
    the_plans: PlanSet,
    now: datetime = NOW,
    name: str = "c1",
    attempt: int = 0,
    started: datetime = NOW,
) -> PumpReport:
    event = PumpEvent.model_validate(
        {
            "state": {"pump": {"attempt": attempt}},
            "execution": {"Id": ARN + name, "Name": name, "StartTime": iso(started), "Input": {}},
        }
    )
    return pump(event, the_plans, ports, now)


def until_done(ports: Ports, the_plans: PlanSet, limit: int = 50) -> list[PumpReport]:
    reports = []
    for n in range(limit):
        reports.append(run_pump(ports, the_plans, NOW + timedelta(minutes=n), attempt=n))
        if reports[-1].done:
            return reports
    raise AssertionError("the copier never finished")


def queue(catalog: FakeCatalog) -> list[dict[str, Any]]:
    return catalog.records(QUEUE + "us-west-2")


HOME_ARN = "arn:aws:rds:eu-west-1:123456789012:{}:{}"


def database(kind: str = "db", day: int = 0) -> RecoveryPoint:
    found = point("elearn-db", Kind.RDS, day=day)
    if kind == "cluster":
        found = found.model_copy(
            update={"db_snapshot_id": None, "db_cluster_snapshot_id": f"lifeboat-aurora-{day}"}
        )
    return found


def put_home(ports: Ports, source: RecoveryPoint) -> None:
    ports.catalog.put_points([source])
    if source.db_cluster_snapshot_id:
        ports.rds.create_cluster_snapshot(source.source_id, source.db_cluster_snapshot_id, {})
    else:
        home(ports, [source])


def forge(copier: FakeCopier, source: RecoveryPoint, source_arn: str | None, day: int) -> str:
    """A snapshot someone made in the copy region with tonight's copy's name and copied
    ``lifeboat:`` tags (the copy's id is predictable)."""
    kind = "cluster" if source.db_cluster_snapshot_id else "db"
    name = source.db_cluster_snapshot_id or source.db_snapshot_id or ""
    copier.dbs[name] = {
        "kind": kind,
        "Status": "available",
        "TagList": T.to_list(
            {T.MANAGED: "true", T.COPY_POINT: f"{source.recovery_point_id}@us-west-2"}
        ),
        "_polls": 0,
        "SourceArn": source_arn,
        "SnapshotCreateTime": NOW - timedelta(days=day),
    }
    return name


def our_arn(source: RecoveryPoint) -> str:
    if source.db_cluster_snapshot_id:
        return HOME_ARN.format("cluster-snapshot", source.db_cluster_snapshot_id)
    return HOME_ARN.format("snapshot", source.db_snapshot_id)


def completed_copies(
    kind: Kind, days: int = 3
) -> tuple[Ports, FakeCatalog, FakeCopier, list[RecoveryPoint]]:
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW))
    sources = [point("i-0web1", kind, day=d, snapshots=2) for d in range(days)]
    for s in sources:
        copier.image_snapshots[s.image_id or ""] = 2
    home(ports, sources)
    queue_copies(sources, plans(), ports, NOW)
    until_done(ports, plans())
    copies = sorted(
        catalog.copies_for_rule("us-west-2", "standard", "daily"), key=lambda c: c.created_at
    )
    return ports, catalog, copier, copies
