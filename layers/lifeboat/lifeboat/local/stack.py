"""Deploy this repository's ``template.yaml`` and ``statemachines/*.asl.json`` into the local
emulator: every resource the template declares is created through the AWS APIs (moto), state
machines from the real ASL files with their ``DefinitionSubstitutions`` resolved, functions
registered with their real handlers and environments (run in-process by
:mod:`lifeboat.local.lambdas`), and a CloudFormation stack carrying the template's Outputs, so
``lifeboat stack outputs`` works the same locally and on AWS. Nothing here is a parallel copy of
the stack.

The ``AWS::Serverless::*`` resources are interpreted here rather than transformed by the SAM
translator: ``samtranslator`` is not installed with moto 5.2.5 (only the SAM CLI's venv has it,
whose pins clash with moto's), and local mode needs the functions' handlers and environments,
not the ``AWS::Lambda::*`` resources the transform would produce."""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from lifeboat.aws.clients import new_session
from lifeboat.local.bridge import BRIDGE, Bridge, LocalFunction
from lifeboat.local.cfn import Resolver, deployment_order, load_template, repo_root
from lifeboat.local.sfn_gapfill import express_children_as_standard

__all__ = ["ACCOUNT_ID", "REGION", "Deployer", "LocalStack", "deploy", "repo_root"]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


@dataclass
class LocalStack:
    name: str
    endpoint: str
    outputs: dict[str, str] = field(default_factory=dict)
    physical: dict[str, str] = field(default_factory=dict)
    schedules: list[str] = field(default_factory=list)
    event_rules: list[str] = field(default_factory=list)
    # Logical id of each function -> its Environment.Variables (Globals merged), as deployed.
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    # What emptying the account keeps or empties (lifeboat.local.fresh).
    tables: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> PutMetricAlarm


