"""Restore drills through the real drill ASL in the emulator: the copies restore into the drill
network and are deleted on success, when health fails and when tear-downs fail (the sweeper);
production addresses, target groups and instances are never changed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifeboat import drill, executions, runtime
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_OK, main
from lifeboat.drill import health, stages
from lifeboat.local.seed import seed_drill_network
from lifeboat.plans import default_plans
from tests.faults import FaultInjector, FaultRule, RequestRecorder
from tests.integration.helpers import history

pytestmark = pytest.mark.integration


@pytest.fixture
def network(stack: Any, backed_up: Any) -> dict[str, Any]:
    return seed_drill_network()


def run(stack: Any, payload: dict[str, Any], name: str = "drill-test") -> dict[str, Any]:
    arn = executions.start(stack.outputs["DrillStateMachineArn"], payload, name)
    return executions.wait(arn, timeout=180, poll=0.05)


def drill_resources(network: dict[str, Any]) -> dict[str, list[str]]:
    """Everything a drill may leave behind: instances, volumes, DB instances, interfaces."""
    ec2 = client("ec2")
    live = ["pending", "running", "stopping", "stopped", "shutting-down"]
    instances = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[
                {"Name": "tag-key", "Values": [T.DRILL]},
                {"Name": "instance-state-name", "Values": live},
            ]
        )["Reservations"]
        for i in r["Instances"]
    ]
    volumes = [
        v["VolumeId"]
        for v in ec2.describe_volumes(Filters=[{"Name": "tag-key", "Values": [T.DRILL]}])["Volumes"]
    ]
    subnets = list(network["subnets"].values())
    interfaces = [
        n["NetworkInterfaceId"]
        for n in ec2.describe_network_interfaces(
            Filters=[{"Name": "subnet-id", "Values": subnets}]
        )["NetworkInterfaces"]
    ]
    dbs = [
        d["DBInstanceIdentifier"]
        for d in client("rds").describe_db_instances()["DBInstances"]
        if d["DBInstanceIdentifier"].startswith("lifeboat-drill-")
        and d["DBInstanceStatus"] != "deleting"
    ]
    return {"instances": instances, "volumes": volumes, "dbs": dbs, "interfaces": interfaces}


NOTHING: dict[str, list[str]] = {"instances": [], "volumes": [], "dbs": [], "interfaces": []}


def production(seeded: Any) -> dict[str, Any]:
    ec2 = client("ec2")
    ids = [*seeded.protected_instances.values(), *seeded.other_instances.values()]
    instances = {
        i["InstanceId"]: (i["State"]["Name"], sorted((t["Key"], t["Value"]) for t in i["Tags"]))
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    address = ec2.describe_addresses(AllocationIds=[seeded.elastic_ip["allocation_id"]])
    health = client("elbv2").describe_target_health(TargetGroupArn=seeded.target_group_arn)
    dbs = {
        d["DBInstanceIdentifier"]: d["DBInstanceStatus"]
        for d in client("rds").describe_db_instances()["DBInstances"]
        if not d["DBInstanceIdentifier"].startswith("lifeboat-drill-")
    }
    return {
        "instances": instances,
        "address": address["Addresses"][0].get("InstanceId"),
        "targets": sorted(d["Target"]["Id"] for d in health["TargetHealthDescriptions"]),
        "dbs": dbs,
    }


def test_a_drill_restores_measures_and_leaves_nothing(
    stack: Any, backed_up: Any, network: dict[str, Any]
) -> None:
    before = production(backed_up)
    launched: list[dict[str, Any]] = []
    real = stages.launch

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if result.type == "instance":
            found = client("ec2").describe_instances(InstanceIds=[result.id])["Reservations"]
            launched.append(found[0]["Instances"][0])
        return result

    with pytest.MonkeyPatch.context() as patch, RequestRecorder("RunInstances") as sent:
        patch.setattr(drill, "launch", spy)
        result = run(stack, {"plan": "standard", "requested_by": "test"})
    assert result["status"] == "SUCCEEDED", result
    # The requests as sent: the one interface without a public address, no key pair, every
    # volume deleted with the copy.
    assert len(sent.requests("RunInstances")) == 3
    for request in sent.requests("RunInstances"):
        (interface,) = request["NetworkInterfaces"]
        assert interface["AssociatePublicIpAddress"] is False and interface["DeleteOnTermination"]
        assert "KeyName" not in request and "SubnetId" not in request
        assert all(m["Ebs"]["DeleteOnTermination"] for m in request["BlockDeviceMappings"])
    summary = result["output"]
    outcomes = {r["id"]: r for r in summary["resources"]}
    protected = set(backed_up.protected_instances.values())
    assert set(outcomes) == protected | {"elearn-db"}
    assert all(r["result"] == "healthy" for r in outcomes.values()), outcomes
    assert all(r["rto_seconds"] is not None and r["rpo_seconds"] >= 0 for r in outcomes.values())
    # Each copy went into the drill network, in another AZ than its original, no role.
    drill_subnets = set(network["subnets"].values())
    assert len(launched) == 3
    for instance in launched:
        assert instance["SubnetId"] in drill_subnets
        assert {g["GroupId"] for g in instance["SecurityGroups"]} <= set(
            network["security_groups"].values()
        )
        tags = T.to_dict(instance["Tags"])
        assert tags[T.DRILL] == result["execution_arn"] and T.PLAN not in tags
        assert "IamInstanceProfile" not in instance
        # no way in: no key pair (the originals have one), no public address
        assert "KeyName" not in instance and "PublicIpAddress" not in instance
    web1 = backed_up.protected_instances["web-1"]
    (copy,) = [i for i in launched if T.to_dict(i["Tags"])[T.DRILL_SOURCE] == web1]
    assert copy["Placement"]["AvailabilityZone"] == "us-east-1b"
    # ...and nothing of the drill is left; production is as it was.
    assert drill_resources(network) == NOTHING
    assert production(backed_up) == before
    # The result is in the catalog (the readiness report's contract), metrics were put.
    records = Catalog(stack.outputs["CatalogTableName"]).records("DRILL#standard")
    (record,) = records
    assert record["status"] == "succeeded" and record["sk"].endswith("#drill-test")
    assert {r["id"] for r in record["resources"]} == set(outcomes)
    events = history(result["execution_arn"])
    entered = {
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    }
    assert {"PlanDrill", "LaunchDrillCopy", "CheckDrillCopy", "TearDownDrillCopy"} <= entered
    # The drill held its points while it ran, and let them go at the end.
    ids = [*protected, "elearn-db"]
    assert Catalog(stack.outputs["CatalogTableName"]).active_locks(ids, int(time.time())) == {}


def test_drill_copies_wait_for_the_shared_pace_in_the_map(
    stack: Any, backed_up: Any, network: dict[str, Any]
) -> None:
    # Given restores elsewhere in the stack that have just taken a minute of RunInstances
    table, ddb = stack.outputs["CatalogTableName"], client("dynamodb")
    key = {"pk": {"S": "PACE#us-east-1#RunInstances"}, "sk": {"S": "PACE"}}
    ahead = time.time() + 60
    ddb.put_item(TableName=table, Item={**key, "tat": {"N": f"{ahead:.3f}"}})
    # When the drill runs
    with RequestRecorder("RunInstances") as sent:
        result = run(stack, {"plan": "standard", "requested_by": "test"}, "drill-paced")
    # Then each copy's launch stopped for the pace and waited in WaitForDrillCopyPace (the
    # Lambda returned), then launched once: every copy healthy, nothing left behind
    assert result["status"] == "SUCCEEDED", result
    assert all(r["result"] == "healthy" for r in result["output"]["resources"])
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in history(result["execution_arn"])
        if "stateEnteredEventDetails" in e
    ]
    copies = len(backed_up.protected_instances)
    assert entered.count("WaitForDrillCopyPace") == copies
    assert entered.count("LaunchDrillCopy") == copies + copies + 1  # the database's once
    assert len(sent.requests("RunInstances")) == copies
    assert drill_resources(network) == NOTHING
    # and each copy drew one call from the bucket, after the minute the others took
    tat = float(ddb.get_item(TableName=table, Key=key)["Item"]["tat"]["N"])
    assert tat == pytest.approx(ahead + copies / 1.6, abs=0.01)


def test_an_application_check_runs_on_the_copy_before_it_counts_as_healthy(
    stack: Any,
    backed_up: Any,
    network: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the web tier has an HTTP check and the stack has DrillInstanceProfileArn (an
    # SSM-only profile): set in the functions' environment, as the template's parameter does.
    from lifeboat.local.bridge import BRIDGE

    iam = client("iam")
    trust = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'  # noqa: E501
    iam.create_role(RoleName="lifeboat-drill-ssm", AssumeRolePolicyDocument=trust)
    profile = iam.create_instance_profile(InstanceProfileName="lifeboat-drill-ssm")
    iam.add_role_to_instance_profile(
        InstanceProfileName="lifeboat-drill-ssm", RoleName="lifeboat-drill-ssm"
    )
    plans = default_plans().model_dump(mode="json")
    plans["plans"]["standard"]["drill"]["checks"] = {"web": {"http": {"path": "/healthz"}}}
    plans_file = tmp_path / "plans.yaml"
    plans_file.write_text(yaml.safe_dump(plans), encoding="utf-8")
    arn = profile["InstanceProfile"]["Arn"]
    monkeypatch.setitem(BRIDGE.local_environment, "DRILL_INSTANCE_PROFILE_ARN", arn)
    monkeypatch.setitem(BRIDGE.local_environment, "LIFEBOAT_PLANS_FILE", str(plans_file))
    web1 = backed_up.protected_instances["web-1"]
    with RequestRecorder("RunInstances", "SendCommand") as sent:
        result = run(stack, {"plan": "standard", "resource": web1}, name="drill-checked")
    assert result["status"] == "SUCCEEDED", result
    (outcome,) = result["output"]["resources"]
    assert outcome["result"] == "healthy" and outcome["rto_seconds"] is not None
    # The copy was launched with the drill's profile (and still no key, no public address)...
    (launch,) = sent.requests("RunInstances")
    assert launch["IamInstanceProfile"] == {"Arn": arn} and "KeyName" not in launch
    assert launch["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
    # ...and the check ran on it, with SSM's shell document: curl to the copy itself.
    (command,) = sent.requests("SendCommand")
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert "http://127.0.0.1:80/healthz" in command["Parameters"]["commands"][0]
    (copy_id,) = command["InstanceIds"]
    (copy,) = client("ec2").describe_instances(InstanceIds=[copy_id])["Reservations"][0][
        "Instances"
    ]
    assert T.to_dict(copy["Tags"])[T.DRILL_SOURCE] == web1
    # Status checks passed at the first check, which sent the command; the next read it.
    checks = [
        e
        for e in history(result["execution_arn"])
        if e.get("stateEnteredEventDetails", {}).get("name") == "CheckDrillCopy"
    ]
    assert len(checks) >= 2
    assert drill_resources(network) == NOTHING


@pytest.fixture
def impaired() -> Iterator[None]:
    """Every instance's system status check stays impaired, and the drill's instance deadline
    is over at the first check (the emulator's time is not compressed for deadlines)."""
    from lifeboat.local.bridge import BRIDGE

    class Always(dict[str, set[str]]):
        def get(self, key: Any, default: Any = None) -> set[str]:
            return {"system"}

    saved = BRIDGE.impairments.checks
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BRIDGE.impairments, "checks", Always())
        patch.setattr(health, "INSTANCE_DEADLINE", timedelta(0))
        yield
    BRIDGE.impairments.checks = saved


