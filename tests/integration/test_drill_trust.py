"""Drills keep their promises through the real drill ASL in the emulator (issue 20, items 7–9):
a slot Scheduler delivers twice drills once (the two executions race); an Aurora cluster is
restored into the drill network, checked, measured and deleted; a restored replacement is
drilled, not the fenced original it replaced."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.local.harness import fire_schedule
from lifeboat.local.seed import seed_drill_network
from tests.faults import RequestRecorder
from tests.integration.helpers import history, run_schedule, schedule_name

pytestmark = pytest.mark.integration


@pytest.fixture
def network(stack: Any, backed_up: Any) -> dict[str, Any]:
    return seed_drill_network()


def test_a_slot_delivered_twice_runs_one_drill(
    stack: Any, backed_up: Any, network: dict[str, Any]
) -> None:
    # Given Scheduler delivers this minute's drill slot twice, the executions racing
    slot = datetime.now(UTC).replace(second=0, microsecond=0)
    name = schedule_name(stack, "drill")
    with RequestRecorder("RunInstances", "RestoreDBInstanceFromDBSnapshot") as sent:
        arns = [fire_schedule(name, slot), fire_schedule(name, slot, attempt=2)]
        results = [executions.wait(arn, timeout=180, poll=0.05) for arn in arns]
    # Then both succeed; exactly one drilled, the other ended as the duplicate naming it
    assert all(r["status"] == "SUCCEEDED" for r in results), results
    drilled = [r for r in results if not r["output"].get("duplicate")]
    duplicate = [r for r in results if r["output"].get("duplicate")]
    assert len(drilled) == 1 and len(duplicate) == 1, results
    assert duplicate[0]["output"]["original_execution"] == drilled[0]["execution_arn"]
    assert len(sent.requests("RunInstances")) == 3, "every copy made once"
    assert len(sent.requests("RestoreDBInstanceFromDBSnapshot")) == 1
    entered = {
        e["stateEnteredEventDetails"]["name"]
        for e in history(duplicate[0]["execution_arn"])
        if "stateEnteredEventDetails" in e
    }
    assert "DrillDuplicateTrigger" in entered and "DrillEachResource" not in entered
    # one record: the slot's one drill is the one the readiness report reads
    (record,) = Catalog(stack.outputs["CatalogTableName"]).records("DRILL#standard")
    assert record["execution_arn"] == drilled[0]["execution_arn"]


def _aurora(elearn: Any) -> str:
    rds = client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier="elearn-aurora",
        Engine="aurora-mysql",
        MasterUsername="admin",
        MasterUserPassword="not-a-secret-1",
        Tags=[{"Key": T.PLAN, "Value": "standard"}],
    )
    rds.create_db_instance(
        DBInstanceIdentifier="elearn-aurora-1",
        DBClusterIdentifier="elearn-aurora",
        Engine="aurora-mysql",
        DBInstanceClass="db.r6g.large",
        AvailabilityZone="us-east-1a",
    )
    return "elearn-aurora"


def test_an_aurora_cluster_is_drilled_and_deleted(
    stack: Any, backed_up: Any, network: dict[str, Any]
) -> None:
    cluster = _aurora(backed_up)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert run_schedule(stack, "daily", now)["status"] == "SUCCEEDED"  # its cluster snapshot
    arn = executions.start(
        stack.outputs["DrillStateMachineArn"], {"plan": "standard"}, "drill-aurora"
    )
    result = executions.wait(arn, timeout=180, poll=0.05)
    assert result["status"] == "SUCCEEDED", result
    outcomes = {r["id"]: r for r in result["output"]["resources"]}
    assert outcomes[cluster]["type"] == "cluster" and outcomes[cluster]["result"] == "healthy"
    assert outcomes[cluster]["rto_seconds"] is not None
    assert outcomes[cluster]["rpo_seconds"] is not None
    assert result["output"]["not_drilled"] == []
    rds = client("rds")
    clusters = {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
    assert clusters == {cluster}, "the drill cluster is deleted; production is untouched"
    dbs = {d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]}
    assert not [d for d in dbs if d.startswith("lifeboat-drill-")]
    assert "elearn-aurora-1" in dbs


def test_a_restored_replacement_is_drilled_not_the_fenced_original(
    stack: Any, backed_up: Any, network: dict[str, Any]
) -> None:
    from lifeboat.restore.lineage import record_replacement

    ec2 = client("ec2")
    original = backed_up.protected_instances["web-1"]
    described = ec2.describe_instances(InstanceIds=[original])["Reservations"][0]["Instances"][0]
    replacement = ec2.run_instances(
        ImageId=described["ImageId"],
        InstanceType=described["InstanceType"],
        MinCount=1,
        MaxCount=1,
        SubnetId=described["SubnetId"],
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Name", "Value": "web-1"}, {"Key": T.PLAN, "Value": "standard"}],
            }
        ],
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[original])
    ec2.create_tags(Resources=[original], Tags=[{"Key": T.FENCED, "Value": "restore-x"}])
    catalog = Catalog(stack.outputs["CatalogTableName"])
    record_replacement(catalog, original, replacement, "arn:aws:states:x", datetime.now(UTC))
    arn = executions.start(
        stack.outputs["DrillStateMachineArn"], {"plan": "standard"}, "drill-lineage"
    )
    result = executions.wait(arn, timeout=180, poll=0.05)
    assert result["status"] == "SUCCEEDED", result
    drilled = {r["id"] for r in result["output"]["resources"]}
    assert replacement in drilled and original not in drilled
