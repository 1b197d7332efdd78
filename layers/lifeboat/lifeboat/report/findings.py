"""What is not protected, or not as well as it looks: unprotected neighbours (same VPC and
tier as protected instances, no declared plan), instance-store volumes (in no snapshot),
unencrypted volumes and snapshots, single-AZ databases without automated backups, and rules
whose newest point is stale."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lifeboat import tags as T
from lifeboat.report.models import Finding, FleetInputs, ResourceStatus

MAX_IDS_LISTED = 5


def not_protected(inputs: FleetInputs, resources: list[ResourceStatus]) -> list[Finding]:
    return [
        *_unprotected_neighbours(inputs),
        *_instance_store(inputs),
        *_unencrypted_volumes(inputs),
        *_unencrypted_snapshots(inputs),
        *_databases_without_backups(inputs),
        *stale_rules(inputs, resources),
    ]


def _tier(inputs: FleetInputs, instance: dict[str, Any]) -> str | None:
    az = instance.get("Placement", {}).get("AvailabilityZone", "")
    for subnet in inputs.subnets.get(instance.get("VpcId", ""), []):
        if subnet["SubnetId"] == instance.get("SubnetId"):
            return T.subnet_tier(T.to_dict(subnet.get("Tags")), az)
    return None


def _name(described: dict[str, Any], key: str = "Tags") -> str:
    return T.to_dict(described.get(key)).get("Name", "")


def _unprotected_neighbours(inputs: FleetInputs) -> list[Finding]:
    protected_tiers = {
        (d.get("VpcId"), tier)
        for d in inputs.instances.values()
        if (tier := _tier(inputs, d)) is not None
    }
    findings = []
    for instance in sorted(inputs.neighbours, key=lambda i: str(i["InstanceId"])):
        plan = T.to_dict(instance.get("Tags")).get(T.PLAN)
        if instance["InstanceId"] in inputs.instances or plan in inputs.plans.plans:
            continue
        tier = _tier(inputs, instance)
        if tier is None or (instance.get("VpcId"), tier) not in protected_tiers:
            continue
        why = "no lifeboat:plan tag" if plan is None else f"plan {plan!r} is not declared"
        findings.append(
            Finding(
                kind="untagged_instance",
                id=instance["InstanceId"],
                name=_name(instance),
                detail=f"tier {tier!r} of {instance.get('VpcId')} like protected servers, "
                f"but {why}: never backed up",
            )
        )
    return findings


def _instance_store(inputs: FleetInputs) -> list[Finding]:
    return [
        Finding(
            kind="instance_store",
            id=iid,
            name=_name(d),
            detail=f"{d['InstanceType']} has {inputs.instance_storage[d['InstanceType']]} GB of "
            "instance-store volumes: their data is in no snapshot",
        )
        for iid, d in sorted(inputs.instances.items())
        if inputs.instance_storage.get(d.get("InstanceType", ""), 0) > 0
    ]


def _unencrypted_volumes(inputs: FleetInputs) -> list[Finding]:
    findings = []
    for iid, described in sorted(inputs.instances.items()):
        for mapping in described.get("BlockDeviceMappings", []):
            volume_id = (mapping.get("Ebs") or {}).get("VolumeId")
            volume = inputs.volumes.get(volume_id or "")
            if volume is not None and not volume.get("Encrypted", False):
                findings.append(
                    Finding(
                        kind="unencrypted_volume",
                        id=str(volume_id),
                        name=_name(described),
                        detail=f"{mapping.get('DeviceName')} of {iid} is not encrypted "
                        "(nor are its snapshots)",
                    )
                )
    return findings


def _unencrypted_snapshots(inputs: FleetInputs) -> list[Finding]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for snap in inputs.snapshots:
        if not snap.get("Encrypted", False):
            source = T.to_dict(snap.get("Tags")).get(T.SOURCE, "unknown")
            by_source[source].append(str(snap.get("SnapshotId")))
    return [
        Finding(
            kind="unencrypted_snapshot",
            id=source,
            detail=f"{len(ids)} unencrypted snapshot(s) of {source}: "
            + ", ".join(sorted(ids)[:MAX_IDS_LISTED])
            + (" …" if len(ids) > MAX_IDS_LISTED else ""),
        )
        for source, ids in sorted(by_source.items())
    ]


def _databases_without_backups(inputs: FleetInputs) -> list[Finding]:
    return [
        Finding(
            kind="db_without_backups",
            id=str(db["DBInstanceIdentifier"]),
            name=_name(db, "TagList"),
            detail=f"single-AZ ({db.get('AvailabilityZone') or 'unknown AZ'}), "
            "BackupRetentionPeriod 0: no automated backups, no point-in-time restore"
            + ("" if db["DBInstanceIdentifier"] in inputs.protected_dbs else ", no plan"),
        )
        for db in sorted(inputs.databases, key=lambda d: str(d["DBInstanceIdentifier"]))
        if not db.get("DBClusterIdentifier")
        and not db.get("MultiAZ", False)
        and int(db.get("BackupRetentionPeriod") or 0) == 0
    ]


def stale_rules(inputs: FleetInputs, resources: list[ResourceStatus]) -> list[Finding]:
    """One finding per plan rule with a resource whose newest completed point is older than
    the rule's interval plus the margin (or that has none)."""
    stale: dict[tuple[str, str], list[str]] = defaultdict(list)
    targets: dict[tuple[str, str], int] = {}
    for resource in resources:
        for rule in resource.rules:
            if rule.stale:
                key = (resource.plan, rule.rule)
                targets[key] = rule.target_seconds
                age = "no completed point" if rule.rpo_seconds is None else _age(rule.rpo_seconds)
                stale[key].append(f"{resource.name} ({resource.id}): {age}")
    return [
        Finding(
            kind="stale_rule",
            id=f"{plan}/{rule}",
            detail=f"target {_age(targets[(plan, rule)])} + {_age(inputs.margin_seconds)} "
            "margin; " + "; ".join(items),
        )
        for (plan, rule), items in sorted(stale.items())
    ]


def _age(seconds: int) -> str:
    if seconds >= 86400 and seconds % 3600 == 0:
        return f"{seconds / 86400:g} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds // 60} min"
