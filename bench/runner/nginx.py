"""nginx with its mp4 module on the source's directory, and the origin's cache as plain files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from bench.runner.processes import background

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    types {{ video/mp4 mp4; }}
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /source/ {{ alias {source_dir}/; mp4; }}
        location /source-kf/ {{ alias {source_dir}/; mp4; mp4_start_key_frame on; }}
        location /cache/ {{ alias {cache_dir}/; }}
    }}
}}
"""


def nginx(
    port: int, work: Path, source: Path, cache_dir: Path
) -> contextlib.AbstractContextManager[None]:
    """nginx serving ``source``'s directory with the mp4 module, ``cache_dir`` as plain files."""
    work.mkdir()
    conf = work / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(work=work, port=port, source_dir=source.parent, cache_dir=cache_dir)
    )
    argv = ["nginx", "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")]
    return background(
        argv,
        port=port,
        log=work / "stdout.log",
        ready_path=f"/source/{source.name}?start=0&end=0.1",
        env=os.environ,
    )
