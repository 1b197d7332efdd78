"""The gates of `make gates` are themselves tested: each tool fails on a broken input.

asl-validator (Node) and tools/check_iam.py (the SAM venv: the SAM translator and parliament)
run as local subprocesses; nothing here opens a socket. `make gates-tests` and `make test`
install both; run alone, a missing tool fails the test with the command that installs it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.gates
ROOT = Path(__file__).resolve().parents[2]
ASL_VALIDATOR = ROOT / ".node/node_modules/.bin/asl-validator"
SAM_PYTHON = ROOT / ".venv-sam/bin/python"
CHECK_IAM = ROOT / "tools/check_iam.py"
TEMPLATE = (ROOT / "template.yaml").read_text(encoding="utf-8")


def _tool(path: Path, target: str) -> Path:
    if not path.exists():
        pytest.fail(
            f"{path.relative_to(ROOT)} is missing: run `make {target}` (or `make gates-tests`)"
        )
    return path


def _asl_validator(definition: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tool(ASL_VALIDATOR, "asl")), "--json-path", str(definition)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _check_iam(template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tool(SAM_PYTHON, "iam")), str(CHECK_IAM), str(template)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "statemachines").glob("*.json")))
def test_every_state_machine_is_valid_asl(name: str) -> None:
    result = _asl_validator(ROOT / "statemachines" / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_state_name_used_twice(tmp_path: Path) -> None:
    # Given a Map whose iterator reuses the name of a state outside it (what CloudFormation
    # rejects with DUPLICATE_STATE_NAME and moto accepts)
    task: dict[str, Any] = {"Type": "Pass", "End": True}
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Done",
                    "States": {"Done": task},
                },
                "Next": "Done",
            },
            "Done": task,
        },
    }
    path = tmp_path / "duplicate.asl.json"
    path.write_text(json.dumps(definition), encoding="utf-8")

    result = _asl_validator(path)

    assert result.returncode != 0
    assert "DUPLICATE_STATE_NAMES" in result.stdout + result.stderr


def test_the_template_s_iam_is_in_iam_s_reference() -> None:
    result = _check_iam(ROOT / "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


BROKEN = {
    # an action IAM does not have
    "unknown action": (
        "Action: [ec2:CreateImage, ec2:CreateSnapshots]\n",
        "Action: [ec2:CreateImage, ec2:CreateSnapshotSet]\n",
        "UNKNOWN_ACTION Unknown action ec2:CreateSnapshotSet",
    ),
    # a condition key the action does not support for that resource type: an instance is not
    # tagged by CreateImage, so aws:RequestTag is absent there and the statement never matches
    "condition key for the resource type": (
        '{"aws:ResourceTag/lifeboat:plan": "?*"}\n            - Sid: SnapshotTheirVolumes',
        '{"aws:RequestTag/lifeboat:plan": "?*"}\n            - Sid: SnapshotTheirVolumes',
        "key aws:RequestTag/lifeboat:plan is not supported by ec2:CreateImage on instance",
    ),
    # a condition key that does not exist at all
    "unknown condition key": (
        'StringEquals: {"ec2:CreateAction": [CreateImage, CreateSnapshots]}',
        'StringEquals: {"ec2:CreatedAction": [CreateImage, CreateSnapshots]}',
        "UNKNOWN_CONDITION_FOR_ACTION Unknown condition ec2:CreatedAction",
    ),
    # an AMI's ARN has no account field
    "ARN shape": (
        "arn:${AWS::Partition}:ec2:${AWS::Region}::image/*",
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:image/*",
        ":123456789012:image/* is of no resource type the statement's actions take",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_iam_check_fails_on_what_iam_would_not_do(case: str, tmp_path: Path) -> None:
    original, broken, finding = BROKEN[case]
    assert original in TEMPLATE, f"{case}: the test's anchor is gone from template.yaml"
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE.replace(original, broken, 1), encoding="utf-8")

    result = _check_iam(template)

    assert result.returncode == 1, result.stdout + result.stderr
    assert finding in result.stdout
