"""An in-memory drill port (implements ``DrillPort``) with the adapter's own ownership rules:
it launches only into the drill network, terminates and deletes only what carries the drill's
tag and no plan tag. ``fail`` makes an operation raise a ``ClientError``; ``statuses`` makes an
instance's status checks stay impaired."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.aws.drill_ops import owned
from lifeboat.drill.models import DB_PREFIX
from lifeboat.errors import NotOwnedError
from lifeboat.ports import DrillPort
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan
from tests.fakes import client_error, new_id


@dataclass
class FakeDrills:
    subnets: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    dbs: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, dict[str, str]] = field(default_factory=dict)
    fail: dict[str, str] = field(default_factory=dict)
    launches: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    clock: Any = None

    def _now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.fail:
            raise client_error(self.fail[operation], operation)

    def plant(self, kind: str, resource_id: str, tags: dict[str, str], at: datetime) -> None:
        """A resource not launched through this port (production, or a forged drill tag)."""
        store = self.dbs if kind == "db" else self.instances
        store[resource_id] = {
            "id": resource_id,
            "state": "running" if kind != "db" else "available",
            "tags": dict(tags),
            "launched_at": at,
        }

    def live(self) -> dict[str, dict[str, Any]]:
        found = {i: d for i, d in self.instances.items() if d["state"] != "terminated"}
        return {**found, **{i: d for i, d in self.dbs.items() if d["state"] != "deleted"}}

    # --- the port ----------------------------------------------------------------------------
    def network(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return [dict(s) for s in self.subnets], [dict(g) for g in self.groups]

    def zones(self) -> list[str]:
        return ["us-east-1a", "us-east-1b", "us-east-1c"]

    def launch(
        self, plan: InstancePlan, candidate: Candidate, client_token: str, tags: dict[str, str]
    ) -> dict[str, Any]:
        self._maybe_fail("launch")
        subnet = next(s for s in self.subnets if s["SubnetId"] == candidate.subnet_id)
        assert T.DRILL_TIER in T.to_dict(subnet.get("Tags")), "IAM: only drill subnets"
        for group in plan.security_group_ids:
            found = next(g for g in self.groups if g["GroupId"] == group)
            assert T.DRILL_TIER in T.to_dict(found.get("Tags")), "IAM: only drill groups"
        if T.DRILL not in tags or T.PLAN in tags:
            raise NotOwnedError("drill launches carry the drill tag and no plan")
        iid = new_id("i")
        self.instances[iid] = {
            "id": iid,
            "state": "running",
            "tags": dict(tags),
            "launched_at": self._now(),
            "client_token": client_token,
            "subnet": candidate.subnet_id,
            "groups": list(plan.security_group_ids),
            "volumes": [v.model_dump() for v in plan.volumes],
        }
        self.launches.append({"id": iid, "token": client_token, "plan": plan})
        return {"InstanceId": iid}

    def restore_db(self, plan: DatabasePlan, tags: dict[str, str]) -> dict[str, Any]:
        self._maybe_fail("restore_db")
        assert plan.new_identifier.startswith(DB_PREFIX)
        self.dbs[plan.new_identifier] = {
            "id": plan.new_identifier,
            "state": "available",
            "tags": dict(tags),
            "launched_at": self._now(),
            "plan": plan,
        }
        return {"DBInstanceIdentifier": plan.new_identifier}

    def status(self, kind: str, resource_id: str) -> dict[str, str]:
        self._maybe_fail("status")
        if kind == "db":
            return {"state": self.dbs[resource_id]["state"]}
        checks = self.statuses.get(resource_id, {"system": "ok", "instance": "ok"})
        return {"state": self.instances[resource_id]["state"], **checks}

    def resources(self, execution_arn: str | None = None) -> list[dict[str, Any]]:
        found = []
        for kind, store in (("instance", self.instances), ("db", self.dbs)):
            for rid, item in sorted(store.items()):
                value = item["tags"].get(T.DRILL)
                if item["state"] in ("terminated", "deleted") or value is None:
                    continue
                if execution_arn is None or value == execution_arn:
                    found.append(
                        {
                            "kind": kind,
                            "id": rid,
                            "tags": dict(item["tags"]),
                            "launched_at": item["launched_at"],
                            "client_token": item.get("client_token"),
                            "state": item["state"],
                        }
                    )
        return found

    def terminate(self, instance_id: str, execution_arn: str) -> str:
        self._maybe_fail("terminate")
        item = self.instances.get(instance_id)
        if item is None or item["state"] == "terminated":
            return "gone"
        if not owned(item["tags"], execution_arn):
            return "not-owned"
        item["state"] = "terminated"  # its volumes and interface go with it
        return "terminated"

    def delete_db(self, db_id: str, execution_arn: str) -> str:
        self._maybe_fail("delete_db")
        item = self.dbs.get(db_id)
        if item is None or item["state"] == "deleted":
            return "gone"
        if not db_id.startswith(DB_PREFIX) or not owned(item["tags"], execution_arn):
            return "not-owned"
        item["state"] = "deleted"
        return "deleted"


_drills: DrillPort = FakeDrills()