def test_when_health_fails_the_copies_are_torn_down_and_the_drill_fails(
    stack: Any, backed_up: Any, network: dict[str, Any], impaired: None
) -> None:
    before = production(backed_up)
    web1 = backed_up.protected_instances["web-1"]
    result = run(stack, {"plan": "standard", "resource": web1}, name="drill-impaired")
    assert result["status"] == "FAILED", result
    assert result["error"] == "DrillFailed"
    assert drill_resources(network) == NOTHING
    assert production(backed_up) == before
    (record,) = Catalog(stack.outputs["CatalogTableName"]).records("DRILL#standard")
    assert record["status"] == "failed"
    assert record["resources"][0]["result"] == "unhealthy"


def test_tear_downs_that_fail_are_swept_after_the_time_out(
    stack: Any, backed_up: Any, network: dict[str, Any]
) -> None:
    before = production(backed_up)
    rules = [
        FaultRule("TerminateInstances", "UnauthorizedOperation", times=1000),
        FaultRule("DeleteDBInstance", "InvalidDBInstanceState", times=1000),
    ]
    with FaultInjector(rules):
        result = run(stack, {"plan": "standard"}, name="drill-stuck")
    assert result["status"] == "FAILED"
    left = drill_resources(network)
    assert left["instances"] and left["dbs"]
    # A forged drill tag on a production instance is never swept.
    web2 = backed_up.protected_instances["web-2"]
    client("ec2").create_tags(
        Resources=[web2],
        Tags=[
            {"Key": T.DRILL, "Value": result["execution_arn"]},
            {"Key": T.DRILL_SOURCE, "Value": web2},
        ],
    )
    now = datetime.now(UTC)
    assert drill.sweep(runtime.ports(), now)["deleted"] == []  # not old enough yet
    swept = drill.sweep(runtime.ports(), now + timedelta(hours=6))
    assert web2 in swept["refused"] and web2 not in swept["deleted"]
    assert drill_resources(network) == {**NOTHING, "instances": [web2]}
    after = production(backed_up)
    assert after["instances"][web2][0] == before["instances"][web2][0] == "running"
    assert after["address"] == before["address"] and after["targets"] == before["targets"]


def test_every_backup_run_sweeps_and_the_cli_starts_and_lists(
    stack: Any, backed_up: Any, network: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.helpers import start

    backup = start(stack, {"plan": "standard", "rule": "hourly"}, name="backup-sweeps")
    names = {
        e["stateEnteredEventDetails"]["name"]
        for e in history(backup["execution_arn"])
        if "stateEnteredEventDetails" in e
    }
    assert "SweepDrills" in names
    web1 = backed_up.protected_instances["web-1"]
    code = main(["drill", "start", "--plan", "standard", "--resource", web1, "--wait", "--json"])
    assert code == EXIT_OK
    capsys.readouterr()
    assert main(["drill", "list", "--json"]) == EXIT_OK
    out = capsys.readouterr().out
    assert web1 in out and "succeeded" in out
    assert drill_resources(network) == NOTHING
