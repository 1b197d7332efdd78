"""What Route 53 and RDS do and moto 5.2.x does not, for applications and AZ evacuations.

* Hosted zone ids start with ``Z`` (``Z0123456789ABCDEFGHIJ``), as Route 53's do (moto makes
  22 characters of any letter), so a plans file that declares a zone validates as on AWS.
* Removing a group's subnets of an AZ (``UpdateAutoScalingGroup`` VPCZoneIdentifier): EC2 Auto
  Scaling replaces the members running in an AZ the group no longer uses with instances in its
  remaining AZs; moto keeps them where they are.
* A Route 53 change batch is applied in order and atomically, and a DELETE must give the record
  exactly as it is now (TTL and values), else the whole batch fails with InvalidChangeBatch:
  DELETE-then-CREATE in one batch is Route 53's compare-and-set. moto checks a CREATE against
  the records before the batch (so DELETE-then-CREATE of one name fails) and a DELETE against
  its journal of earlier changes (not the record as it is now).
* :func:`fail_az`: an Availability Zone fails. RDS fails a Multi-AZ DB instance whose primary
  runs there over to its standby in another AZ by itself (same endpoint); moto keeps no
  standby, so the instance's primary AZ moves to another AZ of its subnet group.
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import moto.autoscaling.models as autoscaling_models
import moto.route53.exceptions as route53_exceptions
import moto.route53.models as route53_models

ORIGINAL_ZONE_ID = route53_models.create_route53_zone_id
ORIGINAL_CHANGE_RECORDS = route53_models.Route53Backend.change_resource_record_sets
ORIGINAL_UPDATE_GROUP = autoscaling_models.AutoScalingBackend.update_auto_scaling_group


def _zone_id(*_args: Any, **_kwargs: Any) -> str:
    return "Z" + "".join(random.choices(string.ascii_uppercase + string.digits, k=20))


def _update_group(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    group = ORIGINAL_UPDATE_GROUP(backend, name, *args, **kwargs)
    zones = set(group.availability_zones)
    outside = [s for s in group.instance_states if s.instance.placement.zone not in zones]
    if outside:
        backend.ec2_backend.terminate_instances([s.instance.id for s in outside])
        group.instance_states = [s for s in group.instance_states if s not in outside]
        group.set_desired_capacity(group.desired_capacity)
    return group


class _ValuesDoNotMatch(route53_exceptions.Route53ClientError):  # type: ignore[misc]
    def __init__(self, name: str, record_type: str) -> None:
        super().__init__(
            "InvalidChangeBatch",
            f"Tried to delete resource record set [name='{name}', type='{record_type}'] but the "
            "values provided do not match the current values",
        )


def _simple(change: dict[str, Any]) -> bool:
    found = change.get("ResourceRecordSet", {})
    return (
        change.get("Action") in ("CREATE", "UPSERT", "DELETE")
        and "ResourceRecords" in found
        and "SetIdentifier" not in found
        and "AliasTarget" not in found
    )


def _key(name: str, record_type: str) -> tuple[str, str]:
    return name.rstrip(".").lower(), record_type


def _change_records(backend: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    if not change_list or not all(_simple(c) for c in change_list):
        return ORIGINAL_CHANGE_RECORDS(backend, zoneid, change_list)  # type: ignore[no-any-return]
    zone = backend.get_hosted_zone(zoneid)
    state = {
        _key(r.name, r.type): (str(r.ttl), sorted(r.records))
        for r in zone.rrsets
        if not r.set_identifier and not r.alias_target
    }
    for change in change_list:  # validated as a whole first: nothing applied on a refusal
        found = change["ResourceRecordSet"]
        key = _key(found["Name"], found["Type"])
        given = (str(found.get("TTL")), sorted(v["Value"] for v in found["ResourceRecords"]))
        if change["Action"] == "DELETE":
            if state.get(key) != given:
                raise _ValuesDoNotMatch(found["Name"], found["Type"])
            del state[key]
        elif change["Action"] == "CREATE" and key in state:
            raise route53_exceptions.ResourceRecordAlreadyExists(found["Name"], found["Type"])
        else:
            state[key] = given
    for change in change_list:  # then applied in order
        if change["Action"] == "DELETE":
            found = change["ResourceRecordSet"]
            name = found["Name"] if found["Name"].endswith(".") else found["Name"] + "."
            zone.delete_rrset({"Name": name, "Type": found["Type"]})
            zone.rr_changes.append(copy.deepcopy(change))
        else:
            ORIGINAL_CHANGE_RECORDS(backend, zoneid, [change])
    return None


@contextmanager
def apps_gap_fills() -> Iterator[None]:
    with (
        mock.patch.object(route53_models, "create_route53_zone_id", _zone_id),
        mock.patch.object(
            route53_models.Route53Backend, "change_resource_record_sets", _change_records
        ),
        mock.patch.object(
            autoscaling_models.AutoScalingBackend, "update_auto_scaling_group", _update_group
        ),
    ):
        yield


def fail_az(az: str, account_id: str = "123456789012", region: str = "us-east-1") -> list[str]:
    """RDS's own reaction to ``az`` failing: each Multi-AZ DB instance whose primary is there
    runs from another AZ of its subnet group from now on. The instances failed over."""
    from moto.rds.models import rds_backends

    moved: list[str] = []
    backend = rds_backends[account_id][region]
    for db in list(backend.databases.values()):
        if not getattr(db, "multi_az", False) or db.availability_zone != az:
            continue
        zones = [z for z in _group_zones(getattr(db, "_db_subnet_group_name", None)) if z != az]
        zones = zones or [z for z in (f"{region}a", f"{region}b", f"{region}c") if z != az]
        db.availability_zone = zones[0]
        moved.append(db.db_instance_identifier)
    return moved


def _group_zones(name: str | None) -> list[str]:
    """The AZs of a DB subnet group, as RDS describes it."""
    if not name:
        return []
    from lifeboat.aws.clients import client

    groups = client("rds").describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"]
    return sorted({s["SubnetAvailabilityZone"]["Name"] for g in groups for s in g["Subnets"]})
