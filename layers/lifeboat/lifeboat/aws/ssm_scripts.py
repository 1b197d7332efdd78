"""SSM Run Command for pre and post scripts (:class:`lifeboat.scripts.ports.ScriptsPort`).

IAM (template.yaml, BackupScriptsFunction) lets SendCommand reach only instances carrying a plan
tag and only AWS-RunShellScript and the documents the plans name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.clients import THROTTLES, client
from lifeboat.aws.permissions import needs
from lifeboat.errors import TransientAwsError, error_code
from lifeboat.scripts.models import Invocation

FILTER_LIMIT = 50  # values of one DescribeInstanceInformation filter


@contextmanager
def _transient() -> Iterator[None]:
    """A throttle botocore's own retries gave up on: the task's Retry takes it from here."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in THROTTLES:
            raise TransientAwsError(f"SSM: {exc}") from exc
        raise


class SsmScripts:
    def __init__(self, ssm: Any = None) -> None:
        self._ssm = ssm

    @property
    def ssm(self) -> Any:
        if self._ssm is None:
            self._ssm = client("ssm")
        return self._ssm

    @needs("ssm:DescribeInstanceInformation")
    def online(self, instance_ids: list[str]) -> set[str]:
        found: set[str] = set()
        with _transient():
            for i in range(0, len(instance_ids), FILTER_LIMIT):
                pages = self.ssm.get_paginator("describe_instance_information").paginate(
                    Filters=[{"Key": "InstanceIds", "Values": instance_ids[i : i + FILTER_LIMIT]}]
                )
                for page in pages:
                    found.update(
                        info["InstanceId"]
                        for info in page.get("InstanceInformationList", [])
                        if info.get("PingStatus") == "Online"
                    )
        return found

    @needs("ssm:SendCommand")
    def send(
        self,
        instance_ids: list[str],
        document: str,
        parameters: dict[str, list[str]],
        timeout_seconds: int,
        comment: str,
    ) -> str:
        with _transient():
            sent = self.ssm.send_command(
                InstanceIds=instance_ids,
                DocumentName=document,
                Comment=comment[:100],
                # Delivery: an agent that does not pick the command up by then never runs it.
                TimeoutSeconds=max(30, timeout_seconds),
                Parameters=parameters,
            )
        return str(sent["Command"]["CommandId"])

    @needs("ssm:ListCommandInvocations")
    def invocations(self, command_id: str) -> list[Invocation]:
        found: list[Invocation] = []
        with _transient():
            pages = self.ssm.get_paginator("list_command_invocations").paginate(
                CommandId=command_id, Details=True
            )
            for page in pages:
                for item in page.get("CommandInvocations", []):
                    output = "\n".join(
                        str(plugin.get("Output") or "") for plugin in item.get("CommandPlugins", [])
                    )
                    found.append(
                        Invocation(
                            instance_id=item["InstanceId"],
                            status=str(item.get("Status", "Pending")),
                            output=output[-2000:],
                        )
                    )
        return found
