from pathlib import Path

import pytest

from origin.settings import SETTINGS, Settings, SettingsError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.cache_path == Path(".origin/cache")
    assert settings.signing_key_list == ()


def test_every_setting_has_a_field_and_matching_default() -> None:
    defaults = Settings()
    for setting in SETTINGS:
        assert getattr(defaults, setting.field) == setting.default, setting.env


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "ORIGIN_MAX_PROCESSES": "2",
            "ORIGIN_QUEUE_TIMEOUT_MS": "0",
            "ORIGIN_STREAM_MODE": "pipe",
            "ORIGIN_HOME": "/srv/origin",
            "ORIGIN_SIGNING_KEY": "new, old",
            "DATABASE_URL": "",
        }
    )
    assert settings.max_processes == 2
    assert settings.stream_mode == "pipe"
    assert settings.cache_path == Path("/srv/origin/cache")
    assert settings.signing_key_list == (b"new", b"old")
    assert settings.database_url is None


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("ORIGIN_MAX_PROCESSES", "0"),
        ("ORIGIN_MAX_PROCESSES", "many"),
        ("ORIGIN_QUEUE_TIMEOUT_MS", "-1"),
        ("ORIGIN_STREAM_TIMEOUT_S", "inf"),
        ("ORIGIN_STREAM_MODE", "hls"),
        ("ORIGIN_LOG_FORMAT", "xml"),
    ],
)
def test_bad_values_name_the_variable(env: str, value: str) -> None:
    with pytest.raises(SettingsError, match=env):
        Settings.from_env({env: value})


def test_readme_documents_every_setting() -> None:
    text = README.read_text()
    for setting in SETTINGS:
        assert f"`{setting.env}`" in text, f"{setting.env} missing from README.md"
