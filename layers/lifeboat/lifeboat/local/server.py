"""The local AWS emulator: moto in server mode on loopback, in this process, with the bridge
installed so the template's Lambda handlers run in-process."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from lifeboat import observability, runtime
from lifeboat.aws import clients
from lifeboat.local.bridge import BRIDGE
from lifeboat.local.stack import REGION, LocalStack, deploy

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """``with Emulator() as emu: emu.deploy()`` — moto on 127.0.0.1 with the stack deployed."""

    def __init__(
        self,
        port: int = 0,
        time_scale: float = 0.001,
        log_path: Path | None = None,
        sdk_time_scale: float = 1.0,
    ) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.time_scale = time_scale
        # botocore's retry back-off (real unless a test compresses it; the benchmark needs it).
        self.sdk_time_scale = sdk_time_scale
        # The handlers' log lines: to this file (at LIFEBOAT_LOCAL_LOG_LEVEL, default INFO),
        # else to stdout at LIFEBOAT_LOCAL_LOG_LEVEL, default ERROR.
        self.log_path = log_path
        self._log_stream: TextIO | None = None
        self._server: object | None = None
        self.stack: LocalStack | None = None
        self._clients: dict[str, Any] = {}

    def environment(self) -> dict[str, str]:
        """What a shell needs to export so the CLI, boto3 and the AWS CLI talk to the emulator."""
        return {"AWS_ENDPOINT_URL": self.endpoint, **CREDENTIALS}

    def start(self) -> Emulator:
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        os.environ["MOTO_PORT"] = str(self.port)
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(self.environment())
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto warns that ToleratedFailurePercentage has no effect in its engine; not news.
        logging.getLogger("moto").setLevel(logging.ERROR)
        level = os.environ.get("LIFEBOAT_LOCAL_LOG_LEVEL")
        if self.log_path is not None:
            self._log_stream = observability.log_to_file(self.log_path, level or "INFO")
        else:
            observability.log_to(None, level or "ERROR")
        BRIDGE.time_scale = self.time_scale
        BRIDGE.sdk_time_scale = self.sdk_time_scale
        BRIDGE.install()
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self._server = server
        clients.reset_clients()
        runtime.reset()
        return self

    def deploy(
        self,
        root: Path | None = None,
        stack_name: str = "lifeboat",
        parameters: dict[str, str] | None = None,
    ) -> LocalStack:
        """Deploy ``template.yaml`` (``parameters`` override its parameters' defaults)."""
        self.stack = deploy(self.endpoint, root=root, stack_name=stack_name, parameters=parameters)
        runtime.reset()
        return self.stack

    def fresh_stack(self, root: Path | None = None) -> LocalStack:
        """The stack deployed in an otherwise empty account: deployed on first use, then kept
        while everything else is emptied (:func:`lifeboat.local.fresh.clear_data`), which is
        much faster than deploying again."""
        if self.stack is None:
            self.reset()
            return self.deploy(root=root)
        from lifeboat.local.fresh import clear_data

        clear_data(self.stack, self._client, BRIDGE)
        runtime.reset()  # clients stay: same endpoint, region and credentials (warm functions)
        return self.stack

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = clients.new_session().client(  # type: ignore[call-overload]
                service,
                region_name=REGION,
                endpoint_url=self.endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    def reset(self) -> None:
        """Wipe every emulated resource (the stack too)."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback only
            pass
        clients.reset_clients()
        runtime.reset()
        BRIDGE.forget_functions()
        self.stack = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()  # type: ignore[attr-defined]
            self._server = None
        BRIDGE.uninstall()
        if self._log_stream is not None:
            observability.log_to(None)
            self._log_stream.close()
            self._log_stream = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
