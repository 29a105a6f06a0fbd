"""Load and validate config.yaml; secrets come only from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "config.yaml"

LOCALES = ("zh-Hans", "zh-Hant", "en")


class ConfigError(ValueError):
    """A setting in config.yaml is missing, unknown or has a value that is not allowed."""


@dataclass(frozen=True)
class LocaleConfig:
    """Locale settings."""

    default: str = "zh-Hans"


@dataclass(frozen=True)
class NluConfig:
    """Intent-model settings."""

    backend: str = "inprocess"
    model_dir: str = "rasa_project/models"
    server_url: str = "http://127.0.0.1:5005"
    server_timeout_s: float = 5.0
    confidence_threshold: float = 0.45
    max_chars: int = 2000


@dataclass(frozen=True)
class StoreConfig:
    """Persistence settings."""

    url: str = "sqlite:///data/bot.sqlite3"
    key_file: str = "data/secret.key"
    pool_size: int = 8
    send_lease_s: float = 60.0


@dataclass(frozen=True)
class AssessConfig:
    """SMS-assessment settings."""

    off_hours_start: str = "22:00"
    off_hours_end: str = "08:00"
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class WebhookConfig:
    """Telegram webhook settings."""

    listen: str = "127.0.0.1"
    port: int = 8443
    url_path: str = "telegram"
    public_url: str = ""


@dataclass(frozen=True)
class TelegramConfig:
    """Telegram channel settings."""

    mode: str = "polling"
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    api_url: str = ""
    rate_limit: bool = True


@dataclass(frozen=True)
class WechatConfig:
    """WeChat Official Account channel settings (secrets come from WECHAT_* environment variables)."""

    listen: str = "0.0.0.0"
    port: int = 8081
    path: str = "/wechat"
    reply_window_s: float = 4.0
    public_url: str = ""
    file_ttl_s: float = 600.0


@dataclass(frozen=True)
class LoggingConfig:
    """Logging settings."""

    level: str = "WARNING"


@dataclass(frozen=True)
class Secrets:
    """Secrets read from the environment, never from config.yaml."""

    telegram_token: str | None = None
    webhook_secret: str | None = None
    data_key: str | None = None
    wechat_token: str | None = None
    wechat_aes_key: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None


@dataclass(frozen=True)
class Config:
    """All settings of the bot."""

    locale: LocaleConfig = field(default_factory=LocaleConfig)
    nlu: NluConfig = field(default_factory=NluConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    assess: AssessConfig = field(default_factory=AssessConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    wechat: WechatConfig = field(default_factory=WechatConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    secrets: Secrets = field(default_factory=Secrets)

    def path(self, relative: str) -> Path:
        """Resolve a path setting against the repository root."""
        p = Path(relative)
        return p if p.is_absolute() else ROOT / p


ALLOWED: dict[str, tuple[str, ...]] = {
    "locale.default": LOCALES,
    "nlu.backend": ("inprocess", "http"),
    "telegram.mode": ("polling", "webhook"),
    "logging.level": ("DEBUG", "INFO", "WARNING", "ERROR"),
}
SECRET_KEYS = ("token", "secret", "key", "password")


def _check_time(key: str, value: str) -> None:
    """Reject a clock time that is not HH:MM."""
    parts = value.split(":")
    ok = len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) < 24 and int(parts[1]) < 60
    if not ok:
        raise ConfigError(f'{key}: {value!r} is not a time; use HH:MM, e.g. "22:00"')


def _check_public_url(key: str, value: str) -> None:
    """Reject a public base URL that is not an http(s) origin with an optional path ("" is allowed: off)."""
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f'{key}: {value!r} is not a base URL; use e.g. "https://bot.example.org"')


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Build a config dataclass from a mapping, naming the bad key on any error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of settings, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(f"{where}: unknown setting; allowed here: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        value = data[f.name]
        typ = hints[f.name]
        if is_dataclass(typ):
            kwargs[f.name] = _build(typ, value, key)  # type: ignore[arg-type]
            continue
        if get_origin(typ) is not None and type(None) in get_args(typ):
            typ = next(a for a in get_args(typ) if a is not type(None))
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or isinstance(value, bool) != (typ is bool):
            raise ConfigError(f"{key}: expected {typ.__name__}, got {value!r}")
        if key in ALLOWED and value not in ALLOWED[key]:
            raise ConfigError(f"{key}: {value!r} is not allowed; use one of: {', '.join(ALLOWED[key])}")
        if typ in (int, float) and value <= 0:
            raise ConfigError(f"{key}: must be a positive number, got {value!r}")
        kwargs[f.name] = value
    return cls(**kwargs)


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read config.yaml (or the file in BOT_CONFIG), validate it and add secrets from the environment."""
    env = dict(os.environ) if env is None else env
    chosen = path or env.get("BOT_CONFIG") or None
    cfg_path = Path(chosen or DEFAULT_PATH)
    if chosen is not None and not cfg_path.is_file():  # a mistyped path must not quietly give the defaults
        where = "BOT_CONFIG" if not path else "config file"
        raise ConfigError(f"{where}: {cfg_path} does not exist (or is not a file)")
    try:
        raw = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) if cfg_path.exists() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{cfg_path}: not valid YAML ({exc})") from exc
    if isinstance(raw, dict):
        _reject_secrets(raw, "")
    cfg: Config = _build(Config, raw, "")
    _check_time("assess.off_hours_start", cfg.assess.off_hours_start)
    _check_time("assess.off_hours_end", cfg.assess.off_hours_end)
    if not 0.0 < cfg.nlu.confidence_threshold < 1.0:
        raise ConfigError(f"nlu.confidence_threshold: must be between 0 and 1, got {cfg.nlu.confidence_threshold}")
    if not cfg.wechat.path.startswith("/"):
        raise ConfigError(f"wechat.path: must start with /, got {cfg.wechat.path!r}")
    _check_public_url("wechat.public_url", cfg.wechat.public_url)
    secrets = Secrets(
        telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
        webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET") or None,
        data_key=env.get("BOT_DATA_KEY") or None,
        wechat_token=env.get("WECHAT_TOKEN") or None,
        wechat_aes_key=env.get("WECHAT_AES_KEY") or None,
        wechat_app_id=env.get("WECHAT_APP_ID") or None,
        wechat_app_secret=env.get("WECHAT_APP_SECRET") or None,
    )
    parts: dict[str, Any] = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    store_url = env.get("BOT_STORE_URL")
    if store_url:  # the deployment's database (a password may be in it) wins over the file
        parts["store"] = replace(cfg.store, url=store_url)
    return Config(**{**parts, "secrets": secrets})


def _reject_secrets(data: dict[str, Any], prefix: str) -> None:
    """Refuse a config file that carries a secret: secrets belong in environment variables."""
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            _reject_secrets(value, where)
        elif key == "secrets" or (key != "key_file" and any(str(key).lower().endswith(s) for s in SECRET_KEYS)):
            raise ConfigError(
                f"{where}: secrets must not be written in config.yaml; set the environment variable instead "
                "(TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET, BOT_DATA_KEY, WECHAT_*)"
            )
