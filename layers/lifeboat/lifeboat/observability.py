"""One Logger, Tracer and Metrics for the whole package (configured by POWERTOOLS_* variables)."""

from __future__ import annotations

import os
import sys
from logging import StreamHandler
from pathlib import Path
from typing import TextIO

from aws_lambda_powertools import Logger, Metrics, Tracer

# POWERTOOLS_SERVICE_NAME in template.yaml's Globals (a unit test keeps the two equal). The
# fallback matters where the package is imported before the template's environment is applied:
# the CLI and local mode, whose handlers would otherwise log as "service_undefined".
SERVICE_NAME = "lifeboat"
_service = os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME

logger = Logger(service=_service)
tracer = Tracer(service=_service)
metrics = Metrics(service=_service)


def log_to(stream: TextIO | None = None, level: str | None = None) -> None:
    """Local mode only: send the handlers' log lines (the JSON CloudWatch Logs would hold) to
    ``stream`` instead of stdout (``None``: back to stdout), at ``level`` if given."""
    handler = logger.registered_handler
    if isinstance(handler, StreamHandler):
        handler.setStream(stream or sys.stdout)
    if level:
        logger.setLevel(level)


def log_to_file(path: Path, level: str | None = None) -> TextIO:
    """Local mode only: the handlers' log lines go to ``path`` (appended); returns the file."""
    stream = path.open("a", encoding="utf-8")
    log_to(stream, level)
    return stream
