"""Check every IAM policy of a SAM template against IAM's own reference.

Runs in the SAM CLI's venv (``.venv-sam``: ``samtranslator`` and ``parliament``, both pinned in
the Makefile). The template is expanded by the SAM transform exactly as CloudFormation would
(policy templates such as ``LambdaInvokePolicy`` become statements, event sources get their
roles and queue policies), intrinsic functions are resolved to ARNs of the shape each resource
type really has, and every policy document is analysed by parliament against the Service
Authorization Reference data it ships: every action must exist, every condition key must be
one that action supports (for its resource types, or globally), every resource ARN must be of a
shape one of the action's resource types has. No list of actions is kept here.

    .venv-sam/bin/python tools/check_iam.py template.yaml      # exit 1 and the findings, or 0

``tests/gates/test_gates.py`` runs it on this template and on broken copies (an action that does
not exist, a condition key the action does not support) and expects it to fail on those.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "lifeboat"
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)

from parliament import analyze_policy_string, expand_action, is_arn_strictly_valid  # noqa: E402
from parliament.statement import (  # noqa: E402
    get_arn_format,
    get_global_key_type,
    get_privilege_info,
    is_condition_key_match,
)
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

# Parliament's findings that mean "IAM does not work like this": an action, prefix or condition
# key IAM does not have, a malformed ARN, document or operator. Not failing: RESOURCE_STAR and
# RESOURCE_EFFECTIVELY_STAR (least privilege is tests/unit/test_template.py's job, with the
# reasons), NO_VERSION (SAM's own policy templates carry no Version; nothing here uses policy
# variables), and RESOURCE_MISMATCH, which wants every resource type an action can take within
# one statement: statements here are split by resource type (each with its own tag condition)
# and an action such as states:DescribeExecution takes *either* an execution or an express
# execution. Resource shapes are checked per statement by _statement_problems instead.
FAILING = {
    "EXCEPTION",
    "MALFORMED_JSON",
    "MALFORMED",
    "DUPLICATE_SID",
    "INVALID_SID",
    "INVALID_ARN",
    "UNKNOWN_ACTION",
    "UNKNOWN_PREFIX",
    "UNKNOWN_CONDITION_FOR_ACTION",
    "UNKNOWN_OPERATOR",
    "UNKNOWN_PRINCIPAL",
    "UNKNOWN_FEDERATION_SOURCE",
    "MISMATCHED_TYPE",
    "MISMATCHED_TYPE_OPERATION_TO_NULL",
    "INVALID_VERSION",
    "OLD_VERSION",
}
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": STACK,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
# Parliament counts the tag keys among the global condition keys, but whether a request carries
# them depends on the action and the resource type (the reference lists them per row): they are
# checked like service keys here, which is what every tag guard in this template relies on.
RESOURCE_DEPENDENT_KEYS = ("aws:requesttag/", "aws:resourcetag/", "aws:tagkeys")
ARN = f"arn:aws:{{service}}:{REGION}:{ACCOUNT}:{{rest}}"


def _names(resource_type: str, name: str) -> tuple[str, dict[str, str]]:
    """Ref and attributes of a resource, in the shape AWS gives them."""

    def arn(service: str, rest: str) -> str:
        return ARN.format(service=service, rest=rest)

    shapes: dict[str, tuple[str, dict[str, str]]] = {
        "AWS::DynamoDB::Table": (
            name,
            {
                "Arn": arn("dynamodb", f"table/{name}"),
                "StreamArn": arn("dynamodb", f"table/{name}/stream/x"),
            },
        ),
        "AWS::SNS::Topic": (
            arn("sns", name),
            {"TopicArn": arn("sns", name), "TopicName": name},
        ),
        "AWS::SQS::Queue": (
            f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
            {"Arn": arn("sqs", name), "QueueName": name},
        ),
        "AWS::Lambda::Function": (name, {"Arn": arn("lambda", f"function:{name}")}),
        "AWS::StepFunctions::StateMachine": (
            arn("states", f"stateMachine:{name}"),
            {"Arn": arn("states", f"stateMachine:{name}"), "Name": name},
        ),
        "AWS::Logs::LogGroup": (name, {"Arn": arn("logs", f"log-group:{name}:*")}),
        "AWS::IAM::Role": (name, {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "RoleId": "AROA"}),
        "AWS::Events::Rule": (name, {"Arn": arn("events", f"rule/{name}")}),
        "AWS::Scheduler::Schedule": (name, {"Arn": arn("scheduler", f"schedule/default/{name}")}),
        "AWS::CloudWatch::Alarm": (name, {"Arn": arn("cloudwatch", f"alarm:{name}")}),
        "AWS::Lambda::LayerVersion": (arn("lambda", f"layer:{name}:1"), {}),
    }
    return shapes.get(resource_type, (name, {}))


# A list parameter empty by default is checked with an example of what it takes.
LIST_EXAMPLES = {
    "CopyKmsKeyArns": [
        "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ],
    "ApplicationHostedZoneIds": ["Z0123456789ABCDEFGHIJ", "Z9876543210ABCDEFGHIJ"],
    "ApplicationParameterNames": ["/elearn/db/endpoint"],
}
# So is a string parameter empty by default that a statement names (granted only when it is
# set, with !If).
EXAMPLES = {
    "DrillInstanceRoleArn": "arn:aws:iam::123456789012:role/lifeboat-drill-ssm",
}


class Resolver:
    def __init__(self, template: dict[str, Any]) -> None:
        self.parameters: dict[str, Any] = {
            key: str(spec.get("Default", "")) or EXAMPLES.get(key, "")
            for key, spec in template.get("Parameters", {}).items()
        }
        for key, spec in template.get("Parameters", {}).items():
            if spec.get("Type") == "CommaDelimitedList":  # checked with a value filled in
                given = [v for v in str(spec.get("Default", "")).split(",") if v]
                self.parameters[key] = given or LIST_EXAMPLES[key]
        self.resources: dict[str, tuple[str, dict[str, str]]] = {}
        for logical_id, resource in template.get("Resources", {}).items():
            props = resource.get("Properties", {})
            explicit = next(
                (
                    props[k]
                    for k in (
                        "Name",
                        "FunctionName",
                        "TableName",
                        "TopicName",
                        "QueueName",
                        "StateMachineName",
                        "LogGroupName",
                        "RoleName",
                    )
                    if isinstance(props.get(k), str)
                ),
                None,
            )
            self.resources[logical_id] = _names(
                resource["Type"], explicit or f"{STACK}-{logical_id}"
            )
        self.template = template

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.resources[name][0]

    def get_att(self, name: str, attribute: str) -> str:
        ref, attrs = self.resources[name]
        if attribute not in attrs:
            raise KeyError(f"no attribute {attribute} of {name} in tools/check_iam.py")
        return attrs[attribute]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            intrinsic = self._intrinsics().get(key)
            if intrinsic is not None:
                return intrinsic(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _intrinsics(self) -> dict[str, Any]:
        return {
            "Ref": self.ref,
            "Fn::GetAtt": lambda arg: self.get_att(
                *(arg if isinstance(arg, list) else arg.split(".", 1))
            ),
            "Fn::Sub": self._sub,
            "Fn::Join": lambda arg: str(self.resolve(arg[0])).join(
                str(v)
                for v in (
                    [self.resolve(v) for v in arg[1]]
                    if isinstance(arg[1], list)
                    else self.resolve(arg[1])
                )
            ),
            "Fn::Split": lambda arg: str(self.resolve(arg[1])).split(str(arg[0])),
            "Fn::If": lambda arg: self.resolve(arg[1]),  # the condition's true branch
            "Fn::Select": lambda arg: self.resolve(arg[1])[int(arg[0])],
        }

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in variables:
                return str(variables[token])
            if "." in token:
                return self.get_att(*token.split(".", 1))
            return str(self.ref(token))

        return re.sub(r"\$\{([^}]+)\}", one, text)


def transformed(template_path: Path) -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform."""
    template = yaml_parse(template_path.read_text(encoding="utf-8"))
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    result: dict[str, Any] = transform(copy.deepcopy(template), {}, NoManagedPolicies())
    return result


