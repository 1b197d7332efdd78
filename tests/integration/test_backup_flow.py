"""The backup state machine (the real ASL, run by moto's engine) with the real handlers."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.local.bridge import BRIDGE
from lifeboat.models import PointStatus, ResourceRef
from tests.faults import FaultInjector, FaultRule
from tests.integration.helpers import (
    create_task_dies_after_its_calls,
    history,
    managed_images,
    managed_snapshots,
    manual_db_snapshots,
    run_schedule,
    start,
)

pytestmark = pytest.mark.integration


def _catalog(stack: Any) -> Catalog:
    return Catalog(stack.outputs["CatalogTableName"])


def test_daily_rule_makes_amis_and_rds_snapshot_of_tagged_resources_only(
    stack: Any, elearn: Any
) -> None:
    result = run_schedule(stack, "daily")

    assert result["status"] == "SUCCEEDED", result
    report = result["output"]
    assert report["completed"] == 4 and report["failed"] == 0
    protected = set(elearn.protected_instances.values())
    sources = {T.to_dict(i["Tags"])[T.SOURCE] for i in managed_images()}
    assert sources == protected
    for image in managed_images():
        tags = T.to_dict(image["Tags"])
        assert tags[T.MANAGED] == "true" and tags[T.PLAN] == "standard" and tags[T.RULE] == "daily"
        assert tags[T.KIND] == "ami" and tags["app"] == "elearn" and tags["Name"]
    # The AMI's own snapshots are tagged at creation too (so pruning may delete them).
    assert {T.to_dict(s["Tags"])[T.SOURCE] for s in managed_snapshots("ami")} == protected
    assert [s["DBInstanceIdentifier"] for s in manual_db_snapshots()] == ["elearn-db"]
    assert managed_snapshots("ebs") == []


def test_hourly_rule_makes_one_crash_consistent_set_per_instance(stack: Any, elearn: Any) -> None:
    result = run_schedule(stack, "hourly")

    assert result["status"] == "SUCCEEDED"
    snaps = managed_snapshots("ebs")
    by_source: dict[str, set[str]] = {}
    for snap in snaps:
        by_source.setdefault(T.to_dict(snap["Tags"])[T.SOURCE], set()).add(snap["VolumeId"])
    assert set(by_source) == set(elearn.protected_instances.values())
    assert all(len(volumes) == 2 for volumes in by_source.values())  # root + data volume
    assert managed_images() == [] and manual_db_snapshots() == []


def test_catalog_holds_what_a_restore_needs(stack: Any, elearn: Any) -> None:
    run_schedule(stack, "hourly")
    web1 = elearn.protected_instances["web-1"]
    (point,) = _catalog(stack).points_for_resource(web1)

    assert point.status is PointStatus.COMPLETED and point.completed_at is not None
    config = point.instance
    assert config is not None
    assert config.availability_zone == "us-east-1a" and config.subnet_tier == "web"
    assert config.instance_type == "t3.medium" and config.key_name == "elearn-ops"
    assert config.security_group_ids == [elearn.security_groups["web"]]
    assert config.elastic_ip == elearn.elastic_ip
    assert [g.target_group_arn for g in config.target_groups] == [elearn.target_group_arn]
    assert {d.device_name for d in config.block_devices} == {"/dev/sda1", "/dev/sdf"}
    assert {s.device_name for s in point.snapshots} == {"/dev/sda1", "/dev/sdf"}
    assert config.tags["Name"] == "web-1"


def test_same_scheduled_trigger_three_times_makes_one_set(stack: Any, elearn: Any) -> None:
    results = [run_schedule(stack, "daily") for _ in range(3)]

    assert [r["status"] for r in results] == ["SUCCEEDED"] * 3
    assert [r["output"].get("duplicate", False) for r in results] == [False, True, True]
    assert len(managed_images()) == 3 and len(manual_db_snapshots()) == 1
    assert len(_catalog(stack).all_points()) == 4


def test_the_run_s_create_calls_are_reserved_from_the_shared_pace(stack: Any, elearn: Any) -> None:
    # Every create task reserves its batch's CreateImage and CreateSnapshots calls from the
    # stack's shared bucket of the home region (one item per region and API in the catalog),
    # the bucket every other run, prune, copier, drill and restore of the stack draws on.
    run_schedule(stack, "daily")  # AMIs
    run_schedule(stack, "hourly")  # crash-consistent snapshot sets
    table = stack.outputs["CatalogTableName"]
    ddb = client("dynamodb")
    for api in ("CreateImage", "CreateSnapshots"):
        item = ddb.get_item(
            TableName=table, Key={"pk": {"S": f"PACE#us-east-1#{api}"}, "sk": {"S": "PACE"}}
        ).get("Item")
        assert item is not None and float(item["tat"]["N"]) > 0


def test_a_drained_pace_makes_the_batch_wait_in_the_state_machine(stack: Any, elearn: Any) -> None:
    # Given another execution of the stack that has just taken a minute of EC2's CreateImage
    # bucket (the shared pace's arrival time a minute ahead)
    table = stack.outputs["CatalogTableName"]
    ddb = client("dynamodb")
    ahead = time.time() + 60
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": "PACE#us-east-1#CreateImage"},
            "sk": {"S": "PACE"},
            "tat": {"N": f"{ahead:.3f}"},
        },
    )
    create = "lifeboat-BackupCreateFunction"
    before = BRIDGE.invocations.get(create, 0)
    # When the daily run starts
    result = run_schedule(stack, "daily")
    # Then its one batch stopped for the pace (returned, not slept), waited in
    # WaitForCreatePace of its Express child, and was called again: two invocations, the AMIs
    # made once each
    assert result["status"] == "SUCCEEDED"
    assert BRIDGE.invocations[create] - before == 2
    entered = _states_entered(result["execution_arn"])
    assert "CreateRecoveryPoints" in entered and "CreateRecoveryPointsStandard" not in entered
    sfn = client("stepfunctions")
    (map_run,) = sfn.list_map_runs(executionArn=result["execution_arn"])["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]
    assert counts["succeeded"] == counts["total"] == 1
    images = len(managed_images())
    assert images == 3  # elearn's three protected servers
    # and it drew its calls from the bucket after the minute another execution took
    item = ddb.get_item(
        TableName=table, Key={"pk": {"S": "PACE#us-east-1#CreateImage"}, "sk": {"S": "PACE"}}
    )["Item"]
    assert float(item["tat"]["N"]) == pytest.approx(ahead + images / 4.0, abs=0.01)


def _states_entered(execution_arn: str) -> list[str]:
    history = client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]


def test_a_pace_busy_longer_than_an_express_child_lives_hands_the_run_to_the_standard_map(
    stack: Any, elearn: Any
) -> None:
    # Given other executions that have taken ten minutes of EC2's CreateImage bucket: longer
    # than an Express child of the create Map may wait (it lives five minutes)
    table = stack.outputs["CatalogTableName"]
    ddb = client("dynamodb")
    ahead = time.time() + 600
    key = {"pk": {"S": "PACE#us-east-1#CreateImage"}, "sk": {"S": "PACE"}}
    ddb.put_item(TableName=table, Item={**key, "tat": {"N": f"{ahead:.3f}"}})
    create = "lifeboat-BackupCreateFunction"
    before = BRIDGE.invocations.get(create, 0)
    # When the daily run starts
    result = run_schedule(stack, "daily")
    # Then the Express child reserved nothing and handed its batch over; the Express Map
    # failed, the run waited its children out and ran the batch in the Standard Map, whose
    # child waited for the pace in the state machine: the run succeeded, each AMI made once
    assert result["status"] == "SUCCEEDED", result
    entered = _states_entered(result["execution_arn"])
    assert entered.index("CreateRecoveryPoints") < entered.index("WaitOutExpressBatches")
    assert entered.index("WaitOutExpressBatches") < entered.index("CreateRecoveryPointsStandard")
    assert entered.index("CreateRecoveryPointsStandard") < entered.index("Finalize")
    assert BRIDGE.invocations[create] - before == 3  # handed over; deferred; created
    sfn = client("stepfunctions")
    runs = sfn.list_map_runs(executionArn=result["execution_arn"])["mapRuns"]
    assert len(runs) == 2
    assert len(managed_images()) == 3  # elearn's three protected servers, none twice
    report = result["output"]
    assert report["failed"] == 0 and report["completed"] == 4, report  # 3 AMIs, 1 DB snapshot
    # and only the Standard child's three calls were drawn from the bucket
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    assert float(item["tat"]["N"]) == pytest.approx(ahead + 3 / 4.0, abs=0.01)


def test_vanished_instance_and_busy_database_fail_alone(stack: Any, elearn: Any) -> None:
    # Given an instance terminated between discovery and creation, and a database that refuses
    # a snapshot (the real error codes, injected at the API)
    gone = elearn.protected_instances["web-2"]
    rules = [
        FaultRule(
            "CreateImage", "InvalidInstanceID.NotFound", times=99, match={"InstanceId": gone}
        ),
        FaultRule(
            "CreateDBSnapshot",
            "InvalidDBInstanceState",
            times=99,
            message="DB instance is not available",
        ),
    ]
    # When the daily backup runs
    with FaultInjector(rules):
        result = run_schedule(stack, "daily")

    # Then the others complete, and the execution fails naming both and why
    assert result["status"] == "FAILED"
    assert result["error"] == "BackupPartiallyFailed"
    assert gone in result["cause"] and "InvalidInstanceID.NotFound" in result["cause"]
    assert "elearn-db" in result["cause"] and "InvalidDBInstanceState" in result["cause"]
    sources = {T.to_dict(i["Tags"])[T.SOURCE] for i in managed_images()}
    assert sources == set(elearn.protected_instances.values()) - {gone}
    failed = {p.source_id for p in _catalog(stack).all_points() if p.status is PointStatus.FAILED}
    assert failed == {gone, "elearn-db"}
    # and a failure notification went out
    assert any(e["type"] == "FailStateEntered" for e in history(result["execution_arn"]))


def test_throttling_and_per_volume_rate_are_retried_to_success(stack: Any, elearn: Any) -> None:
    rules = [
        FaultRule("CreateImage", "RequestLimitExceeded", times=3, status=503),
        FaultRule("CreateSnapshots", "SnapshotCreationPerVolumeRateExceeded", times=3),
        FaultRule("DescribeInstances", "RequestLimitExceeded", times=2, status=503),
    ]
    with FaultInjector(rules) as injector:
        daily = run_schedule(stack, "daily")
        hourly = run_schedule(stack, "hourly")

    assert daily["status"] == "SUCCEEDED" and hourly["status"] == "SUCCEEDED"
    assert injector.injected("CreateImage") == 3 and injector.injected("CreateSnapshots") == 3
    assert len(managed_images()) == 3 and len(managed_snapshots("ebs")) == 6


def test_persistent_rate_limit_is_retried_by_the_state_machine(stack: Any, elearn: Any) -> None:
    # More failures than the Lambda's own retries (7 attempts a call, the batch's 3 calls at
    # once: 22 failures leave at least one call failing 7 times): the task fails with
    # TransientAwsError and the state machine's Retry runs it again; the repeated task makes
    # no second snapshot set.
    # The batch runs as a child execution of the Distributed Map, whose history AWS keeps apart
    # from the run's (and moto keeps nowhere): the retry shows as a second invocation of the
    # create function for the run's one batch.
    create = "lifeboat-BackupCreateFunction"
    before = BRIDGE.invocations.get(create, 0)
    rule = FaultRule("CreateSnapshots", "ConcurrentSnapshotLimitExceeded", times=22)
    with FaultInjector([rule]):
        result = run_schedule(stack, "hourly")

    assert result["status"] == "SUCCEEDED"
    assert BRIDGE.invocations[create] - before >= 2
    sfn = client("stepfunctions")
    (map_run,) = sfn.list_map_runs(executionArn=result["execution_arn"])["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]
    assert counts["succeeded"] == counts["total"] == 1
    assert len(managed_snapshots("ebs")) == 6


def test_bad_input_is_rejected_before_anything_is_created(stack: Any, elearn: Any) -> None:
    invocations = dict(BRIDGE.invocations)
    result = start(stack, {"plan": "standard", "rule": "daily", "retention_days": 7}, "bad-input")

    assert result["status"] == "FAILED"
    assert result["error"] == "InvalidInputError"
    assert "retention_days" in str(result["cause"])
    assert managed_images() == [] and manual_db_snapshots() == []
    created = {k: v - invocations.get(k, 0) for k, v in BRIDGE.invocations.items()}
    assert created.get("lifeboat-BackupCreateFunction", 0) == 0


def test_unknown_rule_is_named(stack: Any, elearn: Any) -> None:
    result = start(stack, {"plan": "standard", "rule": "weekly"}, "bad-rule")
    assert result["status"] == "FAILED" and "rule" in str(result["cause"])


def test_dry_run_lists_and_creates_nothing(stack: Any, elearn: Any) -> None:
    result = start(stack, {"plan": "standard", "rule": "daily", "dry_run": True}, "dry")

    assert result["status"] == "SUCCEEDED"
    output = result["output"]
    assert output["dry_run"] is True and output["resource_count"] == 4
    assert {f"instance:{i}" for i in elearn.protected_instances.values()} < set(
        output["would_back_up"]
    )
    assert managed_images() == [] and manual_db_snapshots() == []
    assert client("dynamodb").scan(TableName=stack.outputs["CatalogTableName"])["Count"] == 0


def test_repeated_create_task_reuses_what_exists(stack: Any, elearn: Any) -> None:
    # A Lambda retried after it created an AMI but before it answered must not make a second one.
    from lifeboat import runtime
    from lifeboat.backup import create_batch
    from lifeboat.models import CreateBatchEvent
    from lifeboat.plans import default_plans
    from lifeboat.timeutil import utcnow

    event = CreateBatchEvent(
        run_id="20261127T0245Z-standard-daily",
        plan="standard",
        rule="daily",
        resources=[ResourceRef(type="instance", id=i) for i in elearn.protected_instances.values()],
    )
    first = create_batch(event, default_plans(), runtime.ports(), utcnow())
    second = create_batch(event, default_plans(), runtime.ports(), utcnow())
    assert first["created"] == 3 and second == {**second, "created": 0, "reused": 3}
    assert len(managed_images()) == 3


def test_a_task_that_died_before_recording_finds_its_artifacts_by_tag(
    stack: Any, elearn: Any
) -> None:
    # The AMIs were made but the catalog write failed (the Lambda died): the retried task finds
    # them by the run's and its own instances' tags and records them instead of making more.
    from lifeboat import runtime
    from lifeboat.backup import create_batch
    from lifeboat.models import CreateBatchEvent
    from lifeboat.plans import default_plans
    from lifeboat.timeutil import utcnow

    event = CreateBatchEvent(
        run_id="20261127T0345Z-standard-daily",
        plan="standard",
        rule="daily",
        resources=[ResourceRef(type="instance", id=i) for i in elearn.protected_instances.values()],
    )
    with create_task_dies_after_its_calls(), pytest.raises(TimeoutError):
        create_batch(event, default_plans(), runtime.ports(), utcnow())
    assert len(managed_images()) == 3
    intents = _catalog(stack).all_points()
    assert len(intents) == 3 and all(p.intent and not p.image_id for p in intents)

    again = create_batch(event, default_plans(), runtime.ports(), utcnow())
    assert again["created"] == 3  # recorded now, with the AMIs the first attempt made
    assert len(managed_images()) == 3
    recorded = {p.image_id for p in _catalog(stack).all_points()}
    assert recorded == {i["ImageId"] for i in managed_images()}
