"""Issue 12: recovery that cannot fight itself (repeated restores, long database restores,
executions that time out or are stopped, another AZ means another AZ), in the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_INPUT, main
from lifeboat.local.harness import execution_status_change
from lifeboat.restore import health as health_stage
from lifeboat.restore.models import Health, Launched
from tests.faults import FaultInjector, FaultRule
from tests.integration.helpers import address, instance, live_instances, targets

pytestmark = pytest.mark.integration


def _restore(stack: Any, payload: dict[str, Any], name: str) -> dict[str, Any]:
    arn = executions.start(stack.outputs["RestoreStateMachineArn"], payload, name)
    return executions.wait(arn, timeout=120, poll=0.05)


def _message(result: dict[str, Any]) -> str:
    """What a refused or failed execution says (its cause or output)."""
    return f"{result.get('error')} {result.get('cause')} {result.get('output')}"


def _serving(backed_up: Any) -> set[str]:
    """Instances that answer for web-1: the Elastic IP's holder and, of the instances that
    ever stood for web-1, those in its target group (web-2 serves there too)."""
    holder = address(backed_up.elastic_ip["allocation_id"]).get("InstanceId")
    web2 = backed_up.protected_instances["web-2"]
    members = targets(backed_up.target_group_arn) - {web2}
    return ({str(holder)} if holder else set()) | members


def _running(instance_id: str) -> bool:
    return bool(instance(instance_id)["State"]["Name"] in ("pending", "running"))


def test_1_a_second_restore_restores_the_current_server_never_the_fenced_original(
    stack: Any, backed_up: Any
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    # Given web-1 was restored: R1 serves, the original is fenced
    first = _restore(stack, {"instance_id": web1}, "first")
    assert first["status"] == "SUCCEEDED", first
    r1 = first["output"]["replacement_id"]
    assert _serving(backed_up) == {r1}

    # When the original is restored again without --force: refused, naming R1
    again = _restore(stack, {"instance_id": web1}, "again")
    assert r1 in _message(again) and "--force" in _message(again)
    assert _serving(backed_up) == {r1} and live_instances() >= {r1}

    # When a forced restore of the original fails at its cut-over, its rollback gives the
    # service back to R1 (which it fenced), never to the original fenced by the first restore
    with FaultInjector([FaultRule("AssociateAddress", "InvalidParameterValue", times=1)]):
        failed = _restore(stack, {"instance_id": web1, "force": True}, "forced-fails")
    assert failed["status"] == "FAILED"
    assert _serving(backed_up) == {r1} and _running(r1)
    assert T.FENCED not in T.to_dict(instance(r1)["Tags"])
    original = T.to_dict(instance(web1)["Tags"])
    assert original[T.FENCED] == first["output"]["replacement_id"] or original[T.FENCED]
    assert not _running(web1)

    # When it is forced and succeeds, the current holder (R1) is replaced by R2
    forced = _restore(stack, {"instance_id": web1, "force": True}, "forced")
    assert forced["status"] == "SUCCEEDED", forced
    r2 = forced["output"]["replacement_id"]
    assert _serving(backed_up) == {r2}
    assert T.to_dict(instance(r1)["Tags"])[T.FENCED] and not _running(r1)
    assert not _running(web1)  # one web-1 serves, always


def test_1_rollback_never_unfences_what_another_restore_fenced(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    # Given web-1 is fenced by some other execution (its lineage record lost, say)
    ec2 = client("ec2")
    ec2.create_tags(Resources=[web1], Tags=[{"Key": T.FENCED, "Value": "someone-else"}])
    ec2.stop_instances(InstanceIds=[web1])
    # When a restore of it fails at cut-over
    with FaultInjector([FaultRule("AssociateAddress", "InvalidParameterValue", times=1)]):
        result = _restore(stack, {"instance_id": web1, "force": True}, "not-mine")
    # Then the rollback leaves the other execution's fence alone: not started, still fenced
    assert result["status"] == "FAILED"
    assert T.to_dict(instance(web1)["Tags"])[T.FENCED] == "someone-else"
    assert not _running(web1)


def _never_healthy(kind: str) -> Callable[..., Health]:
    real = health_stage._health

    def health(launched: Launched, ports: Any, attempt: int, wait: int) -> Health:
        if launched.kind != kind:
            return real(launched, ports, attempt, wait)
        state = "creating" if kind == "db" else "pending"
        return Health(healthy=False, state=state, attempt=attempt + 1, wait_seconds=1)

    return health


def test_2_a_database_restore_past_its_deadline_is_kept_not_deleted(
    stack: Any, backed_up: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the restored database stays 'creating' past its deadline
    monkeypatch.setattr(health_stage, "_health", _never_healthy("db"))
    monkeypatch.setattr(health_stage, "MAX_HEALTH_DEADLINE", timedelta(0))
    result = _restore(stack, {"db_instance_id": "elearn-db"}, "slow-db")
    # Then the restore fails and says so, but the database it created is kept
    assert result["status"] == "FAILED" and "deadline" in _message(result)
    rds = client("rds")
    restored = [
        d["DBInstanceIdentifier"]
        for d in rds.describe_db_instances()["DBInstances"]
        if d["DBInstanceIdentifier"].startswith("elearn-db-restored-")
    ]
    assert len(restored) == 1
    # and the lock is released
    catalog = Catalog(stack.outputs["CatalogTableName"])
    assert not catalog.active_locks(["elearn-db"], int(time.time()))


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_2_a_restore_stopped_or_timed_out_is_cleaned_up(
    stack: Any, backed_up: Any, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    catalog = Catalog(stack.outputs["CatalogTableName"])
    before = live_instances()
    # Given a restore whose replacement never becomes healthy, and whose cut-over had fenced
    # the original (its first step) when a person stops the execution (or it times out)
    monkeypatch.setattr(health_stage, "_health", _never_healthy("instance"))
    arn = executions.start(stack.outputs["RestoreStateMachineArn"], {"instance_id": web1}, status)
    _wait_for(lambda: len(live_instances() - before) == 1, "the replacement")
    name = arn.rsplit(":", 1)[-1]
    client("ec2").create_tags(Resources=[web1], Tags=[{"Key": T.FENCED, "Value": name}])
    client("ec2").stop_instances(InstanceIds=[web1])
    client("stepfunctions").stop_execution(executionArn=arn, cause="stopped by a person")
    _wait_for(lambda: executions.describe(arn)["status"] != "RUNNING", "the stop")

    # When its status change event arrives (the template's rule routes it to the clean-up)
    execution_status_change(arn, status)

    # Then the locks are released, the replacement is gone and the original serves again
    _wait_for(lambda: not catalog.active_locks([web1], int(time.time())), "the lock release")
    _wait_for(lambda: live_instances() == before, "the replacement's termination")
    original = instance(web1)
    assert T.FENCED not in T.to_dict(original["Tags"]) and _running(web1)
    assert _serving(backed_up) == {web1}


def test_8_the_failed_az_is_refused_unless_the_operator_says_so(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = backed_up.protected_instances["web-1"]
    az = instance(app)["Placement"]["AvailabilityZone"]
    before = live_instances()
    # When the original's own AZ is asked for, even in a dry run: refused, exit 2, nothing done
    for extra in ([], ["--dry-run"]):
        code = main(["restore", "start", "--instance", app, "--target-az", az, *extra])
        err = capsys.readouterr().err
        assert code == EXIT_INPUT and "--same-az" in err and az in err
    assert live_instances() == before
    # When the operator says a host failed, not the AZ: the plan and the summary say so
    dry = _restore(
        stack,
        {"instance_id": app, "target_az": az, "allow_same_az": True, "dry_run": True},
        "same-dry",
    )
    assert dry["output"]["same_az"] is True and az in dry["output"]["warnings"][0]
    done = _restore(stack, {"instance_id": app, "target_az": az, "allow_same_az": True}, "same")
    assert done["status"] == "SUCCEEDED" and done["output"]["same_az"] is True
    assert done["output"]["warnings"]
