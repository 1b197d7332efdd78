"""The script steps of a batch in the backup state machine (``statemachines/backup.asl.json``):
send the pre script, poll it (the machine's Wait states wait, never this code), decide each
instance's consistency for the create call, send the post script on every path once the pre
script was sent, poll it, notify what went wrong.

A command is sent to at most 50 instances (SendCommand's limit) and only to instances whose
SSM agent is online; one without follows the rule's ``on_pre_failure``, like a failed script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lifeboat.models import CreateBatchEvent, CreateTask, ExecutionContext
from lifeboat.plans import Kind, PlanSet, Rule
from lifeboat.ports import Ports
from lifeboat.scripts.models import FINAL, Scripts, ScriptsState
from lifeboat.scripts.ports import ScriptsPort

SEND_LIMIT = 50  # instance ids per SendCommand
DELIVERY_MARGIN_SECONDS = 30  # SSM's delivery, on top of the script's own time-out
MAX_POLLS = 60  # the machine's Choice also stops at this many attempts


class ScriptsTask(BaseModel):
    """A batch item of the create Map as it stands when a script step runs: the batch
    (``state``), the run's execution, and what earlier steps added."""

    model_config = ConfigDict(extra="ignore")
    state: CreateBatchEvent
    execution: ExecutionContext
    scripts: ScriptsState | None = None
    scripts_error: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ScriptsEvent(BaseModel):
    """What the BackupScripts function receives: the step and the batch item."""

    model_config = ConfigDict(extra="forbid")
    phase: Literal["pre", "check", "post"]
    task: ScriptsTask


@dataclass(frozen=True)
class Decision:
    """How one instance's points of this run are made, after its pre script."""

    consistency: Literal["application", "crash"]
    reason: str
    skip: bool = False


def rule_scripts(plans: PlanSet, batch: CreateBatchEvent) -> tuple[Rule, Scripts | None]:
    _plan, rule = plans.rule(batch.plan, batch.rule)
    instance_kinds = Kind.AMI in rule.kinds or Kind.EBS in rule.kinds
    return rule, rule.scripts if instance_kinds else None


def run_step(event: ScriptsEvent, plans: PlanSet, ports: Ports) -> dict[str, Any]:
    """The BackupScripts function: one step, the new ``$.scripts``."""
    task = event.task
    rule, scripts = rule_scripts(plans, task.state)
    port = ports.scripts
    if scripts is None or port is None:
        return ScriptsState(active=False, phase="done").model_dump(mode="json")
    if event.phase == "pre":
        found = start_pre(task, scripts, port)
    elif event.phase == "post":
        found = start_post(task, scripts, port)
    else:
        found = check(task, scripts, port, ports, rule)
    return found.model_dump(mode="json")


def _instances(batch: CreateBatchEvent) -> list[str]:
    return [r.id for r in batch.resources if r.type == "instance"]


def _polls(scripts: Scripts, wait_seconds: int) -> int:
    return min(
        MAX_POLLS, math.ceil((scripts.timeout_seconds + DELIVERY_MARGIN_SECONDS) / wait_seconds)
    )


