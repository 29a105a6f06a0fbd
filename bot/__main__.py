"""Command line: `python -m bot run | health | shell | wechat | nlu | assess | evidence verify | …` (see --help)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.config import Config, ConfigError, load_config


def _nlu(args: argparse.Namespace) -> int:
    """Classify text with the trained model (one message, or JSON lines on stdin)."""
    from bot.nlu import build_parser, quiet_rasa

    quiet_rasa()
    cfg = load_config()
    started = time.monotonic()
    parser = build_parser(cfg)
    if hasattr(parser, "load"):
        parser.load()
    if args.jsonl:
        return run_nlu_jsonl(parser.parse_sync, sys.stdin, sys.stdout)
    if not args.text:
        print('usage: python -m bot nlu "text"  (or --jsonl with JSON lines on stdin)', file=sys.stderr)
        return 2
    print(f"(model ready in {time.monotonic() - started:.1f} s)", file=sys.stderr)
    p = parser.parse_sync(" ".join(args.text))
    print(f"intent:     {p.intent}  ({p.confidence:.2f})")
    print("ranking:    " + ", ".join(f"{i} {c:.2f}" for i, c in p.ranking[:3]))
    if p.entities:
        print("entities:   " + ", ".join(f"{e.entity}={e.value}" for e in p.entities))
    for note in p.notes:
        print(f"note:       {note}")
    return 0


def run_nlu_jsonl(parse: object, stdin: TextIO, stdout: TextIO) -> int:
    """Answer one JSON line per input line, in order; a bad line gets an "error" field."""
    assert callable(parse)
    for line in stdin:
        out: dict[str, object]
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise ValueError('each line must be a JSON object with a string "text" field')
            out = parse(obj["text"]).to_dict()
            if "id" in obj:
                out = {"id": obj["id"], **out}
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            out = {"error": f"bad input line: {exc}"}
        except Exception as exc:  # the batch goes on
            out = {"error": f"could not classify this line: {type(exc).__name__}"}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def _assess(args: argparse.Namespace) -> int:
    """Assess a collection SMS (one, or JSON lines on stdin)."""
    from bot.assess import assess
    from bot.assess.cli import format_report, run_jsonl

    if args.jsonl:
        return run_jsonl(sys.stdin, sys.stdout)
    text = " ".join(args.text) if args.text else sys.stdin.read()
    print(format_report(assess(text, locale=args.locale), args.locale))
    return 0


def _train(args: argparse.Namespace) -> int:
    """Train the model if its inputs changed."""
    from bot.train import train

    train(config=Path(args.config) if args.config else None, force=args.force)
    return 0


def _validate(_: argparse.Namespace) -> int:
    """Validate the Rasa training data."""
    from bot.train import validate

    return validate()


def apply_logging(cfg: Config, interactive: bool) -> None:
    """Set the bot's log level from config.yaml; the terminal chat never shows less severe than WARNING."""
    level = logging.getLevelName(cfg.logging.level)
    logging.getLogger("bot").setLevel(max(level, logging.WARNING) if interactive else level)


def _shell(args: argparse.Namespace) -> int:
    """Chat in the terminal."""
    from bot.app import build_dialogue
    from bot.channels.console import run_console

    cfg = load_config()
    apply_logging(cfg, interactive=True)
    dialogue = build_dialogue(cfg, wait_for_model=True)
    script = Path(args.script) if args.script else None
    return asyncio.run(run_console(dialogue, sys.stdin, sys.stdout, script=script))


def _run(args: argparse.Namespace) -> int:
    """Run every channel whose credentials are set (Telegram, WeChat), else the terminal chat."""
    cfg = load_config()
    telegram, wechat = bool(cfg.secrets.telegram_token), bool(cfg.secrets.wechat_token)
    if not telegram and not wechat:
        print("TELEGRAM_BOT_TOKEN and WECHAT_TOKEN are not set: starting the terminal chat (see README).")
        return _shell(args)
    apply_logging(cfg, interactive=False)
    from bot.app import build_dialogue

    dialogue = build_dialogue(cfg, wait_for_model=False)
    if not telegram:
        from bot.channels.wechat import run_wechat

        run_wechat(cfg, dialogue, dialogue.store)
        return 0
    from bot.channels.telegram import run_telegram

    if wechat:
        import threading

        from bot.channels.wechat import run_wechat

        threading.Thread(target=run_wechat, args=(cfg, dialogue, dialogue.store), name="wechat", daemon=True).start()
    from bot.app import health_report

    run_telegram(cfg, dialogue, health=lambda: health_report(dialogue))
    return 0


def _health(args: argparse.Namespace) -> int:
    """Exit 0 when this worker answers (webhook mode: GET /health on its port; else: the store answers)."""
    cfg = load_config()
    if cfg.telegram.mode == "webhook" or args.url:
        import urllib.error
        import urllib.request

        hook = cfg.telegram.webhook
        host = "127.0.0.1" if hook.listen in ("0.0.0.0", "::", "") else hook.listen
        url = args.url or f"http://{host}:{hook.port}/health"
        try:
            with urllib.request.urlopen(url, timeout=args.timeout) as resp:
                print(f"healthy: {resp.read().decode('utf-8', 'replace')}")
                return 0
        except urllib.error.HTTPError as exc:
            print(f"unhealthy: {url} answered {exc.code} {exc.read().decode('utf-8', 'replace')}", file=sys.stderr)
        except (urllib.error.URLError, OSError) as exc:
            print(f"unhealthy: {url} does not answer ({exc})", file=sys.stderr)
        return 1
    from bot.store import BaseStore, StoreError

    try:
        with BaseStore.from_config(cfg) as store:
            store.ping()
    except StoreError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    print("healthy: the store answers")
    return 0


