"""What every command shares: exit codes, the region, the stack's outputs, following an
execution, reporting its end, and invoking a Lifeboat function."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lifeboat import executions
from lifeboat.aws.clients import client, long_call_client
from lifeboat.errors import InvalidInputError
from lifeboat.output import emit_json, say
from lifeboat.stack import stack_outputs

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_STACK, EXIT_AWS = 0, 1, 2, 3, 4


class AwsSetupError(Exception):
    """No region, no credentials, or the endpoint cannot be reached."""


class RemoteError(Exception):
    """A Lifeboat function answered with an error."""


def resolve_region(environ: dict[str, str] | None = None) -> str:
    """The region the way AWS tools find it: ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then
    the profile (``AWS_PROFILE`` or default, in ~/.aws/config). boto3 itself reads only the last
    two, so the one found is exported as ``AWS_DEFAULT_REGION`` for every client of this run."""
    env = os.environ if environ is None else environ
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        try:
            region = boto3.session.Session().region_name
        except BotoCoreError as exc:
            raise AwsSetupError(str(exc)) from exc
    if not region:
        raise AwsSetupError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your profile"
        )
    env["AWS_DEFAULT_REGION"] = region
    return region


def outputs(args: argparse.Namespace) -> dict[str, str]:
    return stack_outputs(args.stack)


def follow(args: argparse.Namespace, arn: str, timeout: float) -> dict[str, Any]:
    on_line = None if args.json else (lambda line: say(f"  {line}"))
    return executions.wait(arn, timeout=timeout, poll=args.poll, on_line=on_line)


def finish(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        emit_json(result)
    else:
        say(f"status: {result['status']}")
        if result.get("error"):
            say(f"error:  {result['error']}")
            say(f"cause:  {result.get('cause') or '-'}")
    return exit_code(result["status"])


def exit_code(status: str) -> int:
    if status == "REFUSED":
        return EXIT_INPUT
    return EXIT_OK if status == "SUCCEEDED" else EXIT_FAILED


def started(args: argparse.Namespace, execution: str, payload: dict[str, Any]) -> int:
    if args.json:
        emit_json({"execution_arn": execution, "input": payload})
    else:
        say(f"started {execution}")
        say(f"follow it with: lifeboat executions show {execution} --wait")
    return EXIT_OK


def caller() -> str:
    try:
        return str(client("sts").get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError):
        return os.environ.get("USER", "unknown")


def invoke(function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = long_call_client("lambda").invoke(
        FunctionName=function_name, Payload=json.dumps(payload).encode()
    )
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        if isinstance(body, dict) and body.get("errorType") == "InvalidInputError":
            message = str(body.get("errorMessage", ""))
            field, _, text = message.partition(": ")
            raise InvalidInputError(field, text)
        raise RemoteError(f"{function_name} failed: {body}")
    return dict(body)
