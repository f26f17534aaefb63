from pathlib import Path

import pytest

from tocsin.core.home import init_home
from tocsin.core.settings import Settings, describe_settings, load_settings


def test_defaults(monkeypatch):
    monkeypatch.delenv("TOCSIN_HOME", raising=False)
    settings = load_settings()
    assert settings.home == Path("./tocsin-data")
    assert settings.port == 8080
    assert settings.syslog_tcp_port == 5514
    assert settings.workspace_url.endswith("tocsin-data/workspace.db")


def test_env_prefix_and_toml_precedence(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "tocsin.toml").write_text("port = 9001\nsyslog_udp_port = 6000\n")
    monkeypatch.setenv("TOCSIN_HOME", str(home))
    monkeypatch.setenv("TOCSIN_PORT", "9002")
    settings = load_settings()
    assert settings.home == home
    assert settings.port == 9002  # the environment wins over the file
    assert settings.syslog_udp_port == 6000  # the file wins over the default
    assert load_settings(port=9003).port == 9003  # explicit keywords win over both


def test_bad_value_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("TOCSIN_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        load_settings(home=tmp_path)


def test_every_setting_is_documented():
    rows = describe_settings()
    assert {name for name, _, _ in rows} == set(Settings.model_fields)
    assert all(help_text for _, _, help_text in rows)


def test_init_home_creates_folders_and_config(tmp_path):
    settings = load_settings(home=tmp_path / "h")
    created = init_home(settings)
    for folder in ("lake", "spool", "quarantine", "state"):
        assert (tmp_path / "h" / folder).is_dir()
    config = (tmp_path / "h" / "tocsin.toml").read_text()
    assert "# port = 8080" in config
    assert str(tmp_path / "h" / "tocsin.toml") in created
    assert init_home(settings) == []  # idempotent
    # the commented file loads back to the defaults
    assert load_settings(home=tmp_path / "h").port == 8080


def test_empty_value_disables_a_listener(tmp_path, monkeypatch):
    monkeypatch.setenv("TOCSIN_SYSLOG_UDP_PORT", "")
    settings = load_settings(home=tmp_path)
    assert settings.syslog_udp_port is None
    assert settings.syslog_tcp_port == 5514
