"""fly.toml: scale to zero, and the invariants that tie it to the image and the settings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from origin.app import create_app
from origin.settings import SETTINGS, Settings

ROOT = Path(__file__).resolve().parents[2]
#: Fly suspends only machines this small (and without swap).
SUSPEND_MAX_MEMORY_MB = 2048


def load() -> dict[str, Any]:
    return tomllib.loads((ROOT / "fly.toml").read_text())


def settings(config: dict[str, Any]) -> Settings:
    return Settings.from_env(config["env"])


def memory_mb(vm: dict[str, Any]) -> int:
    match = re.fullmatch(r"(\d+)\s*(gb|mb)", vm["memory"].lower())
    assert match, vm
    return int(match[1]) * (1024 if match[2] == "gb" else 1)


def test_machines_scale_to_zero_and_wake_on_requests() -> None:
    service = load()["http_service"]
    assert service["min_machines_running"] == 0
    assert service["auto_start_machines"] is True
    assert service["auto_stop_machines"] == "suspend"


def test_suspend_is_possible_for_these_machines() -> None:
    config = load()
    for vm in config["vm"]:
        assert memory_mb(vm) <= SUSPEND_MAX_MEMORY_MB
    assert "swap_size_mb" not in config


def test_fly_waits_longer_than_the_shutdown_grace() -> None:
    config = load()
    assert config["kill_signal"] == "SIGTERM"
    assert config["kill_timeout"] > settings(config).shutdown_grace_s + 5


def test_every_env_setting_is_known_and_valid() -> None:
    config = load()
    known = {setting.env for setting in SETTINGS}
    assert set(config["env"]) <= known
    settings(config)  # raises SettingsError on a bad value


def test_concurrency_limits_follow_the_pool() -> None:
    config = load()
    concurrency = config["http_service"]["concurrency"]
    pool = settings(config).max_processes
    assert concurrency["type"] == "requests"
    # Past the cut slots the proxy should prefer another machine, not before...
    assert pool < concurrency["soft_limit"] <= 2 * pool
    # ...and the pool's own 429 is the back-pressure, not the proxy's refusal.
    assert concurrency["hard_limit"] >= 4 * concurrency["soft_limit"]


def test_checks_are_on_routes_that_exist_and_routing_survives_a_database_outage() -> None:
    config = load()
    paths = {getattr(route, "path", None) for route in create_app(Settings.from_env({})).routes}
    [routing] = config["http_service"]["checks"]
    assert routing["path"] in paths
    # The routing check must not fail with PostgreSQL: cached clips still play then.
    assert routing["path"] == "/healthz"
    for check in config["checks"].values():
        assert check["path"] in paths
        assert check["port"] == config["http_service"]["internal_port"]


def test_the_service_port_is_the_images_port() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    [port] = re.findall(r"\bPORT=(\d+)", dockerfile)
    assert load()["http_service"]["internal_port"] == int(port)


def test_state_lives_in_the_shared_store_and_jobs_run_where_requests_do() -> None:
    config = load()
    values = settings(config)
    # No volume: a woken or moved machine finds every cut clip in S3.
    assert "mounts" not in config
    assert values.clip_store is not None
    assert values.clip_store.startswith("s3://")
    # No worker process group to keep running: jobs run inline while a machine is up.
    assert "processes" not in config
    assert values.worker == "inline"
    assert config["deploy"]["release_command"] == "origin db up"
