"""Empty what a run of Lifeboat leaves in the emulator, keeping the deployed stack.

Deploying the template takes seconds (moto parses every state machine); a test, the demo or a
benchmark size needs an empty account with the stack in it, not a new stack. :func:`clear_data`
gives exactly that, in-process (moto's backends live in this process):

* EC2, EC2 Auto Scaling, RDS and Elastic Load Balancing are reset wholesale (the stack holds
  none of theirs);
* the stack's DynamoDB tables keep their schema and lose every item (catalog, guardrails);
* every Step Functions execution (and its map runs) is forgotten; state machines stay;
* CloudWatch alarms other than the template's are deleted, the template's are put again (their
  state back to what a deployment gives them);
* the stack's SQS queues are emptied;
* the functions' invocation counts, asynchronous results and impaired status checks are reset.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends
from moto.elbv2.models import elbv2_backends
from moto.rds.models import rds_backends
from moto.sqs.models import sqs_backends
from moto.stepfunctions.models import stepfunctions_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from lifeboat.local.bridge import Bridge
from lifeboat.local.lambdas import LOCAL_ENVIRONMENT
from lifeboat.local.stack import LocalStack

WHOLESALE = (ec2_backends, autoscaling_backends, rds_backends, elbv2_backends)


def _region_backends(backend_dict: Any) -> list[Any]:
    return [
        backend for account in list(backend_dict.values()) for backend in list(account.values())
    ]


def _forget_executions() -> None:
    for backend_dict in (stepfunctions_backends, stepfunctions_parser_backends):
        for backend in _region_backends(backend_dict):
            for state_machine in backend.state_machines:
                state_machine.executions.clear()


def _empty_table(ddb: Any, table: str) -> None:
    keys = [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
    names = {f"#k{i}": key for i, key in enumerate(keys)}
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": ", ".join(names),
        "ExpressionAttributeNames": names,
    }
    while True:
        page = ddb.scan(**request)
        for item in page["Items"]:
            ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def clear_data(stack: LocalStack, client: Any, bridge: Bridge) -> None:
    """Everything but the stack, emptied (``client(service)`` talks to the emulator)."""
    bridge.wait_async()
    for backend_dict in WHOLESALE:
        # Each account's backends (BackendDict.reset would reset every service moto has).
        for account in list(backend_dict.values()):
            account.reset()
    _forget_executions()
    ddb = client("dynamodb")
    for table in stack.tables:
        _empty_table(ddb, table)
    cloudwatch = client("cloudwatch")
    existing = [
        alarm["AlarmName"]
        for page in cloudwatch.get_paginator("describe_alarms").paginate()
        for alarm in page["MetricAlarms"] + page.get("CompositeAlarms", [])
    ]
    for start in range(0, len(existing), 100):
        cloudwatch.delete_alarms(AlarmNames=existing[start : start + 100])
    for name, properties in stack.alarms.items():
        cloudwatch.put_metric_alarm(AlarmName=name, **properties)
    for backend in _region_backends(sqs_backends):
        for url in stack.queues:
            name = url.rsplit("/", 1)[-1]
            if name in backend.queues:  # PurgeQueue's once-a-minute rule does not apply here
                backend.queues[name]._messages = []
                backend.queues[name]._pending_messages = set()
    bridge.invocations.clear()
    bridge.seconds.clear()
    bridge.async_results.clear()
    bridge.impairments.checks.clear()
    bridge.lambdas.local_environment = dict(LOCAL_ENVIRONMENT)
