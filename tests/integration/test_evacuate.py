"""AZ evacuation of the eLearn application, through the real evacuate ASL in the emulator:
one execution, tiers in order (db → app → web), one recovery time T, the database endpoint
switched (and switched back by a rollback), a second evacuation refused, a dry run that
changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.clients import client
from lifeboat.local.seed_apps import SeededApplication, seed_elearn_application
from lifeboat.plans import default_plans
from tests.faults import FaultInjector, FaultRule
from tests.integration.helpers import history

pytestmark = pytest.mark.integration
AZ = "us-east-1a"


@pytest.fixture
def elearn_app(
    stack: Any, backed_up: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SeededApplication:
    """The backed-up eLearn stack declared as an application (plans file with its zone)."""
    from lifeboat.local.bridge import BRIDGE

    seeded = seed_elearn_application(backed_up)
    plans = default_plans().model_dump(mode="json")
    plans["plans"]["standard"]["applications"] = {"elearn": seeded.application()}
    plans_file = tmp_path / "plans.yaml"
    plans_file.write_text(yaml.safe_dump(plans), encoding="utf-8")
    monkeypatch.setitem(BRIDGE.local_environment, "LIFEBOAT_PLANS_FILE", str(plans_file))
    monkeypatch.setenv("LIFEBOAT_PLANS_FILE", str(plans_file))
    return seeded


@pytest.fixture
def groups() -> Iterator[list[str]]:
    """Auto Scaling groups a test makes, deleted after it (a fresh stack keeps them)."""
    made: list[str] = []
    yield made
    for name in made:
        client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


def evacuate(stack: Any, payload: dict[str, Any], name: str = "evacuate-test") -> dict[str, Any]:
    arn = executions.start(stack.outputs["EvacuateStateMachineArn"], payload, name)
    return executions.wait(arn, timeout=180, poll=0.05)


def record_value(app: SeededApplication) -> str:
    found = client("route53").list_resource_record_sets(
        HostedZoneId=app.zone_id, StartRecordName=app.record, MaxItems="1"
    )["ResourceRecordSets"][0]
    return str(found["ResourceRecords"][0]["Value"])


def inventory() -> tuple[set[str], set[str], dict[str, str]]:
    ec2 = client("ec2")
    instances = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    dbs = {d["DBInstanceIdentifier"] for d in client("rds").describe_db_instances()["DBInstances"]}
    return set(instances), dbs, instances


def member_tiers_in_order(execution_arn: str) -> list[str]:
    """The tier of each member's first task, in the order the execution scheduled them."""
    tiers = []
    for event in history(execution_arn):
        details = event.get("taskScheduledEventDetails")
        if not details:
            continue
        payload = json.loads(details["parameters"]).get("Payload", {})
        if payload.get("stage") == "act":
            tiers.append(payload["state"]["step"]["tier"])
    return tiers


