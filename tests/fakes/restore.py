"""EC2/ELBv2 and RDS for a restore, in memory (``Ec2RestorePort``, ``RdsRestorePort``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lifeboat import tags as T
from lifeboat.pacing import Pacing
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan
from tests.fakes.common import client_error, new_id
from tests.fakes.rds import FakeRds

LIVE_STATES = ("pending", "running", "stopping", "stopped")


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


@dataclass
class PacedEc2Restore:
    """``FakeEc2Restore`` whose RunInstances first waits for ``pacing``, as the adapter's
    Retrier does (one ``acquire`` per call, in the client's region); ``calls`` records when
    each call went (``clock``: the task's own)."""

    inner: FakeEc2Restore
    pacing: Pacing
    region: str = "us-east-1"
    clock: Callable[[], float] = time.time
    calls: list[float] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def replacement_of(self, execution_arn: str) -> dict[str, Any] | None:
        with _ONE_EC2:
            return self.inner.replacement_of(execution_arn)

    def launch(
        self,
        plan: InstancePlan,
        candidate: Candidate,
        instance_type: str,
        client_token: str,
        tags: dict[str, str],
    ) -> dict[str, Any]:
        self.pacing.acquire("RunInstances", self.region)
        self.calls.append(self.clock())
        with _ONE_EC2:
            return self.inner.launch(plan, candidate, instance_type, client_token, tags)


# Tasks in threads share one FakeEc2Restore: one call at a time (EC2 is consistent per call).
_ONE_EC2 = threading.Lock()