def _wait(scripts: Scripts) -> int:
    return max(2, min(15, scripts.timeout_seconds // 6))


def _send(
    port: ScriptsPort, targets: list[str], scripts: Scripts, phase: Literal["pre", "post"], run: str
) -> list[str]:
    document, parameters = scripts.parameters(phase)
    return [
        port.send(
            targets[i : i + SEND_LIMIT],
            document,
            parameters,
            scripts.timeout_seconds,
            f"Lifeboat {phase} script, run {run}"[:100],
        )
        for i in range(0, len(targets), SEND_LIMIT)
    ]


def start_pre(task: ScriptsTask, scripts: Scripts, port: ScriptsPort) -> ScriptsState:
    """Send the pre script to every instance of the batch whose agent is online."""
    instances = _instances(task.state)
    if not instances:
        return ScriptsState(active=False, phase="done")
    online = port.online(instances)
    sent = [i for i in instances if i in online]
    wait = _wait(scripts)
    return ScriptsState(
        active=True,
        phase="pre",
        commands=_send(port, sent, scripts, "pre", task.state.run_id) if sent else [],
        sent=sent,
        offline=[i for i in instances if i not in online],
        pending=len(sent),
        wait_seconds=wait,
        max_attempts=_polls(scripts, wait),
    )


def start_post(task: ScriptsTask, scripts: Scripts, port: ScriptsPort) -> ScriptsState:
    """Send the post script wherever the pre script may have run: the instances it was sent
    to or, when the pre step itself failed (nothing recorded), every online instance of the
    batch (the recipes' post scripts are safe to run when nothing is held)."""
    state = task.scripts or ScriptsState(active=True)
    if task.scripts is not None and task.scripts.active:
        targets = list(state.sent)
    else:
        instances = _instances(task.state)
        online = port.online(instances) if instances else set()
        targets = [i for i in instances if i in online]
    wait = _wait(scripts)
    return state.model_copy(
        update={
            "active": True,
            "phase": "post",
            "commands": _send(port, targets, scripts, "post", task.state.run_id) if targets else [],
            "sent": state.sent or targets,
            "attempt": 0,
            "pending": len(targets),
            "wait_seconds": wait,
            "max_attempts": _polls(scripts, wait),
            "post_results": dict.fromkeys(targets, "Pending"),
        }
    )


def check(
    task: ScriptsTask,
    scripts: Scripts,
    port: ScriptsPort,
    ports: Ports,
    rule: Rule,
) -> ScriptsState:
    """Read the phase's invocations once; past the phase's time-out, what has not finished
    counts as ``TimedOut``. A settled post phase marks crash-consistent the points of an
    instance whose post script did not succeed, and notifies every instance whose scripts did
    not succeed (or that had no SSM agent)."""
    state = task.scripts or ScriptsState(active=True)
    statuses: dict[str, str] = {}
    for command_id in state.commands:
        for invocation in port.invocations(command_id):
            statuses[invocation.instance_id] = invocation.status
    targets = list(state.post_results) if state.phase == "post" else state.sent
    attempt = state.attempt + 1
    results = {i: statuses.get(i, "Pending") for i in targets}
    pending = [i for i, s in results.items() if s not in FINAL]
    if pending and attempt >= state.max_attempts:
        results.update(dict.fromkeys(pending, "TimedOut"))
        pending = []
    field = "post_results" if state.phase == "post" else "results"
    settled = state.model_copy(update={field: results, "attempt": attempt, "pending": len(pending)})
    if state.phase == "post" and not pending:
        settled = settled.model_copy(update={"phase": "done"})
        _downgrade(task, rule, settled, ports)
        _notify(task, scripts, settled, ports)
    return settled


def _downgrade(task: ScriptsTask, rule: Rule, state: ScriptsState, ports: Ports) -> None:
    """A post script that did not succeed after a pre script that did: what the pre script
    held may have been released before the snapshot (the recipes' thaw exits 3 when their own
    timer released it first), so the instance's points of this run are only crash-consistent."""
    doubtful = {
        iid: status
        for iid, status in state.post_results.items()
        if status != "Success" and state.results.get(iid) == "Success"
    }
    if not doubtful:
        return
    batch = task.state
    kinds = [k.value for k in rule.kinds if k in (Kind.AMI, Kind.EBS)]
    found = ports.catalog.get_points([(i, batch.run_id, k) for i in doubtful for k in kinds])
    ports.catalog.put_points(
        [
            point.model_copy(
                update={
                    "consistency": "crash",
                    "consistency_reason": f"post script {doubtful[point.source_id]} on "
                    f"{point.source_id}: the pre script's hold may have ended (its own timer) "
                    "before the snapshot",
                }
            )
            for point in found.values()
            if point.consistency == "application"
        ]
    )


def decisions(
    batch: CreateBatchEvent,
    scripts: Scripts | None,
    state: ScriptsState | None,
    step_error: dict[str, Any] | None = None,
) -> dict[str, Decision]:
    """Each instance's consistency for the create call (empty: the rule has no scripts)."""
    if scripts is None:
        return {}
    found = state or ScriptsState(active=True)
    failed_step = (step_error or {}).get("Error")
    out: dict[str, Decision] = {}
    for iid in _instances(batch):
        status = found.results.get(iid)
        if status == "Success":
            out[iid] = Decision("application", f"pre script succeeded on {iid}")
            continue
        if iid in found.offline:
            why = f"no online SSM agent on {iid} (DescribeInstanceInformation), no pre script ran"
        elif failed_step:
            why = f"the pre-script step failed ({failed_step}) before {iid}'s script succeeded"
        else:
            why = f"pre script {status or 'did not finish'} on {iid}"
        skip = scripts.on_pre_failure == "skip"
        out[iid] = Decision("crash", f"{why}; on_pre_failure: {scripts.on_pre_failure}", skip)
    return out


def consistency_for(task: CreateTask, plans: PlanSet) -> dict[str, Decision]:
    """The create task's decisions, from what the script steps left in its payload."""
    _rule, scripts = rule_scripts(plans, task.state)
    return decisions(task.state, scripts, task.scripts, task.scripts_error)


def _notify(task: ScriptsTask, scripts: Scripts, state: ScriptsState, ports: Ports) -> None:
    decided = decisions(task.state, scripts, state, task.scripts_error)
    pre = {i: d.reason for i, d in decided.items() if d.consistency != "application"}
    post = {i: s for i, s in state.post_results.items() if s != "Success"}
    if (pre or post) and ports.notifier is not None:
        batch = task.state
        ports.notifier.publish(
            f"Lifeboat {batch.plan}/{batch.rule}: scripts did not succeed on "
            f"{len(set(pre) | set(post))} instance(s)",
            {
                "run_id": batch.run_id,
                "on_pre_failure": scripts.on_pre_failure,
                "pre_script": pre,
                "post_script": {
                    i: f"{s}: whatever the pre script holds must be released by its own timer "
                    "(the shipped recipes do); the instance's points of this run are "
                    "crash-consistent"
                    for i, s in post.items()
                },
            },
        )
