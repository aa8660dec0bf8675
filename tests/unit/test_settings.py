"""Settings precedence and bad input."""

import pytest

from shipway.core.errors import ConfigurationError
from shipway.core.settings import load_settings


def test_defaults(tmp_path):
    s = load_settings({"data_dir": str(tmp_path)}, env={})
    assert (s.host, s.port) == ("127.0.0.1", 8470)
    assert s.sources["port"] == "default"
    assert s.db_url == f"sqlite:///{tmp_path.resolve() / 'shipway.db'}"


def test_precedence_flags_env_file_default(tmp_path):
    cfg = tmp_path / "shipway.toml"
    cfg.write_text('port = 9001\nhost = "127.0.0.2"\nlog_level = "debug"\n')
    env = {"SHIPWAY_PORT": "9002", "SHIPWAY_HOST": "127.0.0.3"}
    s = load_settings({"port": 9003, "data_dir": str(tmp_path)}, env=env)
    assert s.port == 9003 and s.sources["port"] == "--port"
    assert s.host == "127.0.0.3" and s.sources["host"] == "SHIPWAY_HOST"
    assert s.log_level == "debug" and s.sources["log_level"] == f"{cfg}:3"


def test_settings_file_under_table(tmp_path):
    cfg = tmp_path / "x.toml"
    cfg.write_text('[shipway]\nport = 9100\n')
    assert load_settings({}, env={}, config_file=cfg).port == 9100


def test_bad_env_value_names_the_variable():
    with pytest.raises(ConfigurationError, match="SHIPWAY_PORT: expected int"):
        load_settings({}, env={"SHIPWAY_PORT": "eighty"})


def test_out_of_range_port():
    with pytest.raises(ConfigurationError, match="port number"):
        load_settings({"port": 70000}, env={})


def test_unknown_key_names_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('port = 1\n\nprot = 2\n')
    with pytest.raises(ConfigurationError) as e:
        load_settings({}, env={}, config_file=cfg)
    assert f"{cfg}:3" in e.value.message and "unknown setting 'prot'" in e.value.message


def test_toml_syntax_error_names_line(tmp_path):
    cfg = tmp_path / "broken.toml"
    cfg.write_text('port = 1\nhost = \n')
    with pytest.raises(ConfigurationError, match="line 2"):
        load_settings({}, env={}, config_file=cfg)


def test_wrong_type_in_file_names_line(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text('log_level = "info"\nport = "high"\n')
    with pytest.raises(ConfigurationError, match=r"t.toml:2"):
        load_settings({}, env={}, config_file=cfg)


def test_redaction():
    s = load_settings({"db": "postgresql://bob:hunter2@db/x", "secret_key": "abc"}, env={})
    red = s.redacted()
    assert red["secret_key"] == "***"
    assert "hunter2" not in red["db"] and red["db"].startswith("postgresql://bob:***@")
