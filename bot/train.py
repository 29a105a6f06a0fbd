"""Train the Rasa NLU model from rasa_project/, on normalised data, only when the inputs changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bot.config import ROOT
from bot.nlu import QUIET_ENV
from bot.textnorm import normalise

PROJECT = ROOT / "rasa_project"
BUILD = PROJECT / ".build"
MODEL_NAME = "nlu"
FINGERPRINT_FILE = "fingerprint.txt"
RASA_VERSION = "3.6.21"


class _Literal(str):
    """A string dumped in YAML's literal block style."""


def _literal(dumper: yaml.SafeDumper, data: _Literal) -> yaml.Node:
    """Represent a _Literal as a `|` block."""
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def normalise_examples(block: str) -> str:
    """Normalise every `- example` line of a Rasa examples block as the parser normalises user text."""
    lines = []
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("- "):
            text, _ = normalise(stripped[2:], max_chars=10_000)
            lines.append(f"- {text}")
        elif stripped:
            lines.append(stripped)
    return "\n".join(lines) + "\n"


def normalise_nlu_file(data: dict[str, Any]) -> dict[str, Any]:
    """Return a Rasa NLU data file with its examples normalised (Traditional→Simplified, half-width)."""
    for item in data.get("nlu") or []:
        if isinstance(item.get("examples"), str):
            item["examples"] = _Literal(normalise_examples(item["examples"]))
    return data


def _show(path: Path) -> str:
    """Show a path relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def inputs(config: Path) -> list[Path]:
    """List every file the model depends on."""
    files = [config, PROJECT / "domain.yml", ROOT / "bot" / "textnorm.py", ROOT / "bot" / "train.py"]
    files += sorted((PROJECT / "data").rglob("*"))
    return [f for f in files if f.is_file()]


def fingerprint(config: Path) -> str:
    """Hash the training inputs, so unchanged data means no retraining."""
    h = hashlib.sha256(RASA_VERSION.encode())
    for f in inputs(config):
        h.update(_show(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def build_data(build: Path) -> Path:
    """Write the normalised copy of the training data (and the jieba dictionary) under build/."""
    if build.exists():
        shutil.rmtree(build)
    data_out = build / "data"
    for src in sorted((PROJECT / "data").rglob("*")):
        if not src.is_file():
            continue
        dst = data_out / src.relative_to(PROJECT / "data")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix in (".yml", ".yaml"):
            content = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
            dst.write_text(
                yaml.safe_dump(normalise_nlu_file(content), allow_unicode=True, sort_keys=False), encoding="utf-8"
            )
        else:
            shutil.copyfile(src, dst)
    return data_out


def rasa_server_command(model: Path, port: int, token: str, host: str = "127.0.0.1") -> list[str]:
    """The stock `rasa run --enable-api` server on one model, with an auth token (tests and benchmarks start it)."""
    rasa = str(Path(sys.executable).parent / "rasa")
    return [rasa, "run", "--enable-api", "-i", host, "-p", str(port), "-t", token, "-m", str(model), "--quiet"]


def rasa_env() -> dict[str, str]:
    """Return the environment for Rasa subprocesses: quiet and offline."""
    return {**os.environ, **QUIET_ENV}


def train(
    config: Path | None = None, out: Path | None = None, force: bool = False, model_name: str = MODEL_NAME
) -> Path:
    """Train the NLU model unless an up-to-date one exists; return the model archive path."""
    config = config or PROJECT / "config.yml"
    out = out or PROJECT / "models"
    model = out / f"{model_name}.tar.gz"
    stamp = out / f"{model_name}.{FINGERPRINT_FILE}"
    want = fingerprint(config)
    if not force and model.exists() and stamp.exists() and stamp.read_text().strip() == want:
        print(f"[train] model up to date ({_show(model)}), skipping training", flush=True)
        return model
    build = BUILD / model_name
    data = build_data(build)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"[train] training {_show(model)} with {_show(config)} " "(about 1 minute; DIET pipelines take longer)…",
        flush=True,
    )
    started = time.monotonic()
    cmd = [
        str(Path(sys.executable).parent / "rasa"),
        "train",
        "nlu",
        "--config",
        str(config),
        "--domain",
        str(PROJECT / "domain.yml"),
        "--nlu",
        str(data),
        "--out",
        str(out),
        "--fixed-model-name",
        model_name,
    ]
    proc = subprocess.run(cmd, cwd=PROJECT, env=rasa_env(), check=False)
    if proc.returncode != 0 or not model.exists():
        raise SystemExit(f"[train] rasa train nlu failed (exit {proc.returncode})")
    stamp.write_text(want + "\n")
    print(f"[train] done in {time.monotonic() - started:.0f} s → {_show(model)}", flush=True)
    return model


def validate() -> int:
    """Run `rasa data validate` on the project; return its exit code."""
    cmd = [
        str(Path(sys.executable).parent / "rasa"),
        "data",
        "validate",
        "--fail-on-warnings",
        "--config",
        str(PROJECT / "config.yml"),
        "--domain",
        str(PROJECT / "domain.yml"),
        "--data",
        str(PROJECT / "data"),
    ]
    return subprocess.run(cmd, cwd=PROJECT, env=rasa_env(), check=False).returncode
