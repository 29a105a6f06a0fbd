"""The deployment files, checked without Docker: services, secrets from the environment, health checks."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.config import load_config
from bot.store import is_postgres_url

ROOT = Path(__file__).resolve().parent.parent
SECRET_NAMES = ("TOKEN", "SECRET", "KEY", "PASSWORD")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_database_workers_nlu_servers_and_a_proxy() -> None:
    services = compose()["services"]
    assert {"db", "worker", "nlu", "proxy"} <= set(services)
    worker = services["worker"]
    assert worker["deploy"]["replicas"] >= 2 and services["nlu"]["deploy"]["replicas"] >= 2
    assert worker["command"] == ["python", "-m", "bot", "run"]
    assert worker["healthcheck"]["test"] == ["CMD", "python", "-m", "bot", "health"]
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready" in services["db"]["healthcheck"]["test"]
    nlu = services["nlu"]["command"]
    assert nlu[:3] == ["rasa", "run", "--enable-api"] and "-t" in nlu  # the parse API is not open to all
    assert "443:443" in services["proxy"]["ports"] and "ports" not in worker  # only the proxy is public


def test_every_secret_comes_from_the_environment() -> None:
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(s in key for s in SECRET_NAMES) or key == "BOT_STORE_URL":
                assert re.search(r"\$\{[A-Z_]+", str(value)), f"{name}.{key} must come from the environment"
    dockerfile = (ROOT / "Dockerfile").read_text()
    env_lines = [line for line in dockerfile.splitlines() if line.startswith(("ENV", "ARG"))]
    assert not [line for line in env_lines if any(s in line for s in SECRET_NAMES)]


def test_the_image_runs_as_a_user_with_a_health_check() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert lines.index(f"USER {users[-1]}") < next(i for i, line in enumerate(lines) if line.startswith("CMD"))
    [check] = [line for line in lines if line.startswith("HEALTHCHECK")]
    assert '"python", "-m", "bot", "health"' in check


def test_the_workers_config_is_valid_webhook_on_postgresql_with_remote_nlu() -> None:
    cfg = load_config(ROOT / "deploy" / "config.yaml", env={})
    assert cfg.telegram.mode == "webhook" and cfg.telegram.webhook.listen == "0.0.0.0"
    assert cfg.nlu.backend == "http" and is_postgres_url(cfg.store.url)
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "health_uri /health" in caddy and f"/{cfg.telegram.webhook.url_path}" in caddy


def test_health_exits_1_when_no_worker_answers(tmp_path: Path) -> None:
    import socket

    from bot.__main__ import main

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["health", "--url", f"http://127.0.0.1:{port}/health", "--timeout", "1"]) == 1


# The image must be built the way `make setup` builds a developer's venv. Running the Dockerfile's install in a
# clean venv is not cheap (Rasa and TensorFlow: 2-3 minutes and ~2.8 GB, then 60 s of training), so the
# commands themselves are compared: same Python, same pip, same pinned install, the same check and training.
NOISE_FLAGS = {"--quiet", "--no-cache-dir", "--disable-pip-version-check", "--upgrade"}


def _commands(text: str) -> list[str]:
    """Shell commands of a script or of a Dockerfile's RUN lines, one per `&&`-joined part, normalised."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    lines = [line[4:] if line.startswith("RUN ") else line for line in lines if not line.startswith("#")]
    out = []
    for part in (p.strip() for line in lines for p in line.split("&&")):
        part = re.split(r" (?:2>&1|\||\|\||>/dev/null)( |$)", part)[0]  # what is done, not what is done with its output
        words = [w.strip('"') for w in part.replace("$(PY)", "python").split()]
        words = [re.sub(r"^(\$VENV|\.venv|\$\(VENV\))/bin/", "", w.lstrip("@")) for w in words]  # @: make's quiet
        keep, skip = [], False
        for w in words:
            if skip:
                skip = False
            elif w == "--progress-bar":
                skip = True
            elif w not in NOISE_FLAGS:
                keep.append(w)
        out.append(" ".join(keep))
    return out


def test_the_image_installs_and_trains_as_make_setup_does() -> None:
    docker = _commands((ROOT / "Dockerfile").read_text())
    setup = _commands((ROOT / "scripts" / "setup-venv.sh").read_text())
    make = _commands((ROOT / "Makefile").read_text())
    pip = [c for c in setup if c.startswith("python -m pip install")]
    assert len(pip) == 2 and all(c in docker for c in pip), (pip, docker)  # pinned pip, then the pinned install
    assert "python -m pip check" in setup and "python -m pip check" in docker
    assert "python -m bot train" in make and "python -m bot train" in docker
    wanted = re.search(r"sys\.version_info\[:2\] != \((\d+), (\d+)\)", (ROOT / "scripts" / "setup-venv.sh").read_text())
    assert wanted is not None
    assert re.search(rf"^FROM python:{wanted[1]}\.{wanted[2]}-", (ROOT / "Dockerfile").read_text(), re.M)
    exported = dict(re.findall(r"^export (\w+) := (\S+)", (ROOT / "Makefile").read_text(), re.M))
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert exported and [k for k, v in exported.items() if f"{k}={v}" not in dockerfile] == []
