"""Drive Debian's firefox-esr headless through Marionette, its built-in remote protocol.

Playwright's Firefox is a patched build it downloads, which this network does
not allow; Debian's Firefox speaks Marionette. The protocol is small: after a
hello, each message is ``<length>:<JSON>``, a command ``[0, id, name, params]``
answered by ``[1, id, error, result]``. This client implements just what the
tests use, instead of the marionette_driver package and its dozen
dependencies.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FIREFOX = Path("/usr/bin/firefox-esr")


class MarionetteError(RuntimeError):
    """Firefox answered a command with an error."""


class Marionette:
    """One WebDriver session over a Marionette connection."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._ids = itertools.count(1)
        self._receive()  # the hello: application type and protocol version
        self.capabilities = self.command("WebDriver:NewSession", {})["capabilities"]

    def _receive(self) -> Any:
        while b":" not in self._buffer:
            self._buffer += self._recv()
        length, _, rest = self._buffer.partition(b":")
        while len(rest) < int(length):
            rest += self._recv()
        self._buffer = rest[int(length) :]
        return json.loads(rest[: int(length)])

    def _recv(self) -> bytes:
        data = self._sock.recv(1 << 20)
        if not data:
            raise MarionetteError("Firefox closed the connection")
        return data

    def command(self, name: str, params: dict[str, Any]) -> Any:
        """Send a command and return its result (raises MarionetteError on an error answer)."""
        msg_id = next(self._ids)
        body = json.dumps([0, msg_id, name, params]).encode()
        self._sock.sendall(str(len(body)).encode() + b":" + body)
        while True:
            kind, answer_id, error, result = self._receive()
            if kind == 1 and answer_id == msg_id:
                break
        if error:
            raise MarionetteError(f"{name}: {error.get('error')}: {error.get('message')}")
        return result.get("value", result) if isinstance(result, dict) else result

    def navigate(self, url: str) -> None:
        self.command("WebDriver:Navigate", {"url": url})

    def call(self, function: str, argument: Any, *, timeout_s: float = 60) -> Any:
        """Await the JavaScript ``function`` (an async arrow function) on ``argument``."""
        script = (
            "const done = arguments[arguments.length - 1];"
            f"({function})(arguments[0]).then(done, (e) => done({{error: String(e)}}));"
        )
        return self.run_async(script, argument, timeout_s=timeout_s)

    def run_async(self, script: str, *args: Any, timeout_s: float = 60) -> Any:
        """Run ``script`` in the page; it finishes by calling its last argument with the result."""
        self.command("WebDriver:SetTimeouts", {"script": int(timeout_s * 1000)})
        return self.command("WebDriver:ExecuteAsyncScript", {"script": script, "args": list(args)})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def firefox() -> Iterator[Marionette]:
    """A headless Firefox with a throwaway profile, for as long as the block runs."""
    port = _free_port()
    profile = Path(tempfile.mkdtemp(prefix="origin-firefox-"))
    (profile / "user.js").write_text(
        f'user_pref("marionette.port", {port});\n'
        'user_pref("media.autoplay.default", 0);\n'
        'user_pref("browser.shell.checkDefaultBrowser", false);\n'
        'user_pref("app.update.disabledForTesting", true);\n'
    )
    process = subprocess.Popen(
        [str(FIREFOX), "--headless", "--marionette", "--no-remote", "--profile", str(profile)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        with sock:
            session = Marionette(sock)
            yield session
            with contextlib.suppress(MarionetteError, OSError):
                session.command("Marionette:Quit", {})
    finally:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)
