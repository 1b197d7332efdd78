"""The ``scripts`` option of a rule (the plans-file shape is a contract) and the state the
backup state machine carries between the script steps (``$.scripts`` of a batch)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

RUN_SHELL = "AWS-RunShellScript"
# An SSM document name (SendCommand's DocumentName pattern, without an ARN: the template grants
# SendCommand on documents of this account by name).
_DOCUMENT = re.compile(r"^[a-zA-Z0-9_\-.]{3,128}$")
ScriptCommand = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
OnPreFailure = Literal["crash-consistent", "skip"]
# SSM's final invocation statuses (anything else is still running).
FINAL = frozenset(
    {
        "Success",
        "Failed",
        "TimedOut",
        "Cancelled",
        "Cancelling",
        "DeliveryTimedOut",
        "Undeliverable",
        "Terminated",
        "InvalidPlatform",
        "AccessDenied",
    }
)


class Scripts(BaseModel):
    """Commands (``AWS-RunShellScript``) run on each instance before and after the create call,
    or one SSM command ``document`` following DLM's convention (a required ``command``
    parameter whose allowed values include ``pre-script`` and ``post-script``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    pre: tuple[ScriptCommand, ...] = Field((), max_length=50, description="shell commands")
    post: tuple[ScriptCommand, ...] = Field((), max_length=50, description="shell commands")
    document: str | None = Field(
        None, description="an SSM command document (instead of pre/post), e.g. MyFreezeDocument"
    )
    timeout_seconds: int = Field(60, ge=10, le=3600, description="each script, at most")
    on_pre_failure: OnPreFailure = Field(
        "crash-consistent", description="crash-consistent (a point anyway) or skip (no point)"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Scripts:
        if self.document is not None:
            if self.pre or self.post:
                raise ValueError(
                    "give either document (an SSM document run with command=pre-script and "
                    "post-script) or pre/post commands, not both"
                )
            if not _DOCUMENT.match(self.document) or self.document.startswith("AWS-"):
                raise ValueError(
                    f"document {self.document!r} is not the name of one of your SSM command "
                    "documents (3-128 of A-Z a-z 0-9 _ - .; AWS-owned documents do not follow "
                    "the pre-script/post-script convention): use pre/post for shell commands"
                )
        elif not self.pre:
            raise ValueError(
                "give pre (the commands that quiesce the application; post undoes them) or document"
            )
        return self

    def parameters(self, phase: Literal["pre", "post"]) -> tuple[str, dict[str, list[str]]]:
        """SendCommand's DocumentName and Parameters for ``phase``."""
        if self.document is not None:
            return self.document, {"command": [f"{phase}-script"]}
        commands = list(self.pre if phase == "pre" else self.post)
        return RUN_SHELL, {
            "commands": commands or ["true"],
            "executionTimeout": [str(self.timeout_seconds)],
        }


def scripts_for_kinds(cls: type, value: Scripts | None, info: ValidationInfo) -> Scripts | None:
    """A rule's ``scripts`` validator: scripts need instances (kinds ami or ebs)."""
    kinds = {str(k) for k in info.data.get("kinds", ())}
    if value is not None and kinds and not kinds & {"ami", "ebs"}:
        raise ValueError(
            "scripts run on instances around their AMI or EBS snapshots: add kind ami or "
            "ebs, or remove scripts (RDS snapshots are consistent by themselves)"
        )
    return value


class Invocation(BaseModel):
    """One instance's run of a command, as SSM reports it (``ListCommandInvocations``)."""

    model_config = ConfigDict(frozen=True)
    instance_id: str
    status: str = Field(description="SSM's: Pending, InProgress, Success, Failed, TimedOut...")
    output: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL


class ScriptsState(BaseModel):
    """``$.scripts`` of a batch: what was sent, what SSM answered, the poll's counter."""

    model_config = ConfigDict(extra="ignore")
    active: bool = False
    phase: Literal["pre", "post", "done"] = "pre"
    commands: list[str] = Field(default_factory=list, description="SSM command ids of the phase")
    sent: list[str] = Field(default_factory=list, description="instances the pre script reached")
    offline: list[str] = Field(
        default_factory=list, description="instances without an online SSM agent"
    )
    results: dict[str, str] = Field(default_factory=dict, description="instance → pre status")
    post_results: dict[str, str] = Field(default_factory=dict)
    attempt: int = Field(0, ge=0, le=10_000)
    max_attempts: int = Field(1, ge=1, le=1_000)
    pending: int = Field(0, ge=0)
    wait_seconds: int = Field(5, ge=1, le=3600)
