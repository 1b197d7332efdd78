"""ARC zonal shift (``arc-zonal-shift``), which moto 5.2.x does not have, for local mode.

Requests signed for ``arc-zonal-shift`` reach :class:`ZonalShifts`, a small REST-JSON service
with the API's semantics for Auto Scaling groups: ``StartZonalShift`` (POST /zonalshifts: the
group must exist; ``expiresIn`` 1 minute to 3 days; ``awayFrom`` an AZ id of the region; one
active shift per resource, else ``ConflictException``), ``CancelZonalShift`` (DELETE
/zonalshifts/{id}: ``CANCELED``; an unknown id ``ResourceNotFoundException``) and
``ListZonalShifts`` (GET /zonalshifts, by status and resource; a shift past its expiry is
``EXPIRED``)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

ORIGINAL_GET_APPLICATION = DomainDispatcherApplication.get_application
_EXPIRES = re.compile(r"^([1-9][0-9]*)([mhd])$")
_GROUP = re.compile(
    r"^arn:aws[a-z-]*:autoscaling:[a-z0-9-]+:\d{12}:autoScalingGroup:[^:]+:autoScalingGroupName/(.+)$"
)
StartResponse = Callable[..., Any]


class ZonalShifts:
    """The service: shifts held in memory for the emulator's life."""

    def __init__(self) -> None:
        self.shifts: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        try:
            if method == "POST" and path == "/zonalshifts":
                size = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(size) or b"{}")
                return self._answer(start, 201, self.start(body))
            if method == "GET" and path == "/zonalshifts":
                query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
                return self._answer(start, 200, self.list(query))
            if method == "DELETE" and path.startswith("/zonalshifts/"):
                return self._answer(start, 200, self.cancel(path.rsplit("/", 1)[-1]))
        except _Error as error:
            return self._answer(start, error.status, {"message": error.message}, error.code)
        return self._answer(start, 404, {"message": f"{method} {path}"}, "UnknownOperation")

    @staticmethod
    def _answer(
        start: StartResponse, status: int, body: dict[str, Any], code: str | None = None
    ) -> list[bytes]:
        headers = [("Content-Type", "application/json")]
        if code:
            headers.append(("x-amzn-ErrorType", code))
        start(f"{status} {'OK' if status < 400 else 'Error'}", headers)
        return [json.dumps(body, default=str).encode()]

    def _settle(self, now: datetime) -> None:
        for shift in self.shifts.values():
            if shift["status"] == "ACTIVE" and shift["expiryTime"] <= now.timestamp():
                shift["status"] = "EXPIRED"

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        from moto.autoscaling.models import autoscaling_backends
        from moto.ec2.models import ec2_backends

        resource, away = str(body.get("resourceIdentifier", "")), str(body.get("awayFrom", ""))
        found = _GROUP.match(resource)
        account, region = "123456789012", "us-east-1"
        if (
            found is None
            or found.group(1) not in autoscaling_backends[account][region].autoscaling_groups
        ):
            raise _Error(404, "ResourceNotFoundException", f"{resource} is not a managed resource")
        zones = {z.zone_id for z in ec2_backends[account][region].describe_availability_zones()}
        if away not in zones:
            raise _Error(400, "ValidationException", f"awayFrom {away} is not an AZ id of {region}")
        expires = _EXPIRES.match(str(body.get("expiresIn", "")))
        unit = {"m": 60, "h": 3600, "d": 86400}[expires.group(2)] if expires else 0
        seconds = int(expires.group(1)) * unit if expires else 0
        if not 60 <= seconds <= 3 * 86400:
            raise _Error(400, "ValidationException", "expiresIn must be 1 minute to 3 days")
        now = datetime.now(UTC)
        with self.lock:
            self._settle(now)
            if any(
                s["resourceIdentifier"] == resource and s["status"] == "ACTIVE"
                for s in self.shifts.values()
            ):
                raise _Error(409, "ConflictException", f"{resource} already has an active shift")
            shift: dict[str, Any] = {
                "zonalShiftId": str(uuid.uuid4()),
                "resourceIdentifier": resource,
                "awayFrom": away,
                "expiryTime": (now + timedelta(seconds=seconds)).timestamp(),
                "startTime": now.timestamp(),
                "status": "ACTIVE",
                "comment": str(body.get("comment", ""))[:128],
            }
            self.shifts[shift["zonalShiftId"]] = shift
            return dict(shift)

    def cancel(self, shift_id: str) -> dict[str, Any]:
        with self.lock:
            self._settle(datetime.now(UTC))
            shift = self.shifts.get(shift_id)
            if shift is None or shift["status"] != "ACTIVE":
                raise _Error(404, "ResourceNotFoundException", f"no active zonal shift {shift_id}")
            shift["status"] = "CANCELED"
            return dict(shift)

    def list(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self._settle(datetime.now(UTC))
            items = [
                dict(s)
                for s in self.shifts.values()
                if s["status"] == query.get("status", s["status"])
                and s["resourceIdentifier"]
                == query.get("resourceIdentifier", s["resourceIdentifier"])
            ]
        return {"items": items}


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


SERVICE = ZonalShifts()


def _get_application(dispatcher: Any, environ: dict[str, Any]) -> Any:
    scope = str(environ.get("HTTP_AUTHORIZATION", "")).split("Credential=")[-1].split(",")[0]
    if "/arc-zonal-shift/" in scope:
        return SERVICE
    return ORIGINAL_GET_APPLICATION(dispatcher, environ)


@contextmanager
def arc_gap_fills() -> Iterator[None]:
    with mock.patch.object(DomainDispatcherApplication, "get_application", _get_application):
        yield