def _wechat(args: argparse.Namespace) -> int:
    """Serve the WeChat Official Account callback alone."""
    from bot.app import build_dialogue
    from bot.channels.wechat import run_wechat

    cfg = load_config()
    if not cfg.secrets.wechat_token:
        print("WECHAT_TOKEN is not set: the token you entered on the platform's server settings", file=sys.stderr)
        return 2
    apply_logging(cfg, interactive=False)
    dialogue = build_dialogue(cfg, wait_for_model=False)
    run_wechat(cfg, dialogue, dialogue.store, port=args.port)
    return 0


def _wechat_menu(_: argparse.Namespace) -> int:
    """Create the WeChat custom menu from the command table."""
    from bot.channels.wechat import create_menu
    from bot.store import BaseStore

    cfg = load_config()
    from wechatpy.exceptions import WeChatClientException

    with BaseStore.from_config(cfg) as store:
        try:
            menu = create_menu(cfg, store)
        except WeChatClientException as exc:  # 48001: the account type has no menu API; 40164: IP whitelist
            print(f"the platform refused the menu: errcode {exc.errcode}", file=sys.stderr)
            return 1
    print(json.dumps(menu, ensure_ascii=False, indent=2))
    return 0


def _evidence_verify(_: argparse.Namespace) -> int:
    """Re-check every user's evidence hash chain; exit 1 naming the first changed entry of a broken chain."""
    from bot.evidence.chain import REASONS
    from bot.store import Store, StoreError

    cfg = load_config()
    try:
        store = Store.from_config(cfg)
    except StoreError as exc:  # wrong or malformed key, newer schema: nothing is changed or re-keyed
        print(f"error: {exc}", file=sys.stderr)
        return 2
    broken = 0
    entries = 0
    with store:
        users = store.chain_users()
        for no, user in enumerate(users, start=1):
            report = store.verify_evidence(user)
            entries += report.count
            if report.ok:
                print(f"log {no}: {report.count} entries, chain intact, head {report.head}")
                continue
            broken += 1
            print(
                f"log {no}: CHANGED at entry {report.first_bad_seq} (row id {report.first_bad_id}): it "
                f"{REASONS.get(report.reason, report.reason)}; the last good chain hash is {report.head}"
            )
    print(f"{len(users)} logs, {entries} entries checked: " + (f"{broken} broken" if broken else "all intact"))
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    ap = argparse.ArgumentParser(prog="python -m bot", description="催收维权助手 — collection-rights helper bot")
    sub = ap.add_subparsers(dest="command")
    p = sub.add_parser("run", help="every channel whose credentials are set, else the terminal chat")
    p.add_argument("--script", help=argparse.SUPPRESS)
    p.set_defaults(func=_run)
    p = sub.add_parser("wechat", help="serve the WeChat Official Account callback (needs WECHAT_TOKEN)")
    p.add_argument("--port", type=int, help="port to listen on (default: wechat.port in config.yaml)")
    p.set_defaults(func=_wechat)
    p = sub.add_parser("wechat-menu", help="create the WeChat custom menu (needs WECHAT_APP_ID/SECRET)")
    p.set_defaults(func=_wechat_menu)
    p = sub.add_parser("health", help="exit 0 if this worker is healthy (for HEALTHCHECK and the proxy)")
    p.add_argument("--url", help="health URL (default: the webhook port's /health)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    p.set_defaults(func=_health)
    p = sub.add_parser("shell", help="chat in the terminal")
    p.add_argument("--script", help="replay the user lines of FILE instead of reading the keyboard")
    p.set_defaults(func=_shell)
    p = sub.add_parser("nlu", help="classify text with the intent model")
    p.add_argument("--jsonl", action="store_true", help='read JSON lines {"text": ...} on stdin')
    p.add_argument("text", nargs="*")
    p.set_defaults(func=_nlu)
    p = sub.add_parser("assess", help="assess a collection SMS")
    p.add_argument("--jsonl", action="store_true", help='read JSON lines {"text": ..., "received_at"?} on stdin')
    p.add_argument("--locale", default="zh-Hans", choices=("zh-Hans", "zh-Hant", "en"))
    p.add_argument("text", nargs="*")
    p.set_defaults(func=_assess)
    p = sub.add_parser("evidence", help="evidence log tools")
    ev = p.add_subparsers(dest="evidence_command", required=True)
    q = ev.add_parser("verify", help="re-check every user's SHA-256 evidence chain; exit 1 if one was changed")
    q.set_defaults(func=_evidence_verify)
    p = sub.add_parser("train", help="train the NLU model if its data changed")
    p.add_argument("--force", action="store_true", help="retrain even if nothing changed")
    p.add_argument("--config", help="another pipeline config (for comparisons)")
    p.set_defaults(func=_train)
    p = sub.add_parser("validate", help="rasa data validate")
    p.set_defaults(func=_validate)
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        args = ap.parse_args(["run", *(argv or [])])
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from bot.nlu import ModelUnusable

        if not isinstance(exc, ModelUnusable):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
