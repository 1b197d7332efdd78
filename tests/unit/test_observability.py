"""Logs read well: the service is named as in the template, and local mode can keep the
functions' log lines out of the CLI's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifeboat import observability
from lifeboat.local.cfn import load_template

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_the_service_name_is_the_template_s() -> None:
    template = load_template(ROOT / "template.yaml")
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE_NAME
    assert observability.logger.service == observability.SERVICE_NAME


def test_local_mode_sends_function_logs_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "functions.log"
    stream = observability.log_to_file(path, "INFO")
    try:
        observability.logger.warning("automatic restore refused", extra={"guard": "cooldown"})
    finally:
        observability.log_to(None)
        stream.close()

    assert "automatic restore refused" not in capsys.readouterr().out
    (line,) = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["service"] == "lifeboat" and record["guard"] == "cooldown"
