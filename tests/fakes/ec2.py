"""In-memory fakes of the catalog and the EC2 and RDS gateways, with the same methods and
ownership checks as the adapters, for fast unit and model-based tests (no sockets).

Each fake keeps what exists and records what Lifeboat's calls made (``made_by_lifeboat``), so a
test can tell Lifeboat's artifacts from ones it planted itself. ``die_after_create`` makes the
next create call succeed at AWS and then kill the task (the Lambda time-out after the call);
``fail_after_writes`` makes catalog writes fail like an unavailable table after N more.

They satisfy the ``lifeboat.ports`` Protocols; :func:`tests.fakes.ports.fake_ports` builds
the ``Ports`` a domain function takes. This module holds the EC2 gateway (``Ec2Port``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lifeboat import tags as T
from lifeboat.errors import NotOwnedError
from lifeboat.models import (
    InstanceConfig,
    SnapshotLock,
    TargetGroupMembership,
)
from lifeboat.ports import Ec2Port
from tests.fakes.common import TaskKilled, new_id, owned_by


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
        if not owned_by(T.to_dict(image["Tags"]), owner_tags):
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
            elif not owned_by(T.to_dict(snap["Tags"]), owner_tags):
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


_ec2: type[Ec2Port] = FakeEc2  # the fake implements the port (checked by mypy)