def test_dry_run_plans_one_time_and_changes_nothing(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    before = inventory()
    result = evacuate(stack, {"app": "elearn", "az": AZ, "dry_run": True}, "evacuate-dry")
    assert result["status"] == "SUCCEEDED", result
    plan = result["output"]
    assert [t["tier"] for t in plan["tiers"]] == ["db", "app", "web"]
    steps = {s["resource_id"]: s for t in plan["tiers"] for s in t["steps"]}
    web1, app1 = backed_up.protected_instances["web-1"], backed_up.protected_instances["app-1"]
    # Only what runs in the failed AZ: web-2 (us-east-1b) is unaffected.
    assert set(steps) == {"elearn-db", web1, app1}
    assert backed_up.protected_instances["web-2"] in plan["unaffected"]
    assert steps["elearn-db"]["action"] == "restore_database"
    assert steps[web1]["action"] == steps[app1]["action"] == "restore_instance"
    # One T; the database restored to T exactly; each instance's point at or before it.
    recovery_time = plan["recovery_time"]
    assert steps["elearn-db"]["restore"]["restore_time"] == recovery_time
    assert all(steps[i]["point_at"] <= recovery_time for i in (web1, app1))
    assert plan["skew_seconds"] >= 0 and "skew_seconds" in plan
    assert plan["endpoint"]["current"] == elearn_app.db_endpoint
    # Nothing changed, no lock taken.
    assert inventory() == before
    assert record_value(elearn_app) == elearn_app.db_endpoint


def test_one_execution_recovers_the_tiers_in_order_with_the_endpoint_switched(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    web1, app1 = backed_up.protected_instances["web-1"], backed_up.protected_instances["app-1"]
    result = evacuate(stack, {"app": "elearn", "az": AZ, "reason": "AZ failed"})
    assert result["status"] == "SUCCEEDED", result
    out = result["output"]
    assert out["status"] == "recovered" and out["tiers"] == ["db", "app", "web"]
    # Order kept: no web before app before db.
    tiers = member_tiers_in_order(result["execution_arn"])
    assert tiers == ["db", "app", "web"]
    members = {m["resource_id"]: m for m in out["members"]}
    new_db = members["elearn-db"]["replacement_id"]
    described = client("rds").describe_db_instances(DBInstanceIdentifier=new_db)["DBInstances"]
    assert described[0]["AvailabilityZone"] != AZ
    # The application's record now names the restored database; its old value is recorded.
    assert record_value(elearn_app) == described[0]["Endpoint"]["Address"]
    assert out["changes"]["endpoint"]["old"] == elearn_app.db_endpoint
    # Web and app came back in another AZ, the web server with its Elastic IP.
    ec2 = client("ec2")
    for original in (web1, app1):
        replacement = members[original]["replacement_id"]
        placed = ec2.describe_instances(InstanceIds=[replacement])["Reservations"][0]
        assert placed["Instances"][0]["Placement"]["AvailabilityZone"] != AZ
    eip = ec2.describe_addresses(AllocationIds=[backed_up.elastic_ip["allocation_id"]])
    assert eip["Addresses"][0]["InstanceId"] == members[web1]["replacement_id"]
    # A second evacuation of the same application and AZ, while this one is done: allowed
    # again (its locks are released).
    assert out["recovery_time"] and isinstance(out["skew_seconds"], int)


def test_members_wait_for_the_shared_pace_in_their_map(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    # Given other restores of the stack that have just taken a minute of RunInstances
    table, ddb = stack.outputs["CatalogTableName"], client("dynamodb")
    key = {"pk": {"S": "PACE#us-east-1#RunInstances"}, "sk": {"S": "PACE"}}
    ahead = time.time() + 60
    ddb.put_item(TableName=table, Item={**key, "tat": {"N": f"{ahead:.3f}"}})
    # When the application is evacuated from the AZ
    result = evacuate(stack, {"app": "elearn", "az": AZ, "reason": "AZ failed"}, "evacuate-paced")
    # Then each server's launch stopped for the pace and waited in WaitForMemberPace (its
    # Lambda returned), then launched once; the tiers still came back in order
    assert result["status"] == "SUCCEEDED", result
    out = result["output"]
    assert out["status"] == "recovered" and out["tiers"] == ["db", "app", "web"]
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in history(result["execution_arn"])
        if "stateEnteredEventDetails" in e
    ]
    servers = [m for m in out["members"] if m["resource_id"].startswith("i-")]
    assert len(servers) == 2 and entered.count("WaitForMemberPace") == 2
    assert member_tiers_in_order(result["execution_arn"]) == ["db", "app", "app", "web", "web"]
    # and each drew one call from the bucket, after the minute the others took
    tat = float(ddb.get_item(TableName=table, Key=key)["Item"]["tat"]["N"])
    assert tat == pytest.approx(ahead + len(servers) / 1.6, abs=0.01)


def test_a_second_evacuation_is_refused_while_one_runs(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    from lifeboat.apps.stages import evacuation_lock
    from lifeboat.aws.catalog import Catalog

    catalog = Catalog(stack.outputs["CatalogTableName"])
    # Given an evacuation of elearn from us-east-1a holding its lock...
    import time

    catalog.acquire_lock(
        evacuation_lock("elearn", AZ),
        "arn:aws:states:us-east-1:123456789012:execution:x:running",
        int(time.time()),
        3600,
        {"requested_by": "first"},
    )
    before = inventory()
    result = evacuate(stack, {"app": "elearn", "az": AZ}, "evacuate-second")
    assert result["status"] == "REFUSED", result
    assert "already running" in str(result["output"]["cause"])
    assert inventory() == before
    assert record_value(elearn_app) == elearn_app.db_endpoint


def test_a_failure_in_the_web_tier_rolls_back_only_what_this_evacuation_changed(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    web1, app1 = backed_up.protected_instances["web-1"], backed_up.protected_instances["app-1"]
    bastion = backed_up.other_instances["bastion (untagged)"]
    # Something this evacuation did not do: a person fenced the bastion.
    client("ec2").create_tags(Resources=[bastion], Tags=[{"Key": T.FENCED, "Value": "someone"}])
    _ids, dbs_before, _states = inventory()
    with FaultInjector(
        [
            FaultRule(
                "AssociateAddress",
                "InvalidParameterValue",
                times=1,
                match={"AllocationId": backed_up.elastic_ip["allocation_id"]},
            )
        ]
    ):
        result = evacuate(stack, {"app": "elearn", "az": AZ}, "evacuate-web-fails")
    assert result["status"] == "FAILED", result
    assert "InvalidParameterValue" in str(result["cause"])
    # The record is switched back to the old database.
    assert record_value(elearn_app) == elearn_app.db_endpoint
    # app-1 and web-1 are given back (unfenced, started, web-1 keeps its address), their
    # replacements terminated; the restored database is kept (never deleted automatically).
    ec2 = client("ec2")
    for original in (web1, app1):
        found = ec2.describe_instances(InstanceIds=[original])["Reservations"][0]["Instances"][0]
        assert T.FENCED not in T.to_dict(found.get("Tags"))
        assert found["State"]["Name"] in ("pending", "running")
    eip = ec2.describe_addresses(AllocationIds=[backed_up.elastic_ip["allocation_id"]])
    assert eip["Addresses"][0]["InstanceId"] == web1
    replacements = [
        i
        for r in ec2.describe_instances(
            Filters=[{"Name": "tag-key", "Values": [T.RESTORE_EXECUTION]}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    assert replacements and all(
        i["State"]["Name"] in ("terminated", "shutting-down") for i in replacements
    )
    _ids, dbs_after, _states = inventory()
    assert len(dbs_after - dbs_before) == 1  # the restored database, kept
    # What this evacuation did not do is left alone.
    fenced = ec2.describe_instances(InstanceIds=[bastion])["Reservations"][0]["Instances"][0]
    assert T.to_dict(fenced["Tags"])[T.FENCED] == "someone"
    # Its locks are released: a new evacuation is not refused.
    again = evacuate(stack, {"app": "elearn", "az": AZ, "dry_run": True}, "evacuate-after")
    assert again["status"] == "SUCCEEDED"


def test_multi_az_database_is_verified_not_restored(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    from lifeboat.local.apps_gapfill import fail_az

    rds = client("rds")
    rds.modify_db_instance(DBInstanceIdentifier="elearn-db", MultiAZ=True, ApplyImmediately=True)
    _ids, dbs_before, _states = inventory()
    arn = executions.start(
        stack.outputs["EvacuateStateMachineArn"], {"app": "elearn", "az": AZ}, "evacuate-multi"
    )
    # The database tier waits for RDS's own failover, which happens while it waits.
    assert executions.wait_until_entered(arn, "RecoverTiers", timeout=60, poll=0.05) is None
    assert fail_az(AZ) == ["elearn-db"]
    result = executions.wait(arn, timeout=180, poll=0.05)
    assert result["status"] == "SUCCEEDED", result
    members = {m["resource_id"]: m for m in result["output"]["members"]}
    assert members["elearn-db"]["action"] == "await_failover"
    _ids, dbs_after, _states = inventory()
    assert dbs_after == dbs_before  # nothing restored
    assert record_value(elearn_app) == elearn_app.db_endpoint  # same endpoint, untouched


def test_aurora_cluster_fails_over_to_a_reader_in_a_healthy_az(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    rds = client("rds")
    tags = [
        {"Key": "lifeboat:plan", "Value": "standard"},
        {"Key": "app", "Value": "elearn"},
        {"Key": "tier", "Value": "db"},
    ]
    rds.create_db_cluster(
        DBClusterIdentifier="elearn-aurora",
        Engine="aurora-mysql",
        MasterUsername="elearn",
        MasterUserPassword="not-a-real-password-3",
        Tags=tags,
    )
    for name, zone in (("elearn-aurora-a", AZ), ("elearn-aurora-b", "us-east-1b")):
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBClusterIdentifier="elearn-aurora",
            Engine="aurora-mysql",
            DBInstanceClass="db.r5.large",
            AvailabilityZone=zone,
        )
    result = evacuate(stack, {"app": "elearn", "az": AZ}, "evacuate-aurora")
    assert result["status"] == "SUCCEEDED", result
    members = {m["resource_id"]: m for m in result["output"]["members"]}
    assert members["elearn-aurora"]["action"] == "fail_over_cluster"
    cluster = rds.describe_db_clusters(DBClusterIdentifier="elearn-aurora")["DBClusters"][0]
    writer = next(m for m in cluster["DBClusterMembers"] if m["IsClusterWriter"])
    assert writer["DBInstanceIdentifier"] == "elearn-aurora-b"
    assert "cluster#elearn-aurora" in result["output"]["changes"]


def test_cli_recover_dry_run_json_and_refusals(
    stack: Any, backed_up: Any, elearn_app: SeededApplication, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifeboat.cli import EXIT_INPUT, EXIT_OK, main

    assert main(["recover", "--app", "elearn", "--az", AZ, "--dry-run", "--json"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "SUCCEEDED" and out["output"]["recovery_time"]
    # An application no plan declares: refused by the state machine, exit 2.
    assert main(["recover", "--app", "nope", "--az", AZ, "--json"]) == EXIT_INPUT
    capsys.readouterr()
    # Bad input: refused before anything starts.
    assert main(["recover", "--app", "elearn", "--az", "mars-1a"]) == EXIT_INPUT
    # Nothing to undo yet.
    assert main(["recover", "--app", "elearn", "--az", AZ, "--undo"]) == EXIT_INPUT


def test_a_group_loses_its_subnets_in_the_failed_az_and_undo_puts_them_back(
    stack: Any,
    backed_up: Any,
    elearn_app: SeededApplication,
    capsys: pytest.CaptureFixture[str],
    groups: list[str],
) -> None:
    from lifeboat.cli import EXIT_OK, main

    ec2 = client("ec2")
    template = ec2.create_launch_template(
        LaunchTemplateName="elearn-web-group",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    subnets = [backed_up.subnets["web-a"], backed_up.subnets["web-b"]]
    autoscaling = client("autoscaling")
    groups.append("elearn-web-group")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="elearn-web-group",
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=2,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=",".join(subnets),
        Tags=[
            {"Key": k, "Value": v, "PropagateAtLaunch": True}
            for k, v in (("lifeboat:plan", "standard"), ("app", "elearn"), ("tier", "web"))
        ],
    )
    result = evacuate(stack, {"app": "elearn", "az": AZ}, "evacuate-group")
    assert result["status"] == "SUCCEEDED", result
    members = {m["resource_id"]: m for m in result["output"]["members"]}
    # The group is not restored member by member: its subnet in us-east-1a is removed.
    assert members["elearn-web-group"]["action"] == "shrink_group"
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["elearn-web-group"])
    assert group["AutoScalingGroups"][0]["VPCZoneIdentifier"] == backed_up.subnets["web-b"]
    assert not any(
        m.startswith("i-") and m not in backed_up.protected_instances.values() for m in members
    )  # no member of the group in the plan
    # When the AZ is back: recover --undo puts the subnet back; the endpoint stays (by default).
    assert main(["recover", "--app", "elearn", "--az", AZ, "--undo", "--json"]) == EXIT_OK
    undone = json.loads(capsys.readouterr().out)["undone"]
    assert undone["group#elearn-web-group"] == f"subnets ['{subnets[0]}'] put back"
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["elearn-web-group"])
    assert set(group["AutoScalingGroups"][0]["VPCZoneIdentifier"].split(",")) == set(subnets)
    assert record_value(elearn_app) != elearn_app.db_endpoint
    assert "left on the restored database" in undone["endpoint"]


def test_the_report_shows_each_application_and_az_evacuation(
    stack: Any,
    backed_up: Any,
    elearn_app: SeededApplication,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from lifeboat.cli import EXIT_OK, main

    html = tmp_path / "report.html"
    assert main(["report", "--json", "--html", str(html)]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    by_az = {a["availability_zone"]: a for a in report["applications"] if a["app"] == "elearn"}
    assert set(by_az) == {"us-east-1a", "us-east-1b"}
    one_a = by_az[AZ]
    assert one_a["status"] == "green" and one_a["tiers"] == ["db", "app", "web"]
    assert one_a["recovery_time"] and isinstance(one_a["skew_seconds"], int)
    assert one_a["command"] == f"lifeboat recover --app elearn --az {AZ}"
    assert {s["resource_id"] for s in one_a["steps"]} >= {"elearn-db"}
    # No drill yet: the RTO is not measured for what is restored, and says so.
    assert set(one_a["rto_unmeasured"]) >= {"elearn-db"}
    assert one_a["not_automated"]
    assert "If an Availability Zone failed now: applications" in html.read_text(encoding="utf-8")


def test_the_emulators_zonal_shifts_follow_arcs_rules(
    stack: Any, backed_up: Any, groups: list[str]
) -> None:
    from botocore.exceptions import ClientError

    from lifeboat.aws.evacuation_ops import EvacuationOps

    ec2 = client("ec2")
    template = ec2.create_launch_template(
        LaunchTemplateName="elearn-shift-group",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling = client("autoscaling")
    groups.append("elearn-shift-group")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="elearn-shift-group",
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        VPCZoneIdentifier=backed_up.subnets["web-b"],
    )
    arn = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["elearn-shift-group"])[
        "AutoScalingGroups"
    ][0]["AutoScalingGroupARN"]
    ops = EvacuationOps()
    away = ops.zone_ids()[AZ]
    shift = ops.start_zonal_shift(arn, away, "Lifeboat evacuation test")
    assert (shift.status, shift.away_from) == ("ACTIVE", away)
    with pytest.raises(ClientError, match="ConflictException"):
        ops.start_zonal_shift(arn, away, "again")
    assert [s.shift_id for s in ops.zonal_shifts(arn)] == [shift.shift_id]
    cancelled = ops.cancel_zonal_shift(shift.shift_id)
    assert cancelled is not None and cancelled.status == "CANCELED"
    assert ops.zonal_shifts(arn) == []
    assert ops.cancel_zonal_shift(shift.shift_id) is None  # ResourceNotFoundException
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        ops.start_zonal_shift(arn.replace("elearn-shift-group", "nope"), away, "x")


def test_a_stopped_evacuation_is_cleaned_up_by_its_status_change(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    from lifeboat.apps.stages import evacuation_lock
    from lifeboat.aws.catalog import Catalog
    from lifeboat.local.bridge import BRIDGE
    from lifeboat.local.harness import execution_status_change

    rds = client("rds")
    rds.modify_db_instance(DBInstanceIdentifier="elearn-db", MultiAZ=True, ApplyImmediately=True)
    arn = executions.start(
        stack.outputs["EvacuateStateMachineArn"], {"app": "elearn", "az": AZ}, "evacuate-stop"
    )
    # The database tier waits for RDS's failover; a person stops the execution meanwhile.
    assert executions.wait_until_entered(arn, "MemberWait", timeout=60, poll=0.05) is None
    client("stepfunctions").stop_execution(executionArn=arn, cause="stopped by a person")
    BRIDGE.async_results.clear()
    execution_status_change(arn, "ABORTED")
    BRIDGE.wait_async()
    (cleaned,) = [p for n, p, _e in BRIDGE.async_results if n.endswith("EvacuateAbortFunction")]
    assert cleaned["status"] == "failed" and cleaned["error"] == "ExecutionAborted"
    catalog = Catalog(stack.outputs["CatalogTableName"])
    import time

    assert catalog.active_locks([evacuation_lock("elearn", AZ)], int(time.time())) == {}
    records = catalog.records(f"EVAC#elearn#{AZ}")
    assert [r["status"] for r in records] == ["failed"]


def test_an_az_where_nothing_of_the_application_runs_is_refused(
    stack: Any, backed_up: Any, elearn_app: SeededApplication
) -> None:
    result = evacuate(stack, {"app": "elearn", "az": "us-east-1c"}, "evacuate-nothing")
    assert result["status"] == "REFUSED", result
    assert "nothing to evacuate" in str(result["output"]["cause"])


def test_undo_never_switches_back_over_a_value_a_person_set(
    stack: Any,
    backed_up: Any,
    elearn_app: SeededApplication,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lifeboat.cli import EXIT_OK, main

    result = evacuate(stack, {"app": "elearn", "az": AZ}, "evacuate-then-person")
    assert result["status"] == "SUCCEEDED", result
    restored = result["output"]["changes"]["endpoint"]["new"]
    assert record_value(elearn_app) == restored

    def point_at(value: str) -> None:
        current = client("route53").list_resource_record_sets(
            HostedZoneId=elearn_app.zone_id, StartRecordName=elearn_app.record, MaxItems="1"
        )["ResourceRecordSets"][0]
        client("route53").change_resource_record_sets(
            HostedZoneId=elearn_app.zone_id,
            ChangeBatch={
                "Changes": [
                    {"Action": "DELETE", "ResourceRecordSet": current},
                    {
                        "Action": "CREATE",
                        "ResourceRecordSet": {
                            **{k: current[k] for k in ("Name", "Type", "TTL")},
                            "ResourceRecords": [{"Value": value}],
                        },
                    },
                ]
            },
        )

    # The on-call points the application at another database by hand after the evacuation.
    point_at("elearn-db-manual.aaaaaaaaaa.us-east-1.rds.amazonaws.com")
    undo = ["recover", "--app", "elearn", "--az", AZ, "--undo", "--include-endpoint", "--json"]
    assert main(undo) == EXIT_OK
    undone = json.loads(capsys.readouterr().out)["undone"]
    assert undone["endpoint"].startswith("left as it is"), undone
    assert record_value(elearn_app) == "elearn-db-manual.aaaaaaaaaa.us-east-1.rds.amazonaws.com"
    # Back on the evacuation's value: then the undo switches it back (compare-and-set).
    point_at(restored)
    assert main(undo) == EXIT_OK
    undone = json.loads(capsys.readouterr().out)["undone"]
    assert undone["endpoint"].startswith("switched back"), undone
    assert record_value(elearn_app) == elearn_app.db_endpoint
