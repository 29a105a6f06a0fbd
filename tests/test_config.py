"""config.yaml is validated with errors that name the bad key; secrets come only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_loads_with_documented_defaults() -> None:
    cfg = load_config(env={})
    assert cfg.locale.default == "zh-Hans"
    assert cfg.nlu.backend == "inprocess"
    assert cfg.telegram.mode == "polling"
    assert cfg.secrets.telegram_token is None


def test_a_config_file_that_is_not_there_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml does not exist"):
        load_config(tmp_path / "nope.yaml", env={})
    with pytest.raises(ConfigError, match="BOT_CONFIG: .*confg.yaml does not exist"):
        load_config(env={"BOT_CONFIG": str(tmp_path / "confg.yaml")})


def test_an_unknown_key_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nlu\.backnd: unknown setting; allowed here: .*backend"):
        load_config(write(tmp_path, "nlu:\n  backnd: http\n"), env={})


def test_a_value_outside_the_allowed_set_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"telegram\.mode: 'push' is not allowed; use one of: polling, webhook"):
        load_config(write(tmp_path, "telegram:\n  mode: push\n"), env={})


def test_a_wrong_type_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"telegram\.webhook\.port: expected int"):
        load_config(write(tmp_path, "telegram:\n  webhook:\n    port: eighty\n"), env={})


def test_a_bad_clock_time_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"assess\.off_hours_start: '25:00' is not a time"):
        load_config(write(tmp_path, 'assess:\n  off_hours_start: "25:00"\n'), env={})


def test_a_threshold_outside_zero_and_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nlu\.confidence_threshold"):
        load_config(write(tmp_path, "nlu:\n  confidence_threshold: 1.5\n"), env={})


def test_a_token_written_in_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secrets must not be written in config.yaml"):
        load_config(write(tmp_path, "telegram:\n  token: 123:abc\n"), env={})


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_SECRET": "s3cret", "BOT_DATA_KEY": "k"}
    cfg = load_config(write(tmp_path, "{}\n"), env=env)
    assert cfg.secrets.telegram_token == "123:abc"
    assert cfg.secrets.webhook_secret == "s3cret"
    assert cfg.secrets.data_key == "k"


def test_broken_yaml_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "nlu: [unclosed\n"), env={})


def test_config_file_can_be_chosen_by_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "logging:\n  level: DEBUG\n")
    assert load_config(env={"BOT_CONFIG": str(path)}).logging.level == "DEBUG"


def test_wechat_download_links_are_off_by_default_and_last_ten_minutes() -> None:
    cfg = load_config(env={})
    assert cfg.wechat.public_url == ""
    assert cfg.wechat.file_ttl_s == 600.0


@pytest.mark.parametrize("url", ["bot.example.org", "ftp://bot.example.org", "https://", "https://x.org/?a=1"])
def test_a_wechat_public_url_that_is_not_a_base_url_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"wechat\.public_url: .* is not a base URL"):
        load_config(write(tmp_path, f'wechat:\n  public_url: "{url}"\n'), env={})


def test_a_wechat_public_url_and_link_lifetime_are_read(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "wechat:\n  public_url: https://bot.example.org/\n  file_ttl_s: 300\n"), env={})
    assert cfg.wechat.public_url == "https://bot.example.org/"
    assert cfg.wechat.file_ttl_s == 300.0
    with pytest.raises(ConfigError, match=r"wechat\.file_ttl_s: must be a positive number"):
        load_config(write(tmp_path, "wechat:\n  file_ttl_s: 0\n"), env={})
