"""An in-memory drill port (implements ``DrillPort``) with the adapter's own ownership rules:
it launches only into the drill network, terminates and deletes only what carries the drill's
tag and no plan tag. ``fail`` makes an operation raise a ``ClientError``; ``statuses`` makes an
instance's status checks stay impaired; ``protected`` is production as DescribeInstances shows it
(instances carrying a plan tag); ``app`` scripts the application check's runs (SSM command
invocation statuses, in order, the last repeated)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.aws.drill_ops import owned
from lifeboat.drill.cluster_plan import ClusterPlan
from lifeboat.drill.models import DB_PREFIX
from lifeboat.drill.ports import ClusterDrillPort, DrillClusterBusyError
from lifeboat.errors import NotOwnedError
from lifeboat.ports import DrillPort
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan
from tests.fakes.common import client_error, new_id


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
    protected: dict[str, dict[str, Any]] = field(default_factory=dict)
    app: list[dict[str, str]] = field(default_factory=lambda: [{"status": "Success"}])
    commands: list[dict[str, Any]] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)  # not listed yet (RDS creating it, say)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)  # Aurora drill clusters
    busy: int = 0  # delete_cluster answers DrillClusterBusyError this many times first

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
        found.update({i: d for i, d in self.clusters.items() if d["state"] != "deleted"})
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

    def production(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {"subnets": set(), "groups": set(), "vpcs": set()}
        for instance in self.protected.values():
            if T.PLAN not in T.to_dict(instance.get("Tags")):
                continue
            found["subnets"].add(instance.get("SubnetId") or "")
            found["vpcs"].add(instance.get("VpcId") or "")
            found["groups"].update(g["GroupId"] for g in instance.get("SecurityGroups", []))
        return {k: v - {""} for k, v in found.items()}

    def send_check(self, instance_id: str, commands: list[str], timeout_seconds: int) -> str:
        self._maybe_fail("send_check")
        assert self.instances[instance_id]["tags"].get(T.DRILL), "IAM: drill copies only"
        command_id = new_id("cmd")
        self.commands.append(
            {"id": command_id, "instance": instance_id, "commands": commands, "reads": 0}
        )
        return command_id

    def check_result(self, command_id: str, instance_id: str) -> dict[str, str]:
        self._maybe_fail("check_result")
        (command,) = [c for c in self.commands if c["id"] == command_id]
        assert command["instance"] == instance_id
        runs = len([c for c in self.commands if c["instance"] == instance_id])
        result = self.app[min(runs - 1, len(self.app) - 1)]
        command["reads"] += 1
        return {"status": result["status"], "output": result.get("output", "")}

    def restore_db(self, plan: DatabasePlan, tags: dict[str, str]) -> dict[str, Any]:
        self._maybe_fail("restore_db")
        assert plan.new_identifier.startswith(DB_PREFIX)
        taken = self.dbs.get(plan.new_identifier)
        if taken is not None and taken["state"] != "deleted":  # DBInstanceAlreadyExists
            return {
                "kind": "db",
                "id": plan.new_identifier,
                "tags": dict(taken["tags"]),
                "launched_at": taken["launched_at"],
                "state": taken["state"],
                "repeated": True,
            }
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
        if kind == "cluster":
            cluster = self.clusters[resource_id]
            up = cluster["state"] == "available" and bool(cluster["members"])
            return {"state": "available" if up else cluster["state"]}
        if kind == "db":
            return {"state": self.dbs[resource_id]["state"]}
        checks = self.statuses.get(resource_id, {"system": "ok", "instance": "ok"})
        return {"state": self.instances[resource_id]["state"], **checks}

    def resources(self, execution_arn: str | None = None) -> list[dict[str, Any]]:
        found = []
        stores = (("instance", self.instances), ("db", self.dbs), ("cluster", self.clusters))
        for kind, store in stores:
            for rid, item in sorted(store.items()):
                value = item["tags"].get(T.DRILL)
                gone = item["state"] in ("terminated", "deleted")
                if kind == "db" and item.get("cluster"):
                    continue  # a drill cluster's instance goes with its cluster
                if gone or value is None or rid in self.hidden:
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

    # --- ClusterDrillPort ------------------------------------------------------------------
    def restore_cluster(self, plan: ClusterPlan, tags: dict[str, str]) -> dict[str, Any]:
        self._maybe_fail("restore_cluster")
        assert plan.new_identifier.startswith(DB_PREFIX)
        assert plan.subnet_group and plan.subnet_group.startswith("lifeboat-drill")
        taken = self.clusters.get(plan.new_identifier)
        if taken is not None and taken["state"] != "deleted":
            return {**self._listed("cluster", plan.new_identifier, taken), "repeated": True}
        self.clusters[plan.new_identifier] = {
            "id": plan.new_identifier,
            "state": "available",
            "tags": dict(tags),
            "launched_at": self._now(),
            "plan": plan,
            "members": [],
        }
        return {"DBClusterIdentifier": plan.new_identifier}

    def add_instance(self, plan: ClusterPlan, tags: dict[str, str]) -> str:
        self._maybe_fail("add_instance")
        cluster = self.clusters[plan.new_identifier]
        if plan.instance_identifier not in cluster["members"]:
            cluster["members"].append(plan.instance_identifier)
            self.dbs[plan.instance_identifier] = {
                "id": plan.instance_identifier,
                "state": "available",
                "tags": dict(tags),
                "launched_at": self._now(),
                "cluster": plan.new_identifier,
            }
        return plan.instance_identifier

    def delete_cluster(self, cluster_id: str, execution_arn: str) -> str:
        self._maybe_fail("delete_cluster")
        item = self.clusters.get(cluster_id)
        if item is None or item["state"] == "deleted":
            return "gone"
        if not cluster_id.startswith(DB_PREFIX) or not owned(item["tags"], execution_arn):
            return "not-owned"
        for member in item["members"]:
            self.dbs[member]["state"] = "deleted"
        if self.busy > 0:
            self.busy -= 1
            raise DrillClusterBusyError(f"{cluster_id}: instances still being deleted")
        item["members"] = []
        item["state"] = "deleted"
        return "deleted"

    def _listed(self, kind: str, rid: str, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": kind,
            "id": rid,
            "tags": dict(item["tags"]),
            "launched_at": item["launched_at"],
            "state": item["state"],
        }


_drills: DrillPort = FakeDrills()
_cluster_drills: ClusterDrillPort = FakeDrills()


class _Pages:
    def __init__(self, method: Any) -> None:
        self.method = method

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [self.method(**kwargs)]


@dataclass
class AwsLikeEc2Client:
    """A boto3 EC2 client as far as ``DrillOps.launch`` and ``terminate`` go, with EC2's own
    rules for what they leave behind: RunInstances creates a volume for **every** EBS device of
    the AMI, the request's mapping of a device overriding the AMI's field by field (an AMI
    device the request does not name keeps the AMI's ``DeleteOnTermination``); termination
    deletes only the volumes marked ``DeleteOnTermination``. It rejects what EC2 rejects: a
    subnet given both at the top and in ``NetworkInterfaces``. ``requests`` holds every
    RunInstances request as sent."""

    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def get_paginator(self, operation: str) -> _Pages:
        return _Pages(getattr(self, operation))

    def describe_images(self, Filters: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        wanted = set(Filters[0]["Values"])
        return {"Images": [dict(i) for k, i in self.images.items() if k in wanted]}

    def run_instances(self, **request: Any) -> dict[str, Any]:
        self.requests.append(copy.deepcopy(request))
        if "SubnetId" in request and "NetworkInterfaces" in request:
            raise client_error("InvalidParameterCombination", "RunInstances")
        iid = new_id("i")
        devices = {
            m["DeviceName"]: dict(m["Ebs"])
            for m in self.images[request["ImageId"]]["BlockDeviceMappings"]
            if "Ebs" in m
        }
        for mapping in request.get("BlockDeviceMappings", []):
            devices[mapping["DeviceName"]] = {
                **devices.get(mapping["DeviceName"], {}),
                **mapping.get("Ebs", {}),
            }
        volume_tags: list[dict[str, str]] = next(
            (s["Tags"] for s in request["TagSpecifications"] if s["ResourceType"] == "volume"),
            [],
        )
        for device, ebs in devices.items():
            self.volumes[new_id("vol")] = {
                "instance": iid,
                "device": device,
                "delete_on_termination": ebs.get("DeleteOnTermination", True),
                "Tags": list(volume_tags),
            }
        instance_tags = next(
            s["Tags"] for s in request["TagSpecifications"] if s["ResourceType"] == "instance"
        )
        self.instances[iid] = {
            "InstanceId": iid,
            "State": {"Name": "running"},
            "Tags": list(instance_tags),
            "ClientToken": request["ClientToken"],
        }
        return {"Instances": [dict(self.instances[iid])]}

    def describe_instances(self, Filters: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        wanted = set(Filters[0]["Values"])
        found = [dict(i) for k, i in self.instances.items() if k in wanted]
        return {"Reservations": [{"Instances": found}] if found else []}

    def terminate_instances(self, InstanceIds: list[str]) -> dict[str, Any]:  # noqa: N803
        for iid in InstanceIds:
            self.instances[iid]["State"] = {"Name": "terminated"}
            for vid, volume in list(self.volumes.items()):
                if volume["instance"] == iid and volume["delete_on_termination"]:
                    del self.volumes[vid]
                elif volume["instance"] == iid:
                    volume["instance"] = None  # detached, still billed
        return {}