class Deployer:
    def __init__(
        self,
        root: Path,
        endpoint: str,
        stack_name: str = "lifeboat",
        parameters: dict[str, str] | None = None,
        bridge: Bridge = BRIDGE,
    ) -> None:
        self.root = root
        self.endpoint = endpoint
        self.stack_name = stack_name
        self.event_sources: list[Callable[[], None]] = []
        self.template = load_template(root / "template.yaml")
        self.resolver = Resolver(
            self.template,
            stack_name=stack_name,
            region=REGION,
            account_id=ACCOUNT_ID,
            parameters=parameters,
        )
        self.bridge = bridge
        self.stack = LocalStack(stack_name, endpoint)
        self._role_arn = ""
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = new_session().client(  # type: ignore[call-overload]
                service,
                region_name=REGION,
                endpoint_url=self.endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    def name_of(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def deploy(self) -> LocalStack:
        resources: dict[str, Any] = self.template["Resources"]
        handlers: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::Serverless::LayerVersion": self._layer,
            "AWS::DynamoDB::Table": self._table,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::SQS::Queue": self._queue,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::CloudWatch::Dashboard": self._dashboard,
            "AWS::Events::Rule": self._event_rule,
            # Resource policies: moto does not enforce them (nor IAM); tools/check_iam.py and
            # the unit tests check them.
            "AWS::Lambda::Permission": lambda _l, _s: None,
            "AWS::SQS::QueuePolicy": lambda _l, _s: None,
            # The Recycle Bin is not in moto: its rules are checked by the template tests.
            "AWS::Rbin::Rule": lambda _l, _s: None,
        }
        function_globals = self.template.get("Globals", {}).get("Function", {})
        for logical_id in deployment_order(resources, function_globals):
            spec = resources[logical_id]
            condition = spec.get("Condition")
            if condition and not self.resolver.condition(condition):
                continue
            handler = handlers.get(spec["Type"])
            if handler is None:
                raise NotImplementedError(
                    f"{logical_id}: local mode cannot deploy {spec['Type']}; add it to "
                    "lifeboat/local/stack.py"
                )
            handler(logical_id, spec)
        for event_source in self.event_sources:
            event_source()
        self._outputs()
        return self.stack

    # --- resources ------------------------------------------------------------------------
    def _set(self, logical_id: str, ref: str, **attrs: str) -> None:
        self.resolver.refs[logical_id] = ref
        self.stack.physical[logical_id] = ref
        for key, value in attrs.items():
            self.resolver.attrs[(logical_id, key)] = value

    def _props(self, spec: dict[str, Any]) -> dict[str, Any]:
        # Events are deployed after every resource (see deploy): resolved then, not now.
        mine = {k: v for k, v in spec.get("Properties", {}).items() if k != "Events"}
        props = self.resolver.resolve(mine)
        return {k: v for k, v in props.items() if v is not None}

    def _layer(self, logical_id: str, spec: dict[str, Any]) -> None:
        # The lifeboat package is installed in this environment (editable): nothing to upload.
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{self.name_of(logical_id)}:1"
        self._set(logical_id, arn)

    def _table(self, logical_id: str, spec: dict[str, Any]) -> None:
        props = self._props(spec)
        name = self.name_of(logical_id)
        ddb = self.client("dynamodb")
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []),
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        if "TimeToLiveSpecification" in props:
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )
        self.stack.tables.append(name)
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        self._set(logical_id, name, Arn=arn)

    def _topic(self, logical_id: str, spec: dict[str, Any]) -> None:
        name = self.name_of(logical_id)
        arn = self.client("sns").create_topic(Name=name)["TopicArn"]
        self._set(logical_id, arn, TopicArn=arn, TopicName=name)

    def _subscription(self, logical_id: str, spec: dict[str, Any]) -> None:
        props = self._props(spec)
        attributes = {}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        self.client("sns").subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=attributes,
        )

    def _queue(self, logical_id: str, spec: dict[str, Any]) -> None:
        name = self.name_of(logical_id)
        url = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        self.stack.queues.append(url)
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        self._set(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)

    def _log_group(self, logical_id: str, spec: dict[str, Any]) -> None:
        props = self._props(spec)
        name = str(props.get("LogGroupName") or f"/lifeboat/{self.stack_name}/{logical_id}")
        logs = self.client("logs")
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(
                logGroupName=name, retentionInDays=int(props["RetentionInDays"])
            )
        self._set(logical_id, name, Arn=f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*")

    def _role(self) -> str:
        if not self._role_arn:
            iam = self.client("iam")
            name = f"{self.stack_name}-local-execution"
            trust = {"Version": "2012-10-17", "Statement": []}
            self._role_arn = iam.create_role(
                RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
            )["Role"]["Arn"]
        return self._role_arn

    def _function(self, logical_id: str, spec: dict[str, Any]) -> None:
        globals_ = self.resolver.resolve(self.template.get("Globals", {}).get("Function", {}))
        props = {**globals_, **self._props(spec)}
        env = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        env = {k: str(v) for k, v in env.items()}
        self.stack.environments[logical_id] = env
        name = self.name_of(logical_id)
        buffer = io.BytesIO()
        code_dir = self.root / props["CodeUri"]
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.write(code_dir / "app.py", "app.py")
        arn = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=props["Runtime"],
            Role=self._role(),
            Handler=props["Handler"],
            Code={"ZipFile": buffer.getvalue()},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Architectures=props.get("Architectures", ["x86_64"]),
            Environment={"Variables": env},
        )["FunctionArn"]
        self.bridge.register(
            LocalFunction(
                name=name,
                code_dir=code_dir,
                handler=props["Handler"],
                timeout=int(props.get("Timeout", 3)),
                memory=int(props.get("MemorySize", 128)),
                arn=arn,
                environment=env,
            )
        )
        self._set(logical_id, name, Arn=arn)
        for event_id, event in spec.get("Properties", {}).get("Events", {}).items():
            # a function's ScheduleV2 (the RPO publisher): stored, never fired, as every schedule
            if event["Type"] not in ("EventBridgeRule", "CloudWatchEvent", "ScheduleV2"):
                raise NotImplementedError(f"{logical_id}.{event_id}: event type {event['Type']}")
            self.event_sources.append(
                partial(self._event_source, f"{name}-{event_id}", arn, event, with_role=False)
            )

    def _state_machine(self, logical_id: str, spec: dict[str, Any]) -> None:
        props = self._props(spec)
        definition = (self.root / props["DefinitionUri"]).read_text(encoding="utf-8")
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        leftover = re.findall(r"\$\{(\w+)\}", definition)
        if leftover:
            raise ValueError(f"{logical_id}: unresolved substitutions {sorted(set(leftover))}")
        definition = express_children_as_standard(definition)  # also: valid JSON
        name = str(props.get("Name") or self.name_of(logical_id))
        arn = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=self._role(),
            type=props.get("Type", "STANDARD"),
        )["stateMachineArn"]
        self._set(logical_id, arn, Arn=arn, Name=name)
        for event_id, event in spec.get("Properties", {}).get("Events", {}).items():
            if event["Type"] not in ("ScheduleV2", "EventBridgeRule", "CloudWatchEvent"):
                raise NotImplementedError(f"{logical_id}.{event_id}: event type {event['Type']}")
            self.event_sources.append(partial(self._event_source, f"{name}-{event_id}", arn, event))

    def _event_source(
        self, name: str, target_arn: str, event: dict[str, Any], with_role: bool = True
    ) -> None:
        props = self.resolver.resolve(event.get("Properties", {}))
        if event["Type"] == "ScheduleV2":
            self._schedule(name, target_arn, props)
        else:
            self._rule_to_target(name, target_arn, props, with_role=with_role)

    def _schedule(self, name: str, target_arn: str, props: dict[str, Any]) -> None:
        target: dict[str, Any] = {
            "Arn": target_arn,
            "RoleArn": self._role(),
            "Input": props.get("Input", "{}"),
        }
        if "RetryPolicy" in props:
            target["RetryPolicy"] = props["RetryPolicy"]
        if "DeadLetterConfig" in props:
            target["DeadLetterConfig"] = {"Arn": props["DeadLetterConfig"]["Arn"]}
        self.client("scheduler").create_schedule(
            Name=name,
            ScheduleExpression=props["ScheduleExpression"],
            ScheduleExpressionTimezone=props.get("ScheduleExpressionTimezone", "UTC"),
            FlexibleTimeWindow=props.get("FlexibleTimeWindow", {"Mode": "OFF"}),
            State=props.get("State", "ENABLED"),
            Description=props.get("Description", ""),
            Target=target,
        )
        self.stack.schedules.append(name)

    def _rule_to_target(
        self, name: str, target_arn: str, props: dict[str, Any], with_role: bool = True
    ) -> None:
        events = self.client("events")
        events.put_rule(
            Name=name,
            EventPattern=json.dumps(props["Pattern"]),
            State=props.get("State", "ENABLED"),
        )
        target: dict[str, Any] = {"Id": "target", "Arn": target_arn}
        if with_role:
            target["RoleArn"] = self._role()
        if "InputPath" in props:
            target["InputPath"] = props["InputPath"]
        if "RetryPolicy" in props:
            target["RetryPolicy"] = props["RetryPolicy"]
        if "DeadLetterConfig" in props:
            target["DeadLetterConfig"] = {"Arn": props["DeadLetterConfig"]["Arn"]}
        events.put_targets(Rule=name, Targets=[target])
        self.stack.event_rules.append(name)

    def _event_rule(self, logical_id: str, spec: dict[str, Any]) -> None:
        props = self._props(spec)
        name = self.name_of(logical_id)
        events = self.client("events")
        events.put_rule(
            Name=name,
            EventPattern=json.dumps(props["EventPattern"]),
            State=props.get("State", "ENABLED"),
        )
        targets = [
            {"Id": t["Id"], "Arn": t["Arn"], **({"Input": t["Input"]} if "Input" in t else {})}
            for t in props.get("Targets", [])
        ]
        if targets:
            events.put_targets(Rule=name, Targets=targets)
        self.stack.event_rules.append(name)
        self._set(logical_id, name, Arn=f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{name}")

    def _alarm(self, logical_id: str, spec: dict[str, Any]) -> None:
        props = self._props(spec)
        name = props.pop("AlarmName", self.name_of(logical_id))
        self.client("cloudwatch").put_metric_alarm(AlarmName=name, **props)
        self.stack.alarms[name] = props
        self._set(logical_id, name, Arn=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}")

    def _dashboard(self, logical_id: str, spec: dict[str, Any]) -> None:
        props = self._props(spec)
        name = props.get("DashboardName") or self.name_of(logical_id)
        self.client("cloudwatch").put_dashboard(
            DashboardName=name, DashboardBody=props["DashboardBody"]
        )
        self._set(logical_id, name)

    def _outputs(self) -> None:
        outputs = {
            key: str(self.resolver.resolve(spec["Value"]))
            for key, spec in self.template.get("Outputs", {}).items()
            if not spec.get("Condition") or self.resolver.condition(spec["Condition"])
        }
        self.stack.outputs = outputs
        body = {
            "Description": "Lifeboat (local mode): resources deployed by lifeboat.local.stack",
            "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {k: {"Value": v} for k, v in outputs.items()},
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.client("cloudformation").create_stack(
                StackName=self.stack_name, TemplateBody=json.dumps(body)
            )


def deploy(
    endpoint: str,
    root: Path | None = None,
    stack_name: str = "lifeboat",
    parameters: dict[str, str] | None = None,
) -> LocalStack:
    return Deployer(root or repo_root(), endpoint, stack_name, parameters).deploy()
