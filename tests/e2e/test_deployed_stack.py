"""Against a deployed stack (``AWS_SAM_STACK_NAME``, with the account's usual AWS settings):
the CLI finds the stack and reads every output the template declares, with the stable keys
scripts rely on. Read-only. Skipped unless ``AWS_SAM_STACK_NAME`` is set."""

from __future__ import annotations

import json
import os

import pytest

from lifeboat.cli import EXIT_OK, main
from tools.gen_docs import template

pytestmark = pytest.mark.skipif(
    not os.environ.get("AWS_SAM_STACK_NAME"), reason="no deployed stack: set AWS_SAM_STACK_NAME"
)


def test_the_cli_reads_every_output_of_the_deployed_stack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = os.environ["AWS_SAM_STACK_NAME"]
    assert main(["stack", "outputs", "--stack", stack, "--json"]) == EXIT_OK
    outputs = json.loads(capsys.readouterr().out)
    declared = set(template()["Outputs"])
    assert declared <= set(outputs), f"missing outputs: {sorted(declared - set(outputs))}"
