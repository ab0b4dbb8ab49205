"""An image's root file system, and its own entry point run from it as the image's user.

`podman run` cannot start containers in this sandbox (its OCI runtime cannot set
rlimits or cgroups), so the image is exported to a directory and its processes
are started with ``chroot --userspec``. ``/proc`` and ``/dev`` are mounted inside
a private mount namespace (``unshare --mount``): the mounts vanish with the
process, so deleting the directory afterwards can never reach the host's ``/dev``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MOUNT_AND_CHROOT = """
root=$1 userspec=$2 workdir=$3; shift 3
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
exec chroot --userspec="$userspec" "$root" /usr/bin/env -i -C "$workdir" "$@"
"""


@dataclass(frozen=True)
class ImageConfig:
    """What the image says about how to run it (``podman image inspect``'s Config)."""

    user: str
    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    workdir: str
    size_bytes: int

    @classmethod
    def inspect(cls, image: str) -> ImageConfig:
        report = subprocess.run(
            ["podman", "image", "inspect", image], check=True, capture_output=True, text=True
        )
        [facts] = json.loads(report.stdout)
        config = facts["Config"]
        return cls(
            user=config.get("User") or "root",
            env=dict(item.split("=", 1) for item in config.get("Env") or []),
            entrypoint=config.get("Entrypoint") or [],
            cmd=config.get("Cmd") or [],
            workdir=config.get("WorkingDir") or "/",
            size_bytes=int(facts["Size"]),
        )


@dataclass(frozen=True)
class RootFs:
    """An exported image: its files under ``path`` and its run configuration."""

    path: Path
    config: ImageConfig

    @classmethod
    def export(cls, image: str, path: Path) -> RootFs:
        path.mkdir(parents=True)
        container = subprocess.run(
            ["podman", "create", image], check=True, capture_output=True, text=True
        ).stdout.strip()
        try:
            with subprocess.Popen(["podman", "export", container], stdout=subprocess.PIPE) as out:
                subprocess.run(["tar", "-x", "-C", str(path)], stdin=out.stdout, check=True)
            if out.returncode != 0:
                raise RuntimeError(f"podman export {image} failed with {out.returncode}")
        finally:
            subprocess.run(["podman", "rm", container], check=True, capture_output=True)
        return cls(path, ImageConfig.inspect(image))

    def remove(self) -> None:
        shutil.rmtree(self.path)

    def ids(self, user: str) -> tuple[int, int]:
        """The uid and gid the image's own ``/etc/passwd`` gives ``user``."""
        for line in (self.path / "etc" / "passwd").read_text().splitlines():
            name, _, uid, gid, *_ = line.split(":")
            if user in (name, uid):
                return int(uid), int(gid)
        raise LookupError(f"no user {user!r} in the image")

    def popen(
        self, argv: list[str] | None, env: dict[str, str], *,
        stdout: Any = None, stderr: Any = None, text: bool = False,
    ) -> subprocess.Popen[Any]:  # fmt: skip
        """Start ``argv`` (default: the image's entry point and command) as the image's user,
        in its working directory, with the image's environment updated by ``env``."""
        uid, gid = self.ids(self.config.user)
        command = [*self.config.entrypoint, *(argv if argv is not None else self.config.cmd)]
        assignments = [f"{k}={v}" for k, v in {**self.config.env, **env}.items()]
        return subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--",
             "sh", "-c", _MOUNT_AND_CHROOT, "sh", str(self.path), f"{uid}:{gid}",
             self.config.workdir, *assignments, *command],
            stdout=stdout, stderr=stderr, text=text,
        )  # fmt: skip

    def run(self, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` to completion like :meth:`popen`; fail with its output if it fails."""
        process = self.popen(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            raise AssertionError(f"{argv} failed with {process.returncode}:\n{stdout}\n{stderr}")
        return subprocess.CompletedProcess(argv, 0, stdout, stderr)
