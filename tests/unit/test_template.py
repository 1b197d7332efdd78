"""template.yaml and the ASL files: least privilege, plans in step with schedules, runtime."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lifeboat.local.cfn import load_template
from lifeboat.plans import default_plans

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|Get|List|BatchGet|Query|Scan)[A-Za-z]*$")
# Mutating actions AWS offers no resource-level permission for (checked against the Service
# Authorization Reference). Each needs a reason here.
NO_RESOURCE_LEVEL = {
    "logs:CreateLogDelivery": "vended log delivery APIs take no resource",
    "logs:UpdateLogDelivery": "vended log delivery APIs take no resource",
    "logs:DeleteLogDelivery": "vended log delivery APIs take no resource",
    "logs:PutResourcePolicy": "resource policies are account-wide",
    "cloudwatch:PutMetricData": "takes no resource (the namespace is pinned by a condition)",
    # Pinned by the arc-zonal-shift:ResourceIdentifier condition (Auto Scaling groups only).
    "arc-zonal-shift:StartZonalShift": "takes no resource ARN; the condition key names the group",
    "arc-zonal-shift:CancelZonalShift": "takes no resource ARN; the condition key names the group",
}
# Deleting backups: only what Lifeboat created (lifeboat:managed=true).
DESTRUCTIVE = {
    "ec2:DeregisterImage",
    "ec2:DeleteSnapshot",
    "rds:DeleteDBSnapshot",
    "rds:DeleteDBClusterSnapshot",
}
# Removing a replacement: only what a restore launched (lifeboat:restore-execution), which
# never carries lifeboat:managed (a restored resource is not a backup).
REPLACEMENT_REMOVAL = {"ec2:TerminateInstances", "rds:DeleteDBInstance"}
# Acting on the user's own instances (fence, give back, move the address onto): only instances
# protected by a plan (lifeboat:plan is set).
ON_PROTECTED_INSTANCES = {"ec2:StopInstances", "ec2:StartInstances"}


def _statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        for policy in props.get("Policies", []) if isinstance(props.get("Policies"), list) else []:
            if isinstance(policy, dict) and "Statement" in policy:
                for listed in policy["Statement"]:
                    # (an !If statement is granted when its condition holds)
                    yield name, listed["Fn::If"][1] if "Fn::If" in listed else listed
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
            if "PolicyDocument" in props:
                documents.append(props["PolicyDocument"])
            for document in documents:
                for statement in document["Statement"]:
                    yield name, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_there_are_policies_to_check() -> None:
    assert sum(1 for _ in _statements()) >= 10


def test_no_wildcard_resource_on_mutating_actions() -> None:
    offenders = []
    for name, statement in _statements():
        if "*" not in _as_list(statement.get("Resource", [])):
            continue
        for action in _as_list(statement["Action"]):
            if not READ_ONLY.match(action) and action not in NO_RESOURCE_LEVEL:
                if action == "cloudwatch:PutMetricData" and _namespaced(statement):
                    continue  # no resource-level permission: confined to a namespace instead
                offenders.append(f"{name}: {action}")
    assert offenders == [], "mutating actions on Resource '*': " + ", ".join(offenders)


def _namespaced(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition", {}).get("StringEquals", {})
    return bool(condition.get("cloudwatch:namespace") == "Lifeboat")


def test_no_service_wildcards() -> None:
    for name, statement in _statements():
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{name}: {action}"


def test_tags_only_inside_a_create_call_or_the_fence_tag() -> None:
    found = False
    for name, statement in _statements():
        if {"ec2:CreateTags", "ec2:DeleteTags"} & set(_as_list(statement["Action"])):
            found = True
            condition = statement.get("Condition", {})
            in_create = "ec2:CreateAction" in condition.get("StringEquals", {})
            keys = condition.get("ForAllValues:StringEquals", {}).get("aws:TagKeys")
            # The two tags Lifeboat adds to what it did not create: a restore's fence on the
            # original instance, a volume restore's mark on the volume it swapped out.
            allowed = (["lifeboat:fenced"], ["lifeboat:replaced-by"])
            assert in_create or keys in allowed, f"{name}: tags outside a create call"
    assert found


def test_user_instances_are_touched_only_when_protected() -> None:
    found = False
    for name, statement in _statements():
        if set(_as_list(statement["Action"])) & ON_PROTECTED_INSTANCES:
            found = True
            condition = statement.get("Condition", {}).get("StringLike", {})
            assert condition.get("aws:ResourceTag/lifeboat:plan") == "?*", name
    assert found


def test_destructive_actions_only_on_lifeboat_managed_resources() -> None:
    found = False
    for name, statement in _statements():
        actions = set(_as_list(statement["Action"])) & DESTRUCTIVE
        if not actions:
            continue
        found = True
        condition = statement.get("Condition", {}).get("StringEquals", {})
        assert condition.get("aws:ResourceTag/lifeboat:managed") == "true", f"{name}: {actions}"
        assert "*" not in _as_list(statement["Resource"])
    assert found


def test_replacements_removed_only_if_a_restore_or_a_drill_launched_them() -> None:
    found = set()
    for name, statement in _statements():
        actions = set(_as_list(statement["Action"])) & REPLACEMENT_REMOVAL
        if not actions:
            continue
        condition = statement.get("Condition", {}).get("StringLike", {})
        # Drill functions remove only drill copies; restore functions only replacements.
        key = "lifeboat:drill" if name.startswith("Drill") else "lifeboat:restore-execution"
        assert condition == {f"aws:ResourceTag/{key}": "arn:*:states:*"}, f"{name}: {actions}"
        assert "*" not in _as_list(statement["Resource"])
        if name.startswith("Drill"):  # and never what carries a plan or is a backup
            assert statement["Condition"]["Null"] == {
                "aws:ResourceTag/lifeboat:plan": "true",
                "aws:ResourceTag/lifeboat:managed": "true",
            }, name
        found.add(key)
    assert found == {"lifeboat:drill", "lifeboat:restore-execution"}


DRILL_NEVER = {
    "ec2:AssociateAddress",
    "ec2:DisassociateAddress",
    "ec2:StopInstances",
    "ec2:StartInstances",
    "ec2:DeleteTags",
    "ec2:ModifyInstanceAttribute",
}


NO_PLAN_NOR_MANAGED = {
    "aws:RequestTag/lifeboat:plan": "true",
    "aws:RequestTag/lifeboat:managed": "true",
}


def _created_by_launch(resource: Any) -> bool:
    return any(k in str(resource) for k in ("instance/", "volume/", "network-interface/", ":db:"))


def test_the_drill_role_is_passed_only_when_the_stack_has_one() -> None:
    statements = RESOURCES["DrillLaunchFunction"]["Properties"]["Policies"][0]["Statement"]
    (passing,) = [s for s in statements if "Fn::If" in s]
    condition, _statement, otherwise = passing["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert TEMPLATE["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DrillInstanceProfileArn"}, ""]}]
    }
    assert TEMPLATE["Parameters"]["DrillInstanceProfileArn"]["Default"] == ""
    begin = RESOURCES["DrillBeginFunction"]["Properties"]["Environment"]["Variables"]
    assert begin["DRILL_INSTANCE_PROFILE_ARN"] == {"Ref": "DrillInstanceProfileArn"}


def test_drill_functions_cannot_touch_production() -> None:
    # No address, no load balancer, no fence; tags only in the launch call; launches only
    # tagged copies (never with a plan or managed tag, never with a public address) into
    # subnets and security groups tagged for drills; one role, only to EC2, only when set.
    drill = [(n, s) for n, s in _statements() if n.startswith("Drill") and n.endswith("Function")]
    assert len({n for n, _ in drill}) == 6
    launches = []
    for name, statement in drill:
        actions = set(_as_list(statement["Action"]))
        assert not actions & DRILL_NEVER, f"{name}: {actions & DRILL_NEVER}"
        assert not any(a.startswith("elasticloadbalancing:") for a in actions), name
        if "ec2:CreateTags" in actions:
            assert statement["Condition"]["StringEquals"] == {"ec2:CreateAction": "RunInstances"}
        if actions & {"ec2:RunInstances", "rds:RestoreDBInstanceFromDBSnapshot"}:
            launches.append(statement)
        if actions & {"ec2:RunInstances", "ec2:CreateTags", "rds:AddTagsToResource"}:
            creates = [r for r in _as_list(statement["Resource"]) if _created_by_launch(r)]
            assert not creates or statement["Condition"]["Null"] == NO_PLAN_NOR_MANAGED, name
        if "iam:PassRole" in actions:
            assert name == "DrillLaunchFunction" and actions == {"iam:PassRole"}
            assert statement["Resource"] == {"Ref": "DrillInstanceRoleArn"}
            assert statement["Condition"] == {
                "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
            }
    by_resource = {
        str(r): s.get("Condition", {}) for s in launches for r in _as_list(s["Resource"])
    }
    for resource, condition in by_resource.items():
        text = json.dumps(condition)
        if _created_by_launch(resource):
            assert '"aws:RequestTag/lifeboat:drill": "arn:*:states:*"' in text, resource
        if "network-interface/" in resource:
            assert condition["Bool"] == {"ec2:AssociatePublicIpAddress": "false"}, resource
        assert "key-pair/" not in resource, "a drill copy gets no key pair"
        if "subnet/" in resource or "security-group/" in resource:
            assert '"aws:ResourceTag/lifeboat:drill-tier": "?*"' in text, resource
        if "image/" in resource or "snapshot/" in resource or ":snapshot:" in resource:
            assert '"aws:ResourceTag/lifeboat:managed": "true"' in text, resource
        if ":subgrp:" in resource:
            assert ":subgrp:lifeboat-drill*'" in resource, resource


def test_drill_schedules_in_step_with_plans_yaml() -> None:
    events = RESOURCES["DrillStateMachine"]["Properties"]["Events"]
    expected = {p: plan.drill for p, plan in default_plans().plans.items() if plan.drill}
    seen = set()
    for event_id, event in events.items():
        props = event["Properties"]
        payload = json.loads(props["Input"])
        drill = expected[payload["plan"]]
        assert props["ScheduleExpression"] == drill.schedule, event_id
        assert props["ScheduleExpressionTimezone"] == drill.timezone, event_id
        assert "Arn" in props["DeadLetterConfig"]
        seen.add(payload["plan"])
    assert seen == set(expected)


def test_drill_machine_bounds_and_timeout_match_the_sweeper() -> None:
    from lifeboat.drill.models import DATABASE_DEADLINE, DRILL_TIMEOUT, INSTANCE_DEADLINE

    definition = next(d for n, _p, d in _state_machines() if n == "DrillStateMachine")
    assert definition["TimeoutSeconds"] == DRILL_TIMEOUT.total_seconds()
    assert max(INSTANCE_DEADLINE, DATABASE_DEADLINE) < DRILL_TIMEOUT
    each = definition["States"]["DrillEachResource"]
    assert 1 <= each["MaxConcurrency"] <= 10
    inner = each["ItemProcessor"]["States"]
    (limit,) = [
        c for c in inner["DrillCopyHealthy"]["Choices"] if c["Variable"] == "$.check.health.attempt"
    ]
    assert limit["NumericGreaterThanEquals"] <= 500
    # Every path of an iteration ends in the tear-down: Launch and Check catch into it.
    for state in ("LaunchDrillCopy", "CheckDrillCopy"):
        assert inner[state]["Catch"][0]["Next"] == "TearDownDrillCopy"
    substitutions = RESOURCES["DrillStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert not any("Restore" in key or "Cutover" in key for key in substitutions)


def test_restores_never_tag_lifeboat_managed() -> None:
    for name, statement in _statements():
        actions = set(_as_list(statement["Action"]))
        resources = " ".join(str(r) for r in _as_list(statement["Resource"]))
        if actions & {"ec2:RunInstances", "rds:AddTagsToResource"} and (
            "instance/" in resources or ":db:" in resources
        ):
            # (a Null condition on it, "true", forbids it: the drill's statements)
            conditions = {k: v for k, v in statement.get("Condition", {}).items() if k != "Null"}
            assert "RequestTag/lifeboat:managed" not in json.dumps(conditions), name


def test_creates_must_tag_lifeboat_managed() -> None:
    for name, statement in _statements():
        actions = set(_as_list(statement["Action"]))
        if actions & {"ec2:CreateImage", "ec2:CreateSnapshots"} and any(
            "image/" in str(r) or "snapshot/" in str(r) for r in _as_list(statement["Resource"])
        ):
            condition = statement["Condition"]["StringEquals"]
            assert condition["aws:RequestTag/lifeboat:managed"] == "true", name


def test_one_schedule_per_rule_in_step_with_plans_yaml() -> None:
    schedules = {
        event_id: event["Properties"]
        for event_id, event in RESOURCES["BackupStateMachine"]["Properties"]["Events"].items()
        if event["Type"] == "ScheduleV2"
    }
    expected = {(p, r) for p, plan in default_plans().plans.items() for r in plan.rules}
    seen = set()
    for event_id, props in schedules.items():
        payload = json.loads(props["Input"])
        plan, rule = default_plans().rule(payload["plan"], payload["rule"])
        assert props["ScheduleExpression"] == rule.schedule, event_id
        assert props["ScheduleExpressionTimezone"] == rule.timezone, event_id
        assert payload["scheduled_time"] == "<aws.scheduler.scheduled-time>"
        assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert "Arn" in props["DeadLetterConfig"]
        seen.add((payload["plan"], payload["rule"]))
    assert seen == expected


def test_one_rpo_alarm_per_rule_in_step_with_plans_yaml() -> None:
    """Each rule has an alarm on its RpoSeconds: the rule's interval plus the margin parameter,
    to the notification topic; none for a rule that is not declared."""
    expected = {(p, r) for p, plan in default_plans().plans.items() for r in plan.rules}
    seen = set()
    for name, resource in RESOURCES.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        stats = [m["MetricStat"] for m in props.get("Metrics", []) if "MetricStat" in m]
        if not any(s["Metric"]["MetricName"] == "RpoSeconds" for s in stats):
            continue
        (stat,) = stats
        dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        _plan, rule = default_plans().rule(dims["Plan"], dims["Rule"])
        assert stat["Metric"]["Namespace"] == "Lifeboat", name
        assert props["Threshold"] == rule.interval_seconds(), name
        (expression,) = [m for m in props["Metrics"] if m.get("ReturnData")]
        assert expression["Expression"] == {
            "Fn::Sub": f"{stat_id(props)} - ${{RpoAlarmMarginMinutes}} * 60"
        }, name
        assert props["ComparisonOperator"] == "GreaterThanThreshold", name
        # a datapoint every 5 minutes (finalize, and RpoPublishFunction between runs): judged
        # over 3 periods running (tests/unit/test_rpo_alarms.py evaluates them)
        assert stat["Period"] == 300 and props["EvaluationPeriods"] == 3, name
        assert props["DatapointsToAlarm"] == 3 and props["TreatMissingData"] == "breaching"
        assert props["AlarmActions"] == [{"Ref": "NotificationTopic"}], name
        seen.add((dims["Plan"], dims["Rule"]))
    assert seen == expected
    assert TEMPLATE["Parameters"]["RpoAlarmMarginMinutes"]["Default"] == 60


def stat_id(props: dict[str, Any]) -> str:
    return next(str(m["Id"]) for m in props["Metrics"] if "MetricStat" in m)


def test_dashboard_shows_rpo_per_rule_runs_drills_and_restores() -> None:
    (dashboard,) = [r for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.loads(
        re.sub(r"\$\{[^}]+\}", "x", dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    )
    text = json.dumps(body)
    for plan, found in default_plans().plans.items():
        for rule in found.rules:
            assert f'"RpoSeconds", "Plan", "{plan}", "Rule", "{rule}"' in text
    for metric in ("RecoveryPointsCompleted", "RecoveryPointsFailed", "DrillRtoSeconds"):
        assert metric in text
    assert len(body["widgets"]) == 4


def test_runtime_architecture_and_build_method() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    for name, resource in RESOURCES.items():
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            assert resource["Metadata"]["BuildMethod"] == "makefile", name
            assert (
                "Runtime" not in resource["Properties"]
                or resource["Properties"]["Runtime"] == "python3.13"
            )


def _state_machines() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            props = resource["Properties"]
            definition = json.loads((ROOT / props["DefinitionUri"]).read_text(encoding="utf-8"))
            yield name, props, definition


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        for nested in ("ItemProcessor", "Iterator"):
            if nested in state:
                yield from _states(state[nested])
        for branch in state.get("Branches", []):
            yield from _states(branch)


def test_state_machines_have_timeouts_retries_and_catches() -> None:
    machines = list(_state_machines())
    assert machines
    for name, _props, definition in machines:
        assert definition.get("TimeoutSeconds", 0) > 0, name
        for state_name, state in _states(definition):
            if state["Type"] == "Task":
                assert state.get("Retry"), f"{name}.{state_name} has no Retry"
                assert state.get("Catch"), f"{name}.{state_name} has no Catch"
                for retry in state["Retry"]:
                    assert retry.get("JitterStrategy") == "FULL", f"{name}.{state_name}"


def test_substitutions_match_and_no_literal_arns() -> None:
    for name, props, _definition in _state_machines():
        text = (ROOT / props["DefinitionUri"]).read_text(encoding="utf-8")
        used = set(re.findall(r"\$\{(\w+)\}", text))
        assert used == set(props["DefinitionSubstitutions"]), name
        literal = re.findall(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]+:\d{12}:", text)
        assert literal == [], f"{name}: literal ARNs {literal}"
        assert not re.search(r"(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central)-\d", text)


def test_backup_poll_loop_is_bounded() -> None:
    definition = next(d for n, _p, d in _state_machines() if n == "BackupStateMachine")
    choice = definition["States"]["AllComplete"]
    limits = [c for c in choice["Choices"] if c.get("Variable") == "$.poll.attempt"]
    assert limits and limits[0]["NumericGreaterThanEquals"] <= 100


def _functions() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::Serverless::Function":
            yield name, resource


def test_every_function_and_state_machine_logs_to_a_group_with_the_retention() -> None:
    # What cfn-lint's WS1004 means, for log groups it cannot see (LoggingConfig).
    assert TEMPLATE["Parameters"]["LogRetentionDays"]["Default"] == 30
    targets = {
        name: props["LoggingConfig"]["LogGroup"]
        for name, props in ((n, r["Properties"]) for n, r in _functions())
    }
    for name, props, _definition in _state_machines():
        (destination,) = props["Logging"]["Destinations"]
        targets[name] = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert len(targets) == 37
    groups = set()
    for name, target in targets.items():
        group = target.get("Ref") or target.get("Fn::GetAtt", [None])[0]
        assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup", name
        assert RESOURCES[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.add(group)
    assert len(groups) == len(targets), "one log group each"


def test_failed_alarm_events_are_kept_and_alarmed() -> None:
    router = RESOURCES["AlarmRouterFunction"]["Properties"]
    queue = router["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    (event,) = router["Events"].values()
    assert event["Properties"]["DeadLetterConfig"]["Arn"] == queue
    assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    (queue_name,) = {queue["Fn::GetAtt"][0]}
    alarms = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("Dimensions", [{}])[0].get("Value")
        == {"Fn::GetAtt": [queue_name, "QueueName"]}
    ]
    assert alarms and alarms[0]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarms[0]["AlarmActions"] == [{"Ref": "NotificationTopic"}]


def test_suppressions_are_per_resource_specific_and_give_a_reason() -> None:
    # No blanket ignores: nothing at the template's top level, every checkov skip names one
    # check and says why, every cfn-lint ignore names rule ids (the reason is the YAML comment
    # just above it, checked in the text).
    assert "cfn-lint" not in TEMPLATE.get("Metadata", {})
    lines = (ROOT / "template.yaml").read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if "ignore_checks:" in line:
            assert lines[index - 1].strip().startswith("#"), f"line {index + 1}: no reason"
    for name, resource in RESOURCES.items():
        metadata = resource.get("Metadata", {})
        for skip in metadata.get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), name
            assert len(skip.get("comment", "")) > 20, f"{name}: {skip['id']} without a reason"
        ignored = metadata.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
        assert all(re.fullmatch(r"[EWI][A-Z]?\d{4}", rule) for rule in ignored), name


def test_recycle_bin_rules_keep_lifeboats_deleted_points_when_asked() -> None:
    parameter = TEMPLATE["Parameters"]["RecycleBinRetentionDays"]
    assert parameter["Default"] == 0 and parameter["MaxValue"] == 365
    for name, kind in (
        ("RecycleBinSnapshotRule", "EBS_SNAPSHOT"),
        ("RecycleBinImageRule", "EC2_IMAGE"),
    ):
        rule = RESOURCES[name]
        assert rule["Type"] == "AWS::Rbin::Rule" and rule["Condition"] == "HasRecycleBin"
        props = rule["Properties"]
        assert props["ResourceType"] == kind
        assert props["ResourceTags"] == [
            {"ResourceTagKey": "lifeboat:managed", "ResourceTagValue": "true"}
        ]
        # One value for both: AWS asks that snapshots stay in the bin at least as long as the
        # AMIs they back, or a restored AMI would miss its snapshots.
        assert props["RetentionPeriod"] == {
            "RetentionPeriodUnit": "DAYS",
            "RetentionPeriodValue": {"Ref": "RecycleBinRetentionDays"},
        }
    prune = RESOURCES["PruneFunction"]["Properties"]["Environment"]["Variables"]
    assert prune["RECYCLE_BIN_DAYS"] == {"Ref": "RecycleBinRetentionDays"}


def test_snapshot_locks_are_only_ever_added_to_lifeboats_snapshots() -> None:
    statements = [
        (name, s)
        for name, resource in _functions()
        for policy in resource["Properties"].get("Policies", [])
        for s in policy.get("Statement", [])
    ]
    actions = {
        a
        for _n, s in statements
        for a in ([s["Action"]] if isinstance(s.get("Action"), str) else s.get("Action", []))
    }
    assert "ec2:UnlockSnapshot" not in actions  # nobody in Lifeboat can undo a lock
    (lock,) = [(n, s) for n, s in statements if s.get("Action") == "ec2:LockSnapshot"]
    assert lock[0] == "BackupFinalizeFunction"
    assert lock[1]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*"
    }
    assert lock[1]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/lifeboat:managed": "true"},
        # at most SnapshotLockMaxDays (a stolen role cannot lock for a century), and never by
        # ExpirationDate (no duration in the request: the condition does not match)
        "NumericLessThanEquals": {"ec2:SnapshotLockDuration": {"Ref": "SnapshotLockMaxDays"}},
    }


def test_the_lock_cap_allows_every_lock_the_plans_ask_for_and_finalize_knows_it() -> None:
    parameter = TEMPLATE["Parameters"]["SnapshotLockMaxDays"]
    longest = max(
        (
            rule.lock.days
            for plan in default_plans().plans.values()
            for rule in plan.rules.values()
            if rule.lock is not None
        ),
        default=0,
    )
    assert parameter["Default"] >= longest, (
        f"plans.yaml locks for {longest} days: raise SnapshotLockMaxDays' Default to it"
    )
    assert parameter["MaxValue"] == 36500  # LockSnapshot's own LockDuration limit
    env = RESOURCES["BackupFinalizeFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SNAPSHOT_LOCK_MAX_DAYS"] == {"Ref": "SnapshotLockMaxDays"}


def test_the_recycle_bin_condition_is_off_by_default_and_on_for_any_days() -> None:
    from lifeboat.local.cfn import Resolver

    def resolver(days: str | None) -> Resolver:
        return Resolver(
            TEMPLATE,
            stack_name="lifeboat",
            region="us-east-1",
            account_id="123456789012",
            parameters={"RecycleBinRetentionDays": days} if days else None,
        )

    off, on, default = resolver("0"), resolver("14"), resolver(None)
    assert not off.condition("HasRecycleBin") and on.condition("HasRecycleBin")
    assert not default.condition("HasRecycleBin")


def test_every_function_built_by_makefile_has_its_build_target() -> None:
    # `sam build` fails on a function whose CodeUri has no Makefile target build-<LogicalId>.
    for name, resource in _functions():
        if resource.get("Metadata", {}).get("BuildMethod") != "makefile":
            continue
        makefile = ROOT / resource["Properties"]["CodeUri"] / "Makefile"
        assert makefile.is_file(), f"{name}: no {makefile.relative_to(ROOT)}"
        assert f"build-{name}:" in makefile.read_text(encoding="utf-8"), name


NO_KEYS = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/no-copy-keys-configured"


def test_kms_only_on_the_copy_keys_and_restores_only_through_ec2_and_rds() -> None:
    """KMS is allowed only on CopyKmsKeyArns (none when empty): to the copier, and to the
    restore launch (a copy in another region is encrypted with that region's key) only
    through EC2 and RDS."""
    found = set()
    for name, statement in _statements():
        if not any(a.startswith("kms:") for a in _as_list(statement["Action"])):
            continue
        found.add(name)
        assert statement["Resource"] == {
            "Fn::If": ["HasCopyKeys", {"Ref": "CopyKmsKeyArns"}, {"Fn::Sub": NO_KEYS}]
        }, name
        if name in ("RestoreLaunchFunction", "EvacuateMemberFunction"):
            assert statement["Condition"] == {
                "StringLike": {"kms:ViaService": ["ec2.*.amazonaws.com", "rds.*.amazonaws.com"]}
            }
        if name == "VolumeRestoreFunction":
            via_ec2 = {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}
            assert statement["Condition"] == via_ec2
    assert found == {
        "CopyPumpFunction",
        "RestoreLaunchFunction",
        "EvacuateMemberFunction",
        "VolumeRestoreFunction",
    }


def test_a_restore_acts_on_the_original_only_in_the_home_region() -> None:
    """A restore in another region launches and removes its replacement there (any region,
    by tags), but fences, stops, starts, re-addresses and re-registers only at home."""
    on_the_original = {
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:AssociateAddress",
        "ec2:DeleteTags",
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeregisterTargets",
    }
    checked = 0
    for name, statement in _statements():
        if not name.startswith("Restore") or not (
            set(_as_list(statement["Action"])) & on_the_original
        ):
            continue
        checked += 1
        for resource in _as_list(statement["Resource"]):
            assert ":${AWS::Region}:" in resource["Fn::Sub"], (name, statement["Sid"])
    assert checked >= 6


def test_statement_ids_are_unique_in_each_function_s_policy() -> None:
    # IAM refuses a policy whose statements repeat a Sid (two branches each granting the
    # shared pace to one function merged into two "SharedPace" statements).
    seen: dict[str, list[str]] = {}
    for name, statement in _statements():
        if "Sid" in statement:
            seen.setdefault(name, []).append(statement["Sid"])
    repeated = {n: sorted({s for s in sids if sids.count(s) > 1}) for n, sids in seen.items()}
    assert not {n: s for n, s in repeated.items() if s}


def test_every_state_name_is_unique_in_its_state_machine() -> None:
    # Step Functions rejects a definition that repeats a state name anywhere in it, inside a
    # Map's processor or a Parallel's branches too (the two create Maps name theirs apart).
    import collections

    def names(states: dict[str, Any]) -> Iterator[str]:
        for name, state in states.items():
            yield name
            for inner in [state.get("ItemProcessor"), state.get("Iterator")]:
                if inner:
                    yield from names(inner["States"])
            for branch in state.get("Branches", []):
                yield from names(branch["States"])

    for path in sorted((ROOT / "statemachines").glob("*.asl.json")):
        counted = collections.Counter(names(json.loads(path.read_text(encoding="utf-8"))["States"]))
        assert [n for n, c in counted.items() if c > 1] == [], path.name
