"""In-memory fakes of the catalog and the EC2 and RDS gateways, with the same methods and
ownership checks as the adapters, for fast unit and model-based tests (no sockets).

Each fake keeps what exists and records what Lifeboat's calls made (``made_by_lifeboat``), so a
test can tell Lifeboat's artifacts from ones it planted itself. ``die_after_create`` makes the
next create call succeed at AWS and then kill the task (the Lambda time-out after the call);
``fail_after_writes`` makes catalog writes fail like an unavailable table after N more.

They satisfy the ``lifeboat.ports`` Protocols (checked by mypy at the bottom of this module);
:func:`fake_ports` builds the ``Ports`` a domain function takes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.errors import NotOwnedError
from lifeboat.models import (
    DatabaseConfig,
    InstanceConfig,
    PointStatus,
    RecoveryPoint,
    SnapshotLock,
    TargetGroupMembership,
    marked,
)
from lifeboat.ports import CatalogPort, Ec2Port, RdsPort
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):017x}"


class TaskKilled(Exception):
    """The Lambda running the task was killed (time-out) right after an AWS call returned."""


class CatalogUnavailable(Exception):
    """DynamoDB refused a write (the table unavailable, throttled beyond retries)."""


@dataclass
class FakeCatalog:
    points: dict[tuple[str, str, str], RecoveryPoint] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locks: dict[str, dict[str, Any]] = field(default_factory=dict)
    holds: dict[str, dict[str, int]] = field(default_factory=dict)  # resource -> owner -> expiry
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fail_after_writes: int | None = None  # writes that still succeed before the table fails
    pace_clock: Callable[[], float] = time.time  # the shared pace's clock

    def _write(self) -> None:
        if self.fail_after_writes is None:
            return
        if self.fail_after_writes <= 0:
            raise CatalogUnavailable("InternalServerError")
        self.fail_after_writes -= 1

    @staticmethod
    def _key(p: RecoveryPoint) -> tuple[str, str, str]:
        kind = f"{p.kind.value}@{p.region}" if p.region else p.kind.value
        return (p.source_id, p.run_id, kind)

    def _home(self) -> list[RecoveryPoint]:
        return [p for p in self.points.values() if p.region is None]

    # runs
    def claim_run(self, run_id: str, owner: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        self._write()
        found = self.runs.get(run_id)
        if found is None or found["owner"] == owner:
            self.runs[run_id] = {"owner": owner, "status": "running", **attrs}
            return None
        return found

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self.runs.get(run_id)

    def claim_create_start(self, run_id: str, now: float) -> float:
        return float(self.runs.setdefault(run_id, {}).setdefault("create_started_at", now))

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self._write()
        self.runs.setdefault(run_id, {}).update(status=status, summary=summary)

    # locks
    def acquire_lock(
        self, resource_id: str, owner: str, now: int, ttl_seconds: int, attrs: dict[str, Any]
    ) -> dict[str, Any] | None:
        self._write()
        held = self.locks.get(resource_id)
        if held is None or held["owner"] == owner or held["expires_at"] < now:
            self.locks[resource_id] = {
                "pk": f"LOCK#{resource_id}",
                "owner": owner,
                "expires_at": now + ttl_seconds,
                **attrs,
            }
            return None
        return held

    def release_lock(self, resource_id: str, owner: str) -> bool:
        self._write()
        if self.locks.get(resource_id, {}).get("owner") == owner:
            del self.locks[resource_id]
            return True
        return False

    def active_locks(self, resource_ids: list[str], now: int) -> dict[str, dict[str, Any]]:
        held: dict[str, dict[str, Any]] = {}
        for r in set(resource_ids):
            holders = {o: t for o, t in self.holds.get(r, {}).items() if t >= now}
            if r in self.locks and self.locks[r]["expires_at"] >= now:
                held[r] = {"kind": "restore", **self.locks[r]}
            elif holders:
                held[r] = {"kind": "drill", "owner": min(holders), "holders": holders}
        return held

    def hold(self, resource_id: str, owner: str, expires_at: int) -> None:
        self._write()
        self.holds.setdefault(resource_id, {})[owner] = expires_at

    def release_hold(self, resource_id: str, owner: str) -> None:
        self._write()
        self.holds.get(resource_id, {}).pop(owner, None)

    # records (lineage, restore outcomes, executions)
    def delete_record(self, pk: str, sk: str) -> None:
        self._write()
        self.items.pop((pk, sk), None)

    def put_record(self, pk: str, sk: str, attrs: dict[str, Any]) -> None:
        self._write()
        self.items[(pk, sk)] = {"pk": pk, "sk": sk, **attrs}

    def records(self, pk: str) -> list[dict[str, Any]]:
        return [dict(v) for (p, _), v in sorted(self.items.items()) if p == pk]

    def reserve_pace(self, key: str, count: int, capacity: float, rate: float) -> float:
        from lifeboat.pace import reserve

        return reserve(self, key, count, capacity, rate, self.pace_clock)

    def read_pace(self, key: str) -> float | None:
        found = self.items.get((f"PACE#{key}", "PACE"))
        return None if found is None else float(found["tat"])

    def write_pace(self, key: str, tat: float, expected: float | None) -> bool:
        if self.read_pace(key) != expected:
            return False
        self.items[(f"PACE#{key}", "PACE")] = {"pk": f"PACE#{key}", "sk": "PACE", "tat": tat}
        return True

    # points
    def put_point(self, point: RecoveryPoint) -> None:
        self._write()
        self.points[self._key(point)] = point

    def put_points(self, points: list[RecoveryPoint]) -> None:
        if points:
            self._write()
        for p in points:
            self.points[self._key(p)] = p

    def get_point(self, source_id: str, run_id: str, kind: str) -> RecoveryPoint | None:
        return self.points.get((source_id, run_id, kind))

    def get_points(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str], RecoveryPoint]:
        return {(s, k): self.points[(s, r, k)] for s, r, k in keys if (s, r, k) in self.points}

    def points_for_run(self, run_id: str) -> list[RecoveryPoint]:
        return [p for p in self._home() if p.run_id == run_id]

    def points_for_resource(self, source_id: str) -> list[RecoveryPoint]:
        return sorted(
            (p for p in self._home() if p.source_id == source_id),
            key=lambda p: (p.run_id, p.kind.value),
        )

    def points_for_rule(self, plan: str, rule: str) -> list[RecoveryPoint]:
        return [p for p in self._home() if p.plan == plan and p.rule == rule]

    def points_for_plan(self, plan: str, rules: list[str]) -> list[RecoveryPoint]:
        return [p for r in rules for p in self.points_for_rule(plan, r)]

    def all_points(self) -> list[RecoveryPoint]:
        return self._home()

    # copies in other regions, and their queue
    def copies_for_rule(self, region: str, plan: str, rule: str) -> list[RecoveryPoint]:
        return [
            p
            for p in self.points.values()
            if p.region == region and p.plan == plan and p.rule == rule
        ]

    def copies_for_resource(self, source_id: str, region: str) -> list[RecoveryPoint]:
        return sorted(
            (p for p in self.points.values() if p.region == region and p.source_id == source_id),
            key=lambda p: (p.run_id, p.kind.value),
        )

    def get_copies(
        self, region: str, keys: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], RecoveryPoint]:
        found = {}
        for source, run, kind in keys:
            point = self.points.get((source, run, f"{kind}@{region}"))
            if point is not None:
                found[(source, run, kind)] = point
        return found

    def dequeue_copies(self, region: str, sort_keys: list[str]) -> None:
        if sort_keys:
            self._write()
        for key in sort_keys:
            self.items.pop((f"COPYQ#{region}", key), None)

    def mark_copies_started(self, region: str, items: list[dict[str, Any]]) -> None:
        if items:
            self._write()
        for item in items:
            self.items[(f"COPYQ#{region}", item["sk"])] = {**item, "pk": f"COPYQ#{region}"}

    def enqueue_copy(self, region: str, sort_key: str, attrs: dict[str, Any]) -> bool:
        self._write()
        key = (f"COPYQ#{region}", sort_key)
        if key in self.items:
            return False
        self.items[key] = {"pk": key[0], "sk": sort_key, **attrs}
        return True

    def enqueue_copies(self, region: str, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """As the catalog's: 100 per transaction, one write each; an item already queued is
        skipped, the rest of its chunk written all or nothing; the sort keys newly queued."""
        unique = dict(items)
        keys = sorted(unique)
        queued: list[str] = []
        for start in range(0, len(keys), 100):
            chunk = [
                k for k in keys[start : start + 100] if (f"COPYQ#{region}", k) not in self.items
            ]
            try:
                for _ in chunk:
                    self._write()  # a failing table fails the chunk before anything is written
            except CatalogUnavailable as exc:  # as boto3 raises it
                raise ClientError({"Error": {"Code": str(exc)}}, "TransactWriteItems") from exc
            for k in chunk:
                self.items[(f"COPYQ#{region}", k)] = {"pk": f"COPYQ#{region}", "sk": k, **unique[k]}
            queued.extend(chunk)
        return queued

    def transition(
        self,
        point: RecoveryPoint,
        old: PointStatus,
        new: PointStatus,
        extra: dict[str, str] | None = None,
    ) -> bool:
        self._write()
        current = self.points.get(self._key(point))
        if current is None or current.status is not old:
            return False
        changed = current.model_dump() | {"status": new, **(extra or {})}
        self.points[self._key(point)] = RecoveryPoint.model_validate(changed)
        return True

    def mark(
        self,
        point: RecoveryPoint,
        status: PointStatus,
        *,
        when: datetime,
        error: str | None = None,
        reason: str | None = None,
    ) -> RecoveryPoint:
        updated = marked(point, status, when=when, error=error, reason=reason)
        self.put_point(updated)
        return updated


def _owned(tags: dict[str, str], owner: dict[str, str] | None) -> bool:
    return T.is_managed(tags) and all(tags.get(k) == v for k, v in (owner or {}).items())


@dataclass
class FakeEc2:
    """Instances with volumes; AMIs (with a snapshot per volume) and snapshots, tagged."""

    clock: Callable[[], datetime]
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    amis: dict[str, dict[str, Any]] = field(default_factory=dict)
    snaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    made_by_lifeboat: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    run_of: dict[str, str] = field(default_factory=dict)  # Lifeboat's artifacts by their run
    die_after_create: bool = False
    subnet_list: list[dict[str, Any]] = field(default_factory=list)
    volume_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. Encrypted
    locks: dict[str, SnapshotLock] = field(default_factory=dict)  # in force until expires_on
    refuse_locks: set[str] = field(default_factory=set)  # snapshot ids LockSnapshot refuses
    refuse_all_locks: bool = False
    lock_calls: list[tuple[str, str, int]] = field(default_factory=list)  # LockSnapshot calls
    storage: dict[str, int] = field(default_factory=dict)  # instance-store GB by type
    group_names: dict[str, str] = field(default_factory=dict)  # security group id -> name

    def add_instance(self, plan: str, volumes: int = 2) -> str:
        iid = new_id("i")
        self.instances[iid] = {
            "InstanceId": iid,
            "InstanceType": "t3.medium",
            "State": {"Name": "running"},
            "Placement": {"AvailabilityZone": "us-east-1a"},
            "RootDeviceName": "/dev/xvda",
            "Tags": [{"Key": T.PLAN, "Value": plan}],
            "BlockDeviceMappings": [
                {
                    "DeviceName": "/dev/xvda" if n == 0 else f"/dev/sd{chr(102 + n)}",
                    "Ebs": {"VolumeId": new_id("vol")},
                }
                for n in range(volumes)
            ],
        }
        return iid

    def _volumes_of(self, iid: str) -> list[dict[str, Any]]:
        return [m for m in self.instances[iid]["BlockDeviceMappings"] if m.get("Ebs")]

    # discovery and description
    def discover_instances(self, plan: str) -> list[str]:
        return sorted(
            i
            for i, d in self.instances.items()
            if T.to_dict(d["Tags"]).get(T.PLAN) == plan
            and (T.FENCED not in T.to_dict(d["Tags"]) or d["State"]["Name"] == "running")
        )

    def describe_instances(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: self.instances[i] for i in ids if i in self.instances}

    def volumes(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            v: {"VolumeId": v, "Size": 8, "VolumeType": "gp3", **self.volume_attrs.get(v, {})}
            for v in ids
        }

    def subnets(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {s["SubnetId"]: s for s in self.subnet_list if s["SubnetId"] in ids}

    def vpc_subnets(self, vpc_id: str) -> list[dict[str, Any]]:
        return [s for s in self.subnet_list if s.get("VpcId") == vpc_id]

    def vpc_instances(self, vpc_ids: list[str]) -> list[dict[str, Any]]:
        return [d for d in self.instances.values() if d.get("VpcId") in vpc_ids]

    def instance_storage(self, types: list[str]) -> dict[str, int]:
        return {t: self.storage.get(t, 0) for t in types}

    def addresses(self, instance_ids: list[str]) -> dict[str, dict[str, str]]:
        return {}

    def security_group_names(self, ids: list[str]) -> dict[str, str]:
        return {g: self.group_names[g] for g in ids if g in self.group_names}

    def target_groups(self, instance_ids: set[str]) -> dict[str, list[TargetGroupMembership]]:
        return {}

    def instance_config(
        self, instance: dict[str, Any], volumes: Any, subnets: Any, addresses: Any, groups: Any
    ) -> InstanceConfig:
        from lifeboat.aws.ec2 import Ec2Gateway

        return Ec2Gateway.instance_config(
            self,  # type: ignore[arg-type]
            instance,
            volumes,
            subnets,
            addresses,
            groups,
        )

    # creation (tagged at creation, like TagSpecifications)
    def _killed(self) -> None:
        if self.die_after_create:
            self.die_after_create = False
            raise TaskKilled("Task timed out after 900.00 seconds")

    def create_image(self, instance_id: str, name: str, reboot: bool, tags: dict[str, str]) -> str:
        if any(i["Name"] == name for i in self.amis.values()):
            raise RuntimeError(f"InvalidAMIName.Duplicate: {name}")
        image_id = new_id("ami")
        mappings = []
        for m in self._volumes_of(instance_id):
            sid = self._snapshot(m["Ebs"]["VolumeId"], tags)
            mappings.append({"DeviceName": m["DeviceName"], "Ebs": {"SnapshotId": sid}})
        self.amis[image_id] = {
            "ImageId": image_id,
            "Name": name,
            "State": "available",
            "CreationDate": self.clock().isoformat(),
            "RootDeviceName": "/dev/xvda",
            "Tags": T.to_list(tags),
            "BlockDeviceMappings": mappings,
        }
        self.made_by_lifeboat.add(image_id)
        self.run_of[image_id] = tags[T.RUN]
        self._killed()
        return image_id

    def _snapshot(self, volume_id: str, tags: dict[str, str]) -> str:
        sid = self._store_snapshot(volume_id, tags)
        self.made_by_lifeboat.add(sid)
        self.run_of[sid] = tags[T.RUN]
        return sid

    def _store_snapshot(self, volume_id: str, tags: dict[str, str]) -> str:
        sid = new_id("snap")
        self.snaps[sid] = {
            "SnapshotId": sid,
            "VolumeId": volume_id,
            "VolumeSize": 8,
            "State": "completed",
            "StartTime": self.clock(),
            "Tags": T.to_list(tags),
        }
        return sid

    def create_snapshots(
        self, instance_id: str, exclude_boot: bool, tags: dict[str, str], description: str
    ) -> list[dict[str, Any]]:
        made = [
            self.snaps[self._snapshot(m["Ebs"]["VolumeId"], tags)]
            for m in self._volumes_of(instance_id)
        ]
        self._killed()
        return made

    def plant_foreign(
        self, kind: str, tags: dict[str, str], volume_id: str, age: timedelta = timedelta(days=1)
    ) -> str:
        """Someone else's artifact (made ``age`` ago), tagged later to look like Lifeboat's."""
        made_at = self.clock() - age
        if kind == "image":
            image_id = new_id("ami")
            self.amis[image_id] = {
                "ImageId": image_id,
                "Name": f"theirs-{image_id}",
                "State": "available",
                "CreationDate": made_at.isoformat(),
                "Tags": T.to_list(tags),
                "BlockDeviceMappings": [],
            }
            return image_id
        sid = self._store_snapshot(volume_id, tags)
        self.snaps[sid]["StartTime"] = made_at
        return sid

    # reading artifacts
    def run_images(self, run_id: str, sources: list[str] | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for image in self.amis.values():
            tags = T.to_dict(image["Tags"])
            if tags.get(T.RUN) == run_id and T.SOURCE in tags:
                source = tags[T.SOURCE]
                if (sources is None or source in sources) and (
                    source not in found or image["Name"] == T.image_name(source, run_id)
                ):
                    found[source] = image
        return found

    def run_snapshots(
        self, run_id: str, kind: str, sources: list[str] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for snap in self.snaps.values():
            tags = T.to_dict(snap["Tags"])
            if tags.get(T.RUN) == run_id and tags.get(T.KIND) == kind and T.SOURCE in tags:
                if sources is None or tags[T.SOURCE] in sources:
                    found.setdefault(tags[T.SOURCE], []).append(snap)
        return found

    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: self.amis[i] for i in ids if i in self.amis}

    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: self.snaps[i] for i in ids if i in self.snaps}

    def snapshots_in_use(
        self, snapshot_ids: list[str], ignore_image: str | None = None
    ) -> set[str]:
        used = {
            m["Ebs"]["SnapshotId"]
            for i in self.amis.values()
            if i["ImageId"] != ignore_image
            for m in i["BlockDeviceMappings"]
        }
        return used & set(snapshot_ids)

    def _live_lock(self, sid: str) -> SnapshotLock | None:
        lock = self.locks.get(sid)
        if lock is None or sid not in self.snaps or lock.expires_on is None:
            return None
        return lock if lock.expires_on > self.clock() else None

    def snapshot_locks(self, ids: list[str]) -> dict[str, SnapshotLock]:
        return {sid: lock for sid in ids if (lock := self._live_lock(sid)) is not None}

    def locked_snapshots(self, ids: list[str]) -> set[str]:
        return set(self.snapshot_locks(ids))

    def lock_snapshots(
        self, ids: list[str], mode: str, days: int, cool_off_hours: int = 0
    ) -> dict[str, SnapshotLock]:
        """Like EC2: the lock ends ``days`` from now, a compliance lock past its cool-off is
        never shortened (``IncorrectState``), an unknown snapshot is ``NotFound``."""
        results: dict[str, SnapshotLock] = {}
        now = self.clock()
        for sid in ids:
            self.lock_calls.append((sid, mode, days))
            error = None
            if sid not in self.snaps:
                error = "InvalidSnapshot.NotFound"
            elif self.refuse_all_locks or sid in self.refuse_locks:
                error = "UnauthorizedOperation"
            else:
                old = self._live_lock(sid)
                ends = now + timedelta(days=days)
                if old and old.state == "compliance" and old.expires_on and old.expires_on > ends:
                    error = "IncorrectState"
            if error is not None:
                results[sid] = SnapshotLock(snapshot_id=sid, error=error)
                continue
            state = "compliance-cooloff" if mode == "compliance" and cool_off_hours else mode
            self.locks[sid] = SnapshotLock(snapshot_id=sid, state=state, expires_on=ends)
            results[sid] = self.locks[sid]
        return results

    def lock_by_hand(self, snapshot_id: str, until: datetime, mode: str = "governance") -> None:
        """Someone locks a snapshot outside Lifeboat (the catalog does not know)."""
        self.locks[snapshot_id] = SnapshotLock(
            snapshot_id=snapshot_id, state=mode, expires_on=until
        )

    def managed_images(self, plan: str) -> list[dict[str, Any]]:
        return [
            i
            for i in self.amis.values()
            if T.is_managed(T.to_dict(i["Tags"])) and T.to_dict(i["Tags"]).get(T.PLAN) == plan
        ]

    def managed_snapshots(self, plan: str) -> list[dict[str, Any]]:
        return [
            s
            for s in self.snaps.values()
            if T.is_managed(T.to_dict(s["Tags"])) and T.to_dict(s["Tags"]).get(T.PLAN) == plan
        ]

    # deletion (only Lifeboat's own, by tag, like the adapter)
    def deregister_image(
        self, image_id: str, owner_tags: dict[str, str] | None = None
    ) -> list[str]:
        image = self.amis.get(image_id)
        if image is None:
            return []
        if not _owned(T.to_dict(image["Tags"]), owner_tags):
            raise NotOwnedError(f"{image_id} is not Lifeboat's")
        del self.amis[image_id]
        self.deleted.add(image_id)
        return [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]

    def delete_snapshot(
        self, snapshot_id: str, owner_tags: dict[str, str] | None = None, ignore_image: Any = None
    ) -> str:
        return self.delete_snapshots([snapshot_id], owner_tags, ignore_image)[snapshot_id]

    def delete_snapshots(
        self,
        snapshot_ids: list[str],
        owner_tags: dict[str, str] | None = None,
        ignore_image: str | None = None,
    ) -> dict[str, str]:
        outcome: dict[str, str] = {}
        used = self.snapshots_in_use(snapshot_ids, ignore_image)
        for sid in snapshot_ids:
            snap = self.snaps.get(sid)
            if snap is None:
                outcome[sid] = "gone"
            elif not _owned(T.to_dict(snap["Tags"]), owner_tags):
                outcome[sid] = "not-owned"
            elif sid in used:
                outcome[sid] = "in-use"
            elif self._live_lock(sid) is not None:  # EC2 refuses, whatever was read before
                outcome[sid] = "locked"
            else:
                del self.snaps[sid]
                self.deleted.add(sid)
                outcome[sid] = "deleted"
        return outcome

    def exists(self, artifact_id: str) -> bool:
        return artifact_id in self.amis or artifact_id in self.snaps


@dataclass
class FakeRds:
    """DB instances and clusters (none unless added) and their snapshots, tagged at creation.
    A new snapshot is ``creating``; ``finish`` makes it ``available``."""

    dbs: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    snaps: dict[str, dict[str, Any]] = field(default_factory=dict)  # by identifier
    made_by_lifeboat: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)

    def add_db(self, plan: str, db_id: str = "elearn-db", cluster: bool = False) -> str:
        described = {"Engine": "postgres", "AllocatedStorage": 20, "TagList": []}
        if plan:
            described["TagList"] = [{"Key": T.PLAN, "Value": plan}]
        (self.clusters if cluster else self.dbs)[db_id] = described
        return db_id

    def databases(self) -> list[dict[str, Any]]:
        return [{"DBInstanceIdentifier": i, **d} for i, d in self.dbs.items()]

    def discover(self, plan: str) -> list[tuple[str, str]]:
        found = [
            ("db", i)
            for i, d in self.dbs.items()
            if _plan_of(d) == plan and not d.get("DBClusterIdentifier")  # the cluster's snapshot
        ]
        return found + [("cluster", i) for i, d in self.clusters.items() if _plan_of(d) == plan]

    def managed_snapshots(self, plan: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (s["kind"], s)
            for s in self.snaps.values()
            if T.is_managed(T.to_dict(s["TagList"])) and _plan_of(s) == plan
        ]

    def describe_db(self, db_id: str) -> dict[str, Any] | None:
        return self.dbs.get(db_id)

    def describe_cluster(self, cluster_id: str) -> dict[str, Any] | None:
        return self.clusters.get(cluster_id)

    def db_config(self, db: dict[str, Any]) -> DatabaseConfig:
        return DatabaseConfig(
            engine=db.get("Engine"),
            instance_class=db.get("DBInstanceClass"),
            availability_zone=db.get("AvailabilityZone"),
            multi_az=bool(db.get("MultiAZ")),
            subnet_group=(db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            security_group_ids=[g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])],
            tags=T.to_dict(db.get("TagList")),
        )

    def _create(self, kind: str, snapshot_id: str, tags: dict[str, str]) -> str:
        self.snaps.setdefault(
            snapshot_id,
            {
                "kind": kind,
                "Status": "creating",
                "AllocatedStorage": 20,
                "TagList": T.to_list(tags),
                "DBClusterSnapshotArn" if kind == "cluster" else "DBSnapshotArn": (
                    f"arn:aws:rds:eu-west-1:123456789012:"
                    f"{'cluster-snapshot' if kind == 'cluster' else 'snapshot'}:{snapshot_id}"
                ),
            },
        )
        self.made_by_lifeboat.add(snapshot_id)
        return snapshot_id

    def create_db_snapshot(
        self, db_id: str, snapshot_id: str, tags: dict[str, str], not_before: datetime | None = None
    ) -> str:
        return self._create("db", snapshot_id, tags)

    def create_cluster_snapshot(
        self,
        cluster_id: str,
        snapshot_id: str,
        tags: dict[str, str],
        not_before: datetime | None = None,
    ) -> str:
        return self._create("cluster", snapshot_id, tags)

    def finish(self, snapshot_id: str, status: str = "available") -> None:
        self.snaps[snapshot_id]["Status"] = status

    def snapshot(self, kind: str, snapshot_id: str) -> dict[str, Any] | None:
        snap = self.snaps.get(snapshot_id)
        return snap if snap is not None and snap["kind"] == kind else None

    def delete_snapshot(
        self, kind: str, snapshot_id: str, owner_tags: dict[str, str] | None = None
    ) -> str:
        snap = self.snapshot(kind, snapshot_id)
        if snap is None:
            return "gone"
        if not _owned(T.to_dict(snap["TagList"]), owner_tags):
            raise NotOwnedError(f"{snapshot_id} is not Lifeboat's")
        del self.snaps[snapshot_id]
        self.deleted.add(snapshot_id)
        return "deleted"


def _plan_of(described: dict[str, Any]) -> str | None:
    return T.to_dict(described.get("TagList")).get(T.PLAN)


LIVE_STATES = ("pending", "running", "stopping", "stopped")


def client_error(code: str, operation: str = "Fake") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


@dataclass
class FakeEc2Restore:
    """EC2 and ELBv2 for a restore, in memory (implements ``Ec2RestorePort``). RunInstances is
    idempotent by client token, as EC2's is; ``no_capacity`` holds (AZ, type) pairs refused
    with InsufficientInstanceCapacity; ``fail`` makes an operation raise a ``ClientError``."""

    zones: list[str] = field(default_factory=lambda: ["us-east-1a", "us-east-1b", "us-east-1c"])
    subnets: list[dict[str, Any]] = field(default_factory=list)
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    eips: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    statuses: dict[str, dict[str, str]] = field(default_factory=dict)
    no_capacity: set[tuple[str, str]] = field(default_factory=set)
    fail: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    launches: list[dict[str, Any]] = field(default_factory=list)
    security_group_list: list[dict[str, Any]] = field(default_factory=list)
    key_pairs: set[str] = field(default_factory=set)
    # volumes attached to a replacement after its restore ("device vol-…"), by instance
    attached_later: dict[str, list[str]] = field(default_factory=dict)
    terminations: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)

    def _maybe_fail(self, operation: str) -> None:
        if operation in self.fail:
            raise client_error(self.fail[operation], operation)

    def add_instance(
        self, az: str, tags: dict[str, str], state: str = "running", subnet: str | None = None
    ) -> str:
        iid = new_id("i")
        self.instances[iid] = {
            "InstanceId": iid,
            "State": {"Name": state},
            "Placement": {"AvailabilityZone": az},
            "SubnetId": subnet,
            "Tags": T.to_list(tags),
        }
        return iid

    def tags_of(self, instance_id: str) -> dict[str, str]:
        return T.to_dict(self.instances[instance_id].get("Tags"))

    def state_of(self, instance_id: str) -> str:
        return str(self.instances[instance_id]["State"]["Name"])

    def live(self) -> set[str]:
        return {i for i, d in self.instances.items() if d["State"]["Name"] in LIVE_STATES}

    # reading
    def availability_zones(self) -> list[str]:
        return sorted(self.zones)

    def vpc_subnets(self, vpc_id: str) -> list[dict[str, Any]]:
        return [dict(s) for s in self.subnets if s.get("VpcId") == vpc_id]

    def region_subnets(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self.subnets]

    def security_groups(self, vpc_id: str) -> list[dict[str, Any]]:
        return [dict(g) for g in self.security_group_list if g.get("VpcId") == vpc_id]

    def key_pair_exists(self, name: str) -> bool:
        return name in self.key_pairs

    def instance(self, instance_id: str) -> dict[str, Any] | None:
        found = self.instances.get(instance_id)
        return dict(found) if found else None

    def replacement_of(self, execution_arn: str) -> dict[str, Any] | None:
        for iid in sorted(self.live()):
            if self.tags_of(iid).get(T.RESTORE_EXECUTION) == execution_arn:
                return dict(self.instances[iid])
        return None

    def status(self, instance_id: str) -> dict[str, str]:
        state = self.state_of(instance_id)
        checks = self.statuses.get(instance_id, {"system": "ok", "instance": "ok"})
        return {"state": state, **checks}

    # changing
    def launch(
        self,
        plan: InstancePlan,
        candidate: Candidate,
        instance_type: str,
        client_token: str,
        tags: dict[str, str],
    ) -> dict[str, Any]:
        self._maybe_fail("RunInstances")
        if client_token in self.tokens:
            return dict(self.instances[self.tokens[client_token]])
        if (candidate.availability_zone, instance_type) in self.no_capacity:
            raise client_error("InsufficientInstanceCapacity", "RunInstances")
        iid = self.add_instance(candidate.availability_zone, tags, subnet=candidate.subnet_id)
        self.instances[iid]["InstanceType"] = instance_type
        self.tokens[client_token] = iid
        self.launches.append(
            {"id": iid, "plan": plan.source_id, "type": instance_type, "token": client_token}
        )
        return dict(self.instances[iid])

    def stop(self, instance_id: str) -> str:
        self.instances[instance_id]["State"] = {"Name": "stopped"}
        return "stopping"

    def start(self, instance_id: str) -> str:
        self._maybe_fail("StartInstances")
        self.instances[instance_id]["State"] = {"Name": "running"}
        return "starting"

    def fence(self, instance_id: str, execution_name: str) -> None:
        tags = {**self.tags_of(instance_id), T.FENCED: execution_name}
        self.instances[instance_id]["Tags"] = T.to_list(tags)

    def unfence(self, instance_id: str) -> None:
        tags = self.tags_of(instance_id)
        tags.pop(T.FENCED, None)
        self.instances[instance_id]["Tags"] = T.to_list(tags)

    def address(self, allocation_id: str) -> dict[str, Any] | None:
        found = self.eips.get(allocation_id)
        return dict(found) if found else None

    def associate(self, allocation_id: str, instance_id: str) -> None:
        self._maybe_fail("AssociateAddress")
        self.eips[allocation_id]["InstanceId"] = instance_id

    def register(self, group_arn: str, instance_id: str, port: int | None) -> None:
        self._maybe_fail("RegisterTargets")
        self.groups.setdefault(group_arn, set()).add(instance_id)

    def deregister(self, group_arn: str, instance_id: str, port: int | None) -> None:
        self.groups.setdefault(group_arn, set()).discard(instance_id)

    def targets(self, group_arn: str) -> set[str]:
        return set(self.groups.get(group_arn, set()))

    def later_volumes(
        self, instance_id: str, execution_arn: str, since: datetime, until: datetime | None
    ) -> list[str]:
        return list(self.attached_later.get(instance_id, []))

    def terminate_replacement(
        self, instance_id: str, execution_arn: str, since: datetime, until: datetime | None
    ) -> str:
        self.terminations.append((instance_id, since, until))
        found = self.instances.get(instance_id)
        if found is None or found["State"]["Name"] == "terminated":
            return "gone"
        tags = self.tags_of(instance_id)
        if tags.get(T.RESTORE_EXECUTION) != execution_arn or T.RESTORED_FROM not in tags:
            return "not-owned"
        found["State"] = {"Name": "terminated"}
        return "terminated"


@dataclass
class FakeRdsRestore:
    """RDS for a restore, in memory (implements ``RdsRestorePort``); the databases it restores
    appear in ``rds`` (the shared :class:`FakeRds`), ``creating``."""

    rds: FakeRds
    restores: list[dict[str, Any]] = field(default_factory=list)
    subnet_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    parameter_groups: set[str] = field(default_factory=set)

    def subnet_group(self, name: str) -> dict[str, Any] | None:
        found = self.subnet_groups.get(name)
        return dict(found) if found else None

    def parameter_group_exists(self, name: str) -> bool:
        return name in self.parameter_groups

    def restore_window(self, db_id: str) -> tuple[datetime, datetime] | None:
        """From the database's retention and LatestRestorableTime (``EarliestRestorableTime``
        when a test sets it)."""
        db = self.rds.dbs.get(db_id) or {}
        latest, days = db.get("LatestRestorableTime"), int(db.get("BackupRetentionPeriod") or 0)
        if latest is None or not days:
            return None
        return db.get("EarliestRestorableTime", latest - timedelta(days=days)), latest

    def restore(self, plan: DatabasePlan, tags: dict[str, str]) -> dict[str, Any]:
        existing = self.rds.dbs.get(plan.new_identifier)
        if existing is not None:
            if T.to_dict(existing.get("TagList")).get(T.RESTORE_EXECUTION) != tags.get(
                T.RESTORE_EXECUTION
            ):
                raise RuntimeError(f"{plan.new_identifier} exists and was not made by this restore")
            return dict(existing)
        db = {
            "DBInstanceIdentifier": plan.new_identifier,
            "DBInstanceStatus": "creating",
            "AvailabilityZone": plan.target_az,
            "MultiAZ": plan.multi_az,
            "DBSubnetGroup": {"DBSubnetGroupName": plan.subnet_group},
            "DBParameterGroups": [{"DBParameterGroupName": plan.parameter_group}],
            "VpcSecurityGroups": [{"VpcSecurityGroupId": g} for g in plan.security_group_ids],
            "TagList": T.to_list(tags),
        }
        self.rds.dbs[plan.new_identifier] = db
        self.restores.append({"id": plan.new_identifier, "point_in_time": plan.restore_time})
        return dict(db)


# mypy checks here that each fake satisfies its port (a missing or mistyped method fails)
_catalog: type[CatalogPort] = FakeCatalog
_ec2: type[Ec2Port] = FakeEc2
_rds: type[RdsPort] = FakeRds
