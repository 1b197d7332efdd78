"""The template's Lambda functions, run in-process by their real handlers.

moto runs Lambda functions in Docker, which local mode does not have: :func:`bridged_invoke`
patches moto's ``LambdaFunction.invoke`` so that an invocation of a function the template
declares runs its handler here, answering exactly as Lambda does (payload, or an error payload
with ``x-amz-function-error``).

Each invocation runs in its own environment, as each function does on AWS: the process
environment (the emulator's endpoint, credentials and region, which Lambda's runtime provides)
with the function's ``Environment.Variables`` from the template and local mode's overrides
(:data:`LOCAL_ENVIRONMENT`) on top, visible to that invocation's thread only. Invocations run
concurrently (a Map's iterations, EventBridge targets), so the process's ``os.environ`` is
replaced, while the emulator runs, by :class:`InvocationEnviron`: a mapping that answers from the
running invocation's own environment inside a handler, and from the process environment
everywhere else. Lifeboat's settings and adapters are cached per environment
(:func:`lifeboat.settings.get_settings`), so two functions never share them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import moto.awslambda.models as lambda_models

# Local-only environment: tracing and metrics off, Lifeboat's own back-offs compressed.
LOCAL_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": os.environ.get("LIFEBOAT_LOCAL_LOG_LEVEL", "ERROR"),
    "RETRY_BASE_SECONDS": "0.01",
    "PACE_TIME_SCALE": "0.001",
}


@dataclass
class LocalFunction:
    name: str
    code_dir: Path
    handler: str
    timeout: int = 300
    memory: int = 512
    arn: str = ""
    environment: dict[str, str] = field(default_factory=dict)  # Environment.Variables
    _module: ModuleType | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def entry_point(self) -> Callable[[Any, Any], Any]:
        module_name, func_name = self.handler.rsplit(".", 1)
        with self._lock:
            if self._module is None:
                path = self.code_dir / f"{module_name.replace('.', '/')}.py"
                spec = importlib.util.spec_from_file_location(f"lifeboat_fn_{self.name}", path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load handler {self.handler} from {self.code_dir}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                self._module = module
        handler: Callable[[Any, Any], Any] = getattr(self._module, func_name)
        return handler


class LocalContext:
    """The parts of a Lambda context object that handlers and Powertools read."""

    def __init__(self, fn: LocalFunction) -> None:
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = fn.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + fn.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvocationEnviron(MutableMapping[str, str]):
    """``os.environ`` while the emulator runs: inside :meth:`applied` (one invocation, one
    thread) the invocation's own environment, read and written there only; elsewhere the
    process environment itself."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process
        self._local = threading.local()

    def _current(self) -> MutableMapping[str, str]:
        found: MutableMapping[str, str] | None = getattr(self._local, "env", None)
        return self.process if found is None else found

    @contextmanager
    def applied(self, *layers: Mapping[str, str]) -> Iterator[dict[str, str]]:
        """The process environment with ``layers`` on top, for this thread, until exit."""
        env = dict(self.process)
        for layer in layers:
            env.update(layer)
        previous = getattr(self._local, "env", None)
        self._local.env = env
        try:
            yield env
        finally:
            self._local.env = previous

    def __getitem__(self, key: str) -> str:
        return self._current()[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._current()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def copy(self) -> dict[str, str]:
        return dict(self._current())


@dataclass
class Functions:
    """The functions deployed locally, and what their invocations did."""

    functions: dict[str, LocalFunction] = field(default_factory=dict)
    invocations: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    longest: dict[str, float] = field(default_factory=dict)  # each function's longest invocation
    async_results: list[tuple[str, Any, bool]] = field(default_factory=list)
    # Applied over every function's own variables (the benchmark paces at AWS's real rates).
    local_environment: dict[str, str] = field(default_factory=lambda: dict(LOCAL_ENVIRONMENT))
    environ: InvocationEnviron | None = None
    _async: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, fn: LocalFunction) -> None:
        self.functions[fn.name] = fn

    def clear(self) -> None:
        self.functions.clear()
        self.invocations.clear()
        self.local_environment = dict(LOCAL_ENVIRONMENT)

    @contextmanager
    def _environment_of(self, fn: LocalFunction) -> Iterator[None]:
        # What Lambda's runtime sets beside the function's own variables
        own = {**fn.environment, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory)}
        if self.environ is None:  # not running under the emulator (handler tests)
            with mock.patch.dict(os.environ, {**own, **self.local_environment}):
                yield
            return
        with self.environ.applied(own, self.local_environment):
            yield

    def invoke(self, name: str, event: Any) -> tuple[bytes, bool]:
        """Run the handler; returns (payload, errored) exactly as Lambda would."""
        fn = self.functions[name]
        with self._lock:
            self.invocations[name] = self.invocations.get(name, 0) + 1
        started = time.monotonic()
        try:
            with self._environment_of(fn):
                result = fn.entry_point()(event, LocalContext(fn))
            return json.dumps(result, default=str).encode(), False
        except Exception as exc:  # noqa: BLE001 - reported as Lambda does: errorType + message
            payload = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
            }
            return json.dumps(payload).encode(), True
        finally:
            with self._lock:
                took = time.monotonic() - started
                self.seconds[name] = self.seconds.get(name, 0.0) + took
                self.longest[name] = max(self.longest.get(name, 0.0), took)
            _discard_metrics()

    def invoke_async(self, name: str, event: Any) -> None:
        """An asynchronous invocation (EventBridge targets): runs in its own thread."""

        def run() -> None:
            payload, errored = self.invoke(name, event)
            with self._lock:
                self.async_results.append((name, json.loads(payload), errored))

        thread = threading.Thread(target=run, daemon=True)
        with self._lock:
            self._async.append(thread)
        thread.start()

    def wait_async(self, timeout: float = 60) -> None:
        """Wait for every asynchronous invocation started so far."""
        with self._lock:
            threads, self._async = self._async, []
        for thread in threads:
            thread.join(timeout)


@contextmanager
def per_invocation_environ(functions: Functions) -> Iterator[InvocationEnviron]:
    """``os.environ`` becomes an :class:`InvocationEnviron` over the process environment."""
    environ = InvocationEnviron(os.environ)
    with mock.patch.object(os, "environ", environ):
        functions.environ = environ
        try:
            yield environ
        finally:
            functions.environ = None


@contextmanager
def bridged_invoke(functions: Functions) -> Iterator[None]:
    """moto's Lambda invoke runs the template's functions' handlers in-process."""
    original = lambda_models.LambdaFunction.invoke

    def invoke(fn_self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        if fn_self.function_name not in functions.functions:
            return original(fn_self, body, request_headers, response_headers)
        event = json.loads(body) if body else {}
        payload, errored = functions.invoke(fn_self.function_name, event)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    with mock.patch.object(lambda_models.LambdaFunction, "invoke", invoke):
        yield


def _discard_metrics() -> None:
    """What Lambda's flush at the end of an invocation does to Powertools' metric set, which
    POWERTOOLS_METRICS_DISABLED skips: without it a metric's values pile up across the
    process's invocations until the 100th, which Powertools serializes (and, with no namespace
    outside an invocation's environment, fails the invocation that adds it)."""
    from lifeboat.observability import metrics

    metrics.clear_metrics()
