"""The pieces of a CloudFront stand-in: caching nginx layers and the edge function in node.

Each runs in the foreground as a child of the test, in a session of its own
(nginx's master has workers), with every file it writes in a folder of the
test's; :meth:`Proxy.stop` ends it, and kills the whole session if it does
not go.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.edge.cloudfront_function import node_binary, write_function_module
from tests.servers import free_port

HERE = Path(__file__).resolve().parent
STAND_IN = HERE.parents[1] / "infra" / "cdn-stand-in"
NGINX_TEMPLATE = STAND_IN / "nginx.conf.template"
EDGE_FUNCTION_SERVER = STAND_IN / "edge-function-server.mjs"


def nginx_binary() -> str:
    # /usr/sbin is not on every user's PATH.
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        pytest.fail("nginx is missing: make test installs Debian's nginx package")
    return nginx


@dataclass
class Proxy:
    """A running nginx layer or edge function server."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of its session (nginx workers whose master is gone, say).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@dataclass
class CacheLayer(Proxy):
    """An nginx caching layer, with the request lines of its access log."""

    def _log(self, path: str) -> list[tuple[str, str]]:
        """(request URI, cache status) of each request for ``path`` this layer answered."""
        access_log = self.folder / "access.log"
        lines = access_log.read_text().splitlines() if access_log.exists() else []
        found = []
        for line in lines:
            _method, uri, _status, cache, _next = line.split(" ", 4)
            if uri.split("?", 1)[0] == path:
                found.append((uri, cache.removeprefix("cache=") or "-"))
        return found

    def requests(self, path: str) -> Counter[str]:
        """How this layer answered requests for ``path``, whatever their query strings:
        cache status (``HIT``, ``MISS``, …) → count."""
        return Counter(cache for _uri, cache in self._log(path))

    def uris(self, path: str) -> list[str]:
        """The request URIs (query strings included) of the requests for ``path``, in order."""
        return [uri for uri, _cache in self._log(path)]


def _start(
    name: str, argv: list[str], port: int, folder: Path, log_path: Path, cls: type[Proxy]
) -> Proxy:
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    proxy = cls(name, process, port, folder, log_path)
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{proxy.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proxy
        except OSError:
            if time.monotonic() > deadline:
                proxy.stop()
                raise RuntimeError(f"{name} is not listening on {port}:\n{proxy.log()}") from None
            time.sleep(0.05)


def render_nginx_conf(
    folder: Path, *, port: int, upstreams: list[str], cache_status_header: str, cdn_secret: str
) -> str:
    """The layer's nginx.conf: the template with every ``{{name}}`` filled in."""
    values = {
        # Workers of a root master run as `nobody` unless told otherwise, and could not write
        # the cache in the test's 0700 temporary folder.
        "user_directive": "user root;" if os.geteuid() == 0 else "",
        "dir": str(folder),
        "port": str(port),
        # max_fails=0: nginx would take a server out of rotation for 10 s after a failed
        # connection; CloudFront keeps trying an origin's addresses.
        "upstream_servers": "\n".join(f"        server {u} max_fails=0;" for u in upstreams),
        "cache_status_header": cache_status_header,
        "cdn_secret": cdn_secret,
    }
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], NGINX_TEMPLATE.read_text())
    assert "{{" not in text, "a placeholder without a value"
    return text


def start_cache_layer(
    folder: Path, name: str, *, upstreams: list[str], cache_status_header: str, cdn_secret: str
) -> CacheLayer:
    """Start nginx as one caching layer in front of ``upstreams`` (``host:port``)."""
    folder.mkdir(parents=True)
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(render_nginx_conf(
        folder, port=port, upstreams=upstreams, cache_status_header=cache_status_header,
        cdn_secret=cdn_secret,
    ))  # fmt: skip
    # -e: the error log from the very start (the build's default is stderr, fine, but this keeps
    # start-up errors and later ones in one file); -p: relative paths resolve in the folder.
    argv = [nginx_binary(), "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")]
    layer = _start(name, argv, port, folder, folder / "error.log", CacheLayer)
    assert isinstance(layer, CacheLayer)
    return layer


def start_edge_function(folder: Path, *, keys: str, cache_port: int) -> Proxy:
    """Start the viewer-request function (node) in front of the edge cache on ``cache_port``."""
    folder.mkdir(parents=True)
    module = write_function_module(folder, keys)
    port = free_port()
    argv = [node_binary(), str(EDGE_FUNCTION_SERVER), str(module), str(port), str(cache_port)]
    return _start("edge function", argv, port, folder, folder / "node.log", Proxy)
