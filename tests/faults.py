"""Fault injection: make AWS calls fail with the real error codes, by rule.

Used by the tests to prove retries and partial failures. A rule
matches an operation and, optionally, request parameters; it fails the next ``times`` attempts
of matching calls with an error response shaped exactly as the service sends it, so botocore's
own retry logic and Lifeboat's :class:`~lifeboat.aws.clients.Retrier` see a real error.

    with FaultInjector([FaultRule("CreateSnapshots", "SnapshotCreationPerVolumeRateExceeded", 2)]):
        ...
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from lifeboat.aws import clients


@dataclass
class FaultRule:
    operation: str
    code: str
    times: int = 1
    status: int = 400
    message: str = "Injected by tests.faults"
    match: dict[str, Any] = field(default_factory=dict)
    injected: int = 0

    def matches(self, operation: str, params: dict[str, Any]) -> bool:
        if operation != self.operation or self.injected >= self.times:
            return False
        return all(_lookup(params, key) == value for key, value in self.match.items())


def _lookup(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _error_body(protocol: str, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>lifeboat-fault</RequestID></Response>"
        )
        return body.encode(), {"Content-Type": "text/xml"}
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>lifeboat-fault</RequestId></ErrorResponse>"
        )
        return body.encode(), {"Content-Type": "text/xml"}
    payload = json.dumps({"__type": code, "message": message}).encode()
    return payload, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}


class FaultInjector:
    """Installs the rules on every client Lifeboat creates while active."""

    def __init__(self, rules: list[FaultRule]) -> None:
        self.rules = rules
        self._lock = threading.Lock()
        self._armed = threading.local()
        self._registered: list[tuple[Any, str, Any]] = []

    # botocore handlers --------------------------------------------------------------------
    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self._armed.operation = model.name
        self._armed.params = params

    def _before_send(self, request: Any, protocol: str) -> AWSResponse | None:
        operation = getattr(self._armed, "operation", None)
        params = getattr(self._armed, "params", {})
        if operation is None:
            return None
        with self._lock:
            rule = next((r for r in self.rules if r.matches(operation, params)), None)
            if rule is None:
                return None
            rule.injected += 1
        body, headers = _error_body(protocol, rule.code, rule.message)
        http_headers = HTTPHeaders()
        for key, value in headers.items():
            http_headers[key] = value
        return AWSResponse(request.url, rule.status, http_headers, _Raw(body))

    def _hook(self, client: Any) -> None:
        protocol = client.meta.service_model.protocol

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            return self._before_send(request, protocol)

        client.meta.events.register("before-parameter-build", self._before_call)
        client.meta.events.register("before-send", before_send)
        with self._lock:
            self._registered.append((client, "before-parameter-build", self._before_call))
            self._registered.append((client, "before-send", before_send))

    # lifecycle ----------------------------------------------------------------------------
    def install(self) -> FaultInjector:
        clients.add_client_hook(self._hook)
        return self

    def uninstall(self) -> None:
        clients.remove_client_hook(self._hook)
        with self._lock:
            registered, self._registered = self._registered, []
        for client, event, handler in registered:
            client.meta.events.unregister(event, handler)

    def __enter__(self) -> FaultInjector:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    def injected(self, operation: str | None = None) -> int:
        return sum(r.injected for r in self.rules if operation in (None, r.operation))


class RequestRecorder:
    """Records the parameters of every call of ``operations`` (``RunInstances``…) made by the
    clients Lifeboat creates while active, as sent (after validation, before signing).

        with RequestRecorder("RunInstances") as sent:
            ...
        sent.calls  # [("RunInstances", {...}), ...]
    """

    def __init__(self, *operations: str) -> None:
        self.operations = set(operations)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._registered: list[Any] = []

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in self.operations:
            with self._lock:
                self.calls.append((model.name, json.loads(json.dumps(params, default=str))))

    def _hook(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self._record)
        with self._lock:
            self._registered.append(client)

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    def __enter__(self) -> RequestRecorder:
        clients.add_client_hook(self._hook)
        return self

    def __exit__(self, *_: object) -> None:
        clients.remove_client_hook(self._hook)
        for client in self._registered:
            client.meta.events.unregister("before-parameter-build", self._record)