def policy_documents(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, document) for every identity and resource policy the stack creates."""
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found.append((f"{logical_id}/{policy['PolicyName']}", policy["PolicyDocument"]))
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found.append((logical_id, props["PolicyDocument"]))
        elif kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            found.append((logical_id, props["PolicyDocument"]))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource_types(service: str, action: str) -> list[tuple[str, str, list[str]]]:
    """(resource type, ARN pattern, condition keys) of each resource type the action takes.

    The keys are the action's row for that resource type, plus the resource's own tag keys from
    the reference's resource-type table (``aws:ResourceTag/…``, ``rds:snapshot-tag/…``), which
    IAM evaluates whenever the resource is authorized — services such as RDS and CloudWatch
    list them only there. Other keys of that table (``aws:RequestTag/…``, for one) belong to
    the actions that list them.
    """
    info = get_privilege_info(service, action)
    tables = {r["resource"]: r["condition_keys"] for r in info["service_resources"]}
    found = []
    for row in info["resource_types"]:
        if not row["resource_type"]:
            continue
        type_ = row["resource_type"].rstrip("*")
        own_tags = [
            k for k in tables.get(type_, []) if "resourcetag/" in k.lower() or "-tag/" in k.lower()
        ]
        pattern = get_arn_format(row["resource_type"], info["service_resources"])
        found.append((type_, pattern, row["condition_keys"] + own_tags))
    return found


def _action_keys(service: str, action: str) -> list[str]:
    """Condition keys the action supports whatever the resource (the reference's empty row)."""
    info = get_privilege_info(service, action)
    return [
        k
        for row in info["resource_types"]
        if not row["resource_type"]
        for k in row["condition_keys"]
    ]


def _statement_problems(statement: dict[str, Any]) -> list[str]:
    """Resource ARNs and condition keys of one Allow statement, per action and resource type.

    * every resource ARN is of the shape of a resource type one of the statement's actions
      takes (a wrong partition/region/account field, resource type or separator matches none);
    * every action can act on one of the statement's resources (or, taking no resource type,
      is granted on "*");
    * every condition key is supported by each action for each resource type the statement
      grants it on (the reference's per-resource-type condition keys, the action's own keys,
      or a global key): a key the request does not carry for that resource silently denies.
    """
    if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
        return []
    actions = [
        a
        for action in _as_list(statement["Action"])
        for a in expand_action(action, raise_exceptions=False)
    ]
    resources = [str(r) for r in _as_list(statement["Resource"])]
    keys = [k for block in statement.get("Condition", {}).values() for k in block]
    sid = statement.get("Sid", "(no Sid)")
    problems: list[str] = []
    matched_resources: set[str] = set()
    for action in actions:
        name = f"{action['service']}:{action['action']}"
        types = _resource_types(action["service"], action["action"])
        if not types:
            if "*" not in resources:
                problems.append(f'{sid}: {name} takes no resource type; it needs Resource "*"')
            matched_resources.add("*")
            continue
        pairs = [
            (resource, type_, type_keys)
            for resource in resources
            for type_, pattern, type_keys in types
            if resource == "*" or is_arn_strictly_valid(type_, pattern, resource)
        ]
        if not pairs:
            shapes = ", ".join(pattern for _t, pattern, _k in types)
            problems.append(
                f"{sid}: {name} can act on none of {resources} (its resources: {shapes})"
            )
            continue
        matched_resources |= {resource for resource, _t, _k in pairs}
        own = _action_keys(action["service"], action["action"])
        for key in keys:
            if get_global_key_type(key) and not key.lower().startswith(RESOURCE_DEPENDENT_KEYS):
                continue
            for resource, type_, type_keys in pairs:
                supported = type_keys + own
                if resource == "*":
                    supported = own + [k for _t, _p, ks in types for k in ks]
                if not any(is_condition_key_match(known, key) for known in supported):
                    problems.append(
                        f"{sid}: condition key {key} is not supported by {name} "
                        f"on {type_} ({resource})"
                    )
    for resource in resources:
        if resource not in matched_resources:
            problems.append(
                f"{sid}: {resource} is of no resource type the statement's actions take"
            )
    return problems


def check(template_path: Path) -> list[str]:
    template = transformed(template_path)
    resolver = Resolver(template)
    problems: list[str] = []
    documents = policy_documents(template)
    if not documents:
        return [f"{template_path}: no IAM policy found to check"]
    for where, document in documents:
        resolved = resolver.resolve(document)
        policy = analyze_policy_string(json.dumps(resolved), ignore_private_auditors=True)
        for finding in policy.findings:
            if finding.issue in FAILING:
                problems.append(f"{where}: {finding.issue} {finding.detail} {finding.location}")
        if not any(f.issue in ("UNKNOWN_ACTION", "UNKNOWN_PREFIX") for f in policy.findings):
            for statement in _as_list(resolved.get("Statement", [])):
                problems.extend(f"{where}: {p}" for p in _statement_problems(statement))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path, nargs="?", default=Path("template.yaml"))
    args = parser.parse_args(argv)
    problems = check(args.template)
    for problem in problems:
        print(problem)
    if problems:
        print(f"✕ {args.template}: {len(problems)} IAM finding(s) against IAM's reference")
        return 1
    print(f"✓ {args.template}: every action, condition key and resource ARN is in IAM's reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
