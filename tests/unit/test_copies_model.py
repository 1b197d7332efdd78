"""Model-based test of the copies in another region, on in-memory fakes (what prune got).

A hypothesis state machine interleaves backup runs whose finalize queues their copies (the
queue write failing now and then), copier pumps whose task dies right after (or right before)
its copy call, forged artifacts in a copy's place (a DB snapshot named as tonight's copy, a
snapshot tagged with a copy's predictable id, made before its intent), snapshots locked by hand
in the copy region, artifacts deleted there outside Lifeboat, prunes (dry runs too) and the
passing of time, and checks after every step that:

* nothing Lifeboat did not create is ever deleted;
* a locked snapshot is never deleted, its set never marked deleted, its image never
  deregistered;
* the copies in flight never exceed the destination's limits (20 EBS snapshot copies, 5 RDS);
* every completed home point has a copy, a queue item or a notification.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lifeboat import tags as T
from lifeboat.copies.enqueue import queue_and_start
from lifeboat.copies.models import EBS_COPY_LIMIT, RDS_COPY_LIMIT, PumpEvent
from lifeboat.copies.pump import QUEUE, pump
from lifeboat.copies.status import copy_status
from lifeboat.models import PointStatus, RecoveryPoint, SnapshotLock, VolumeSnapshot
from lifeboat.observability import metrics
from lifeboat.plans import Kind, PlanSet, parse_plans
from lifeboat.prune import PruneRequest, prune
from lifeboat.timeutil import iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.copies import DiedAfterCall, FakeCopier
from tests.fakes.ports import fake_ports

pytestmark = pytest.mark.unit
DR = "us-west-2"
KEY = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = "arn:aws:states:eu-west-1:123456789012:execution:lifeboat-copier:model"
PLANS: PlanSet = parse_plans(
    {
        "plans": {
            "standard": {
                "min_keep": 1,
                "rules": {
                    "daily": {
                        "schedule": "cron(0 3 * * ? *)",
                        "timezone": "UTC",
                        "kinds": ["ami", "ebs", "rds"],
                        "retention": {"daily": 30},
                        "copy_to": [{"region": DR, "kms_key": KEY, "retention": {"daily": 2}}],
                    }
                },
            }
        }
    }
)
SOURCES = [
    ("i-0web1", Kind.AMI),
    ("i-0web1", Kind.EBS),
    ("i-0app1", Kind.EBS),
    ("i-0app2", Kind.EBS),
    ("elearn-db", Kind.RDS),
    ("reports-db", Kind.RDS),
    ("audit-db", Kind.RDS),
    ("aurora", Kind.RDS),  # a cluster
]
_ids = itertools.count(1)


class Copies(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
        self.copier = FakeCopier(region=DR, polls_to_complete=3, clock=lambda: self.now)
        self.catalog = FakeCatalog()
        self.ports = fake_ports(
            catalog=self.catalog, copies=lambda region: self.copier, home_region="eu-west-1"
        )
        self.foreign: set[str] = set()  # made by someone else in the copy region
        self.gone_by_hand: set[str] = set()
        self.run = 0

    # --- actions -----------------------------------------------------------------------------
    def _point(self, source: str, kind: Kind, snapshots: int) -> RecoveryPoint:
        n = next(_ids)
        run_id = f"{self.now:%Y%m%dT%H%M%SZ}-standard-daily-{self.run}"
        fields: dict[str, Any] = {}
        if kind in (Kind.AMI, Kind.EBS):
            fields["snapshots"] = [
                VolumeSnapshot(volume_id=f"vol-{i}", snapshot_id=f"snap-h{n:05d}{i}", size_gb=8)
                for i in range(snapshots)
            ]
        if kind is Kind.AMI:
            fields["image_id"] = f"ami-h{n:07d}"
            self.copier.image_snapshots[fields["image_id"]] = snapshots
        elif kind is Kind.RDS and source == "aurora":
            fields["db_cluster_snapshot_id"] = f"lifeboat-{source}-{n}"
            self.ports.rds.create_cluster_snapshot(source, fields["db_cluster_snapshot_id"], {})
        elif kind is Kind.RDS:
            fields["db_snapshot_id"] = f"lifeboat-{source}-{n}"
            self.ports.rds.create_db_snapshot(source, fields["db_snapshot_id"], {})
        return RecoveryPoint(
            recovery_point_id=f"{run_id}/{source}/{kind.value}",
            run_id=run_id,
            plan="standard",
            rule="daily",
            kind=kind,
            source_id=source,
            source_type="db" if kind is Kind.RDS else "instance",
            status=PointStatus.COMPLETED,
            created_at=self.now,
            completed_at=self.now,
            **fields,
        )

    @rule(snapshots=st.integers(1, 6), queue_fails=st.booleans())
    def backup_run(self, snapshots: int, queue_fails: bool) -> None:
        """A run completes a point of every source; finalize queues their copies (the write
        may fail: the run goes on, notified)."""
        self.run += 1
        points = [self._point(s, k, snapshots) for s, k in SOURCES]
        self.catalog.put_points(points)
        if queue_fails:

            def refused(*_: Any) -> bool:
                raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")

            self.catalog.enqueue_copy = refused  # type: ignore[method-assign,assignment]
        try:
            queue_and_start(points, PLANS, self.ports, self.now, f"run-{self.run}", None)
        finally:
            self.catalog.__dict__.pop("enqueue_copy", None)

    @rule(death=st.sampled_from([None, None, "after", "before"]), first=st.booleans())
    def copier_pump(self, death: str | None, first: bool) -> None:
        """One pump of the copier (``first``: a new copier execution, which also queues what
        was never queued); its task may die right after (or before) a copy call."""
        self.copier.die_after_calls = 1 if death == "after" else 0
        self.copier.die_before_calls = 1 if death == "before" else 0
        event = PumpEvent.model_validate(
            {
                "state": {"pump": {"attempt": 0 if first else 3}},
                "execution": {"Id": ARN, "Name": "model", "StartTime": iso(self.now), "Input": {}},
            }
        )
        try:
            pump(event, PLANS, self.ports, self.now)
        except DiedAfterCall:
            pass
        finally:
            self.copier.die_after_calls = self.copier.die_before_calls = 0

    def _home_rds(self) -> list[RecoveryPoint]:
        return [
            p
            for p in self.catalog.points_for_rule("standard", "daily")
            if p.kind is Kind.RDS and p.status is PointStatus.COMPLETED
        ]

    @rule(pick=st.integers(0, 1_000), ours=st.booleans())
    def someone_makes_a_db_snapshot_in_a_copys_place(self, pick: int, ours: bool) -> None:
        """Named as a point's copy will be, with copied lifeboat tags, made before its intent
        (copied from our very source, or not a copy at all)."""
        points = [p for p in self._home_rds() if not self._copy_of(p)]
        if not points:
            return
        point = points[pick % len(points)]
        name = point.db_cluster_snapshot_id or point.db_snapshot_id or ""
        if name in self.copier.dbs:
            return
        arn = (
            self.ports.rds.snapshot("cluster" if point.db_cluster_snapshot_id else "db", name) or {}
        )
        self.copier.dbs[name] = {
            "kind": "cluster" if point.db_cluster_snapshot_id else "db",
            "Status": "available",
            "TagList": T.to_list(
                {T.MANAGED: "true", T.COPY_POINT: f"{point.recovery_point_id}@{DR}"}
            ),
            "_polls": 0,
            "SourceArn": (arn.get("DBSnapshotArn") or arn.get("DBClusterSnapshotArn"))
            if ours
            else None,
            "SnapshotCreateTime": self.now - timedelta(hours=2),
        }
        self.foreign.add(name)

    @rule(pick=st.integers(0, 1_000))
    def someone_tags_a_snapshot_with_a_copys_id(self, pick: int) -> None:
        points = [
            p
            for p in self.catalog.points_for_rule("standard", "daily")
            if p.kind is Kind.EBS and p.status is PointStatus.COMPLETED
        ]
        if not points:
            return
        point = points[pick % len(points)]
        sid = f"snap-f{next(_ids):07x}"
        self.copier.snaps[sid] = {
            "SnapshotId": sid,
            "StartTime": self.now - timedelta(days=1),
            "State": "completed",
            "Tags": T.to_list(
                {
                    T.MANAGED: "true",
                    T.PLAN: "standard",
                    T.COPY_POINT: f"{point.recovery_point_id}@{DR}",
                    T.COPY_OF: point.snapshots[0].snapshot_id,
                }
            ),
            "_polls": 0,
        }
        self.foreign.add(sid)

    @rule(pick=st.integers(0, 1_000))
    def someone_locks_a_copy_snapshot_by_hand(self, pick: int) -> None:
        ours = sorted(s for s in self.copier.snaps if s not in self.foreign)
        if ours:
            sid = ours[pick % len(ours)]
            self.copier.locks[sid] = SnapshotLock(
                snapshot_id=sid, state="governance", expires_on=self.now + timedelta(days=90)
            )

    @rule(pick=st.integers(0, 1_000), kind=st.sampled_from(["image", "snapshot", "db"]))
    def someone_deletes_a_copy_artifact_outside_lifeboat(self, pick: int, kind: str) -> None:
        store = {"image": self.copier.images_, "snapshot": self.copier.snaps}.get(
            kind, self.copier.dbs
        )
        ours = sorted(a for a in store if a not in self.foreign and a not in self.copier.locks)
        if ours:
            gone = ours[pick % len(ours)]
            del store[gone]
            self.gone_by_hand.add(gone)

    @rule(dry_run=st.booleans())
    def prune_runs(self, dry_run: bool) -> None:
        report = prune(PruneRequest(plan="standard", dry_run=dry_run), PLANS, self.ports, self.now)
        locked_sets = self._locked_copies()
        deleted = {d.recovery_point_id for d in report.expired if "deleted" in d.outcome.values()}
        assert not deleted & locked_sets, deleted & locked_sets

    @rule()
    def status_is_read(self) -> None:
        (region,) = copy_status(PLANS, self.ports, self.now)
        uncatalogued = {a.artifact_id for a in region.uncatalogued}
        assert uncatalogued <= self.foreign | set(self.copier.snaps) | set(self.copier.dbs)

    @rule(hours=st.sampled_from([1, 1, 6, 24]))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # --- helpers -----------------------------------------------------------------------------
    def _copies(self) -> list[RecoveryPoint]:
        return self.catalog.copies_for_rule(DR, "standard", "daily")

    def _copy_of(self, point: RecoveryPoint) -> RecoveryPoint | None:
        return next((c for c in self._copies() if c.copy_of == point.recovery_point_id), None)

    def _locked_copies(self) -> set[str]:
        """The copies one of whose snapshots is locked (by the copy-point tag EC2 holds)."""
        return {
            T.to_dict(self.copier.snaps[s]["Tags"]).get(T.COPY_POINT, "")
            for s in self.copier.locks
            if s in self.copier.snaps and s not in self.foreign
        }

    # --- invariants --------------------------------------------------------------------------
    @invariant()
    def metrics_are_not_kept(self) -> None:
        metrics.clear_metrics()

    @invariant()
    def nothing_we_did_not_create_is_deleted(self) -> None:
        present = set(self.copier.images_) | set(self.copier.snaps) | set(self.copier.dbs)
        assert self.foreign <= present, self.foreign - present

    @invariant()
    def a_locked_snapshot_stays_and_its_set_is_never_marked_deleted(self) -> None:
        assert set(self.copier.locks) <= set(self.copier.snaps) | self.gone_by_hand
        locked = self._locked_copies()
        for copy in self._copies():
            if copy.recovery_point_id in locked:
                assert copy.status is not PointStatus.DELETED, copy.recovery_point_id
                if copy.image_id and copy.image_id not in self.gone_by_hand:
                    assert copy.image_id in self.copier.images_, copy.recovery_point_id

    @invariant()
    def in_flight_copies_keep_to_the_limits(self) -> None:
        assert self.copier.peak_in_flight <= EBS_COPY_LIMIT
        assert self.copier.snapshots_in_flight() <= EBS_COPY_LIMIT
        copying = [d for a, d in self.copier.dbs.items() if d["Status"] == "copying"]
        assert len([d for d in copying if d.get("SourceArn")]) <= RDS_COPY_LIMIT

    @invariant()
    def every_completed_home_point_has_a_copy_a_queue_item_or_a_notice(self) -> None:
        copied = {c.copy_of for c in self._copies()}
        queued = {
            f"{i['run_id']}/{i['source_id']}/{i['kind']}" for i in self.catalog.records(QUEUE + DR)
        }
        noticed = {
            p
            for subject, body in self.ports.notifier.sent  # type: ignore[union-attr]
            if "not queued" in subject
            for p in body.get("points", [])
        }
        for point in self.catalog.points_for_rule("standard", "daily"):
            if point.status is PointStatus.COMPLETED:
                assert point.recovery_point_id in copied | queued | noticed, point


Copies.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCopies = Copies.TestCase
