"""Scale-out on PostgreSQL: 1 worker against 3, the stock Rasa server beside them, and the stores' own cost.

1. Webhook workers (`python -m bot run`, each loading the real model) on a PostgreSQL cluster (fsync on),
   replying to a fake Bot API in its own process, with a round-robin in front (tests/_workers.py, as the
   multi-worker test uses). Updates are half forwarded collection SMS, half questions and commands, over
   200 chats; a webhook POST is answered once its update is handled and its replies sent, so the POST's
   time is the whole chain's. Measured with 1 and with 3 workers:
   - sustained rate: 40 deliveries in flight at once (Telegram's default max_connections), for a fixed time;
   - p50 / p99 at 30 updates/s offered (open loop: an update late because the machine is busy counts late).
2. The stock `rasa run --enable-api` server's /model/parse rate on the same model, 4 clients.
3. State read+write (get_state + put_state) and a whole turn (user lock, read, state and update id
   committed together) on PostgreSQL and on SQLite: p50 / p99.
4. Where the CPU goes: the machine's two cores split between workers, PostgreSQL, the fake Bot API and the
   load driver during the 3-worker run; with py-spy (on PATH, or PY_SPY=/path/to/py-spy) a sampled profile
   of one worker says which code its CPU time is spent in.

Run: .venv/bin/python bench/bench_scale.py [--seconds 20]   (about 5 minutes; loopback only; a markdown table)
Needs PostgreSQL (scripts/pg-test-server.sh install) and the trained model (make train).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

import aiohttp  # noqa: E402
from bench_telegram import percentile, rasa_server_rate, texts_to_send  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from tests._pg import PgServer  # noqa: E402
from tests._workers import SECRET, Worker  # noqa: E402
from tests.fake_bot_api import FakeBotApi, FakeBotApiProcess  # noqa: E402

CHATS = 200
IN_FLIGHT = 40
"""Deliveries in flight at once in the sustained run (Telegram's default webhook max_connections)."""
OFFERED_RATE = 30.0
TARGET_SPEEDUP = 1.6
PROFILE_S = 10.0
"""How long py-spy samples one worker (in a run of its own, after the measured ones)."""
BUSY_ELSEWHERE = 0.25
"""CPU cores used by programs outside the bench above which the table says the machine was shared."""
"""How long py-spy samples one worker (in a run of its own, after the measured ones)."""
TICK = os.sysconf("SC_CLK_TCK")


def note(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench_scale] {message}", file=sys.stderr, flush=True)


# ── CPU accounting from /proc ────────────────────────────────────────────────────────────────────────────
def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_pids(cluster_dir: str) -> list[int]:
    """The cluster's processes: the postmaster (its pid file) and its children."""
    try:
        master = int(Path(cluster_dir, "data", "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == master:
                pids.append(int(entry.name))
    return pids


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK, sum(values) / TICK


class CpuMeter:
    """CPU used by named groups of processes between start() and stop()."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.used: dict[str, float] = {}
        self._before: dict[str, dict[int, float]] = {}
        self.machine_cores = 0.0
        self.wall = 0.0

    def _snap(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_s(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        """Note every group's CPU time now."""
        self._before = self._snap()
        self._machine = machine_busy()
        self._t0 = time.monotonic()

    def stop(self) -> None:
        """Work out each group's CPU since start() (processes born meanwhile count from zero)."""
        after = self._snap()
        self.wall = time.monotonic() - self._t0
        for name, pids in after.items():
            self.used[name] = sum(v - self._before[name].get(pid, 0.0) for pid, v in pids.items())
        busy0, _ = self._machine
        busy1, _ = machine_busy()
        self.machine_cores = (busy1 - busy0) / self.wall


# ── load ─────────────────────────────────────────────────────────────────────────────────────────────────
class Updates:
    """Update bodies for the chats, in the same mix as bench_telegram.py; every update id new."""

    def __init__(self, seed: int) -> None:
        self.factory = FakeBotApi()  # not started: only builds update dicts
        self.rng = random.Random(seed)
        self.mix = texts_to_send(2000, self.rng)
        self.ids = itertools.count(seed * 10_000_000 + 1)

    def next_for(self, chat: int) -> dict[str, Any]:
        """The next update for a chat."""
        text, forwarded = self.mix[next(self.ids) % len(self.mix)]
        body = self.factory.forwarded_update(chat, text) if forwarded else self.factory.text_update(chat, text)
        return {"update_id": next(self.ids), **body}


async def deliver(session: aiohttp.ClientSession, url: str, update: dict[str, Any]) -> int:
    """POST one update as Telegram does; the HTTP status (0 if no answer)."""
    try:
        async with session.post(
            url,
            data=json.dumps(update),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as resp:
            await resp.read()
            return resp.status
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return 0


def round_robin(workers: list[Worker]) -> Callable[[], str]:
    """The proxy in front: each delivery to the next worker."""
    turn = itertools.cycle([w.url for w in workers])
    return lambda: next(turn)


async def sustained(
    workers: list[Worker],
    seconds: float,
    seed: int,
    meter: CpuMeter | None = None,
    during: Callable[[], Any] | None = None,
) -> dict[str, float]:
    """IN_FLIGHT deliveries at all times (each chat one at a time); updates answered per second."""
    updates = Updates(seed)
    pick = round_robin(workers)
    base = 100_000 * seed
    lanes = [[base + c for c in range(CHATS) if c % IN_FLIGHT == k] for k in range(IN_FLIGHT)]
    done: list[float] = []
    errors = 0
    warm_until = time.monotonic() + 3.0
    stop_at = warm_until + seconds

    async def lane(chats: list[int]) -> None:
        nonlocal errors
        for chat in itertools.cycle(chats):
            if time.monotonic() >= stop_at:
                return
            status = await deliver(session, pick(), updates.next_for(chat))
            if status != 200:
                errors += 1
            elif time.monotonic() >= warm_until:
                done.append(time.monotonic())

    async def measure() -> None:
        await asyncio.sleep(max(0.0, warm_until - time.monotonic()))
        if meter is not None:
            meter.start()
        if during is not None:
            await asyncio.get_running_loop().run_in_executor(None, during)
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        if meter is not None:
            meter.stop()

    conn = aiohttp.TCPConnector(limit=IN_FLIGHT * 2)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(measure(), *(lane(c) for c in lanes))
    return {"rate": len(done) / seconds, "n": len(done), "errors": errors}


async def paced(workers: list[Worker], seconds: float, rate: float, seed: int) -> dict[str, float]:
    """Offer `rate` updates/s to random chats (a chat's next update waits for its previous one)."""
    updates = Updates(seed)
    pick = round_robin(workers)
    rng = random.Random(seed)
    chats = [200_000 * seed + c for c in range(CHATS)]
    locks = {c: asyncio.Lock() for c in chats}
    latencies: list[float] = []
    errors = 0

    async def one(chat: int, due: float) -> None:
        nonlocal errors
        async with locks[chat]:
            status = await deliver(session, pick(), updates.next_for(chat))
        if status == 200:
            latencies.append(time.monotonic() - due)
        else:
            errors += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        start = time.monotonic() + 0.1
        tasks = []
        for i in range(int(seconds * rate)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(rng.choice(chats), due)))
        await asyncio.gather(*tasks)
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "n": len(latencies),
        "errors": errors,
    }


# ── py-spy ───────────────────────────────────────────────────────────────────────────────────────────────
def py_spy() -> str | None:
    """The py-spy executable, if there is one."""
    beside = Path(sys.executable).parent / "py-spy"  # installed into the venv by `make setup`
    return os.environ.get("PY_SPY") or shutil.which("py-spy") or (str(beside) if beside.exists() else None)


CATEGORIES = (
    (
        "Rasa NLU (tokenizer, featurizers, classifier, bot/nlu.py)",
        ("rasa/", "dask/", "sklearn/", "scipy/", "numpy/", "jieba/", "bot/nlu.py"),
    ),
    ("TensorFlow", ("tensorflow/", "keras/")),
    ("SMS assessment (bot/assess)", ("bot/assess/",)),
    ("PostgreSQL driver (psycopg)", ("psycopg/", "psycopg_pool/")),
    ("store and its thread hand-offs (bot/store.py, bot/offload.py)", ("bot/store.py", "bot/offload.py", "futures/")),
    ("Fernet encryption", ("cryptography/",)),
    ("python-telegram-bot", ("telegram/",)),
    ("Telegram channel (bot/channels)", ("telegram.py", "telegram_http.py")),
    ("aiohttp (webhook server, Bot API client)", ("aiohttp/", "multidict/", "yarl/")),
    ("dialogue core, rendering, texts (bot/)", ("bot/",)),
    ("asyncio event loop", ("asyncio/",)),
)
"""Parts of a worker, by the source path of a frame (py-spy prints paths relative to sys.path)."""


def category(frame: str) -> str | None:
    """The part a py-spy frame ("function (path:line)") belongs to, if any."""
    path = "/" + frame[frame.rfind("(") + 1 :]
    return next((name for name, marks in CATEGORIES if any("/" + m in path for m in marks)), None)


def profile(pid: int, seconds: float, out: Path) -> list[tuple[str, float]]:
    """Sample a worker with py-spy; the share of GIL-holding samples whose innermost known frame is in each part.

    A worker is one Python process, so the thread holding the GIL is what its CPU time is spent on (samples
    of threads waiting for a socket or a lock are left out, which py-spy's own idle detection does not do).
    """
    exe = py_spy()
    if exe is None:
        return []
    done = subprocess.run(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
            "--gil",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        note(f"py-spy failed: {done.stderr.strip()[-300:]}")
        return []
    counts: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = stack.split(";")
        label = "other (interpreter, stdlib)"
        for frame in reversed(frames):  # innermost first: the code that spends the time
            found = category(frame)
            if found is not None:
                label = found
                break
        counts[label] += int(n)
    return [(label, n / total) for label, n in counts.most_common()] if total else []


# ── the stores on their own ──────────────────────────────────────────────────────────────────────────────
def store_latency(store: Any, n: int = 1000) -> dict[str, float]:
    """p50/p99 of get_state + put_state, and of a whole turn (lock, read, commit state and update id)."""
    users = [f"bench:{i}" for i in range(100)]
    state = {"flow": "plan", "step": "income", "locale": "zh-Hans", "answers": {"debts": [12000, 3400]}}
    rw: list[float] = []
    turns: list[float] = []
    keys = itertools.count(1)
    for i in range(n + 100):
        user = users[i % len(users)]
        t0 = time.perf_counter()
        got = store.get_state(user)
        store.put_state(user, {**state, "n": got.get("n", 0) + 1})
        t1 = time.perf_counter()
        with store.turn(user, f"bench:{next(keys)}") as session:
            got = session.get_state(user)
            session.finish(user, {**state, "n": got.get("n", 0) + 1}, f"bench:{next(keys)}")
        t2 = time.perf_counter()
        if i >= 100:  # the first hundred warm up connections and caches
            rw.append(t1 - t0)
            turns.append(t2 - t1)
    return {
        "rw_p50": percentile(rw, 50) * 1000,
        "rw_p99": percentile(rw, 99) * 1000,
        "turn_p50": percentile(turns, 50) * 1000,
        "turn_p99": percentile(turns, 99) * 1000,
    }


# ── the run ──────────────────────────────────────────────────────────────────────────────────────────────
@contextlib.contextmanager
def started_workers(n: int, folder: Path, api_port: int, store_url: str, key: str) -> Iterator[list[Worker]]:
    """n webhook workers, each with its own model loaded; killed afterwards."""
    extra = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}
    workers = [
        Worker(folder, f"w{n}-{i}", f"http://127.0.0.1:{api_port}", store_url, key, None, extra).start()
        for i in range(n)
    ]
    try:
        for w in workers:
            w.wait_healthy(180)
            w.wait_model(300)
        yield workers
    finally:
        for w in workers:
            w.stop()


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> int:
    """Measure everything and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each measured run")
    ap.add_argument("--profile-dir", type=Path, help="keep py-spy's raw profiles (collapsed stacks) here")
    args = ap.parse_args()
    from bot.store import PostgresStore, Store
    from bot.train import train

    model = train()
    os.environ["PG_FSYNC"] = "on"  # durable commits, as in production
    pg = PgServer()
    if not pg.start():
        print("PostgreSQL is not available: install it (scripts/pg-test-server.sh install)", file=sys.stderr)
        return 2
    rows: list[tuple[str, str]] = []
    results: dict[int, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, FakeBotApiProcess(poll_timeout_cap=2.0) as fake:
            folder = Path(tmp)
            key = Fernet.generate_key().decode()
            fake_pid = fake._process.pid if fake._process is not None else 0
            for n in (1, 3):
                url = pg.new_schema()
                note(f"{n} worker(s): starting and loading the model…")
                with started_workers(n, folder, fake.port, url, key) as workers:
                    meter = CpuMeter(
                        {
                            "workers": lambda ws=workers: [w.proc.pid for w in ws if w.proc is not None],
                            "PostgreSQL": lambda: postgres_pids(pg.dir or ""),
                            "fake Bot API": lambda: [fake_pid],
                            "load driver (this process)": lambda: [os.getpid()],
                        }
                    )
                    spy: list[tuple[str, float]] = []
                    target = workers[0].proc.pid if workers[0].proc is not None else 0

                    def sample(pid: int = target, into: list[tuple[str, float]] = spy, count: int = n) -> None:
                        where = args.profile_dir or folder
                        where.mkdir(parents=True, exist_ok=True)
                        into.extend(profile(pid, PROFILE_S, where / f"worker-of-{count}.txt"))

                    note(f"{n} worker(s): sustained rate, {IN_FLIGHT} in flight for {args.seconds:.0f} s…")
                    s = asyncio.run(sustained(workers, args.seconds, seed=n, meter=meter))
                    note(f"{n} worker(s): {OFFERED_RATE:.0f} updates/s for {args.seconds:.0f} s…")
                    p = asyncio.run(paced(workers, args.seconds, OFFERED_RATE, seed=10 + n))
                    if py_spy() is not None:  # a separate run: the profiler's own CPU would lower the rates
                        note(f"{n} worker(s): profiling one worker under the same load…")
                        asyncio.run(sustained(workers, PROFILE_S + 2, seed=20 + n, during=sample))
                    results[n] = {
                        "s": s,
                        "p": p,
                        "cpu": dict(meter.used),
                        "wall": meter.wall,
                        "machine": meter.machine_cores,
                        "spy": spy,
                    }
                pg.drop_schema(url)
            for n in (1, 3):
                r = results[n]
                worker_ms = r["cpu"]["workers"] / max(1, r["s"]["rate"] * r["wall"]) * 1000
                rows.append(
                    (
                        f"{n} worker{'s' if n > 1 else ''}: sustained rate ({IN_FLIGHT} in flight, 200 chats)",
                        f"**{r['s']['rate']:.0f} updates/s** ({r['s']['n']} answered, {r['s']['errors']} errors; "
                        f"worker CPU {worker_ms:.1f} ms/update)",
                    )
                )
                rows.append(
                    (
                        f"{n} worker{'s' if n > 1 else ''}: p50 / p99 at {OFFERED_RATE:.0f} updates/s offered",
                        f"**{r['p']['p50_ms']:.0f} / {r['p']['p99_ms']:.0f} ms** (max {r['p']['max_ms']:.0f}; "
                        f"{r['p']['n']} answered, {r['p']['errors']} errors)",
                    )
                )
            speedup = results[3]["s"]["rate"] / max(1e-9, results[1]["s"]["rate"])
            rows.append(
                (
                    f"3 workers ÷ 1 worker (target ≥ {TARGET_SPEEDUP}×)",
                    f"**{speedup:.2f}×**" + ("" if speedup >= TARGET_SPEEDUP else " — below target, see below"),
                )
            )
            for n in (1, 3):
                r = results[n]
                cores = ", ".join(f"{name} {used / r['wall']:.2f}" for name, used in r["cpu"].items())
                rest = r["machine"] - sum(r["cpu"].values()) / r["wall"]
                cores += f", everything else (other programs on the machine) {rest:.2f}"
                rows.append(
                    (
                        f"CPU cores in use during the {n}-worker sustained run (of {os.cpu_count()})",
                        f"machine {r['machine']:.2f}: {cores}",
                    )
                )
            others = max(r["machine"] - sum(r["cpu"].values()) / r["wall"] for r in results.values())
            if others > BUSY_ELSEWHERE:
                rows.append(
                    (
                        "⚠ the machine was shared",
                        f"other programs used up to {others:.2f} cores during the measured runs: the rates above are "
                        "lower than this machine gives when it is otherwise idle; run again when it is quiet",
                    )
                )
            for n in (1, 3):
                spy = results[n]["spy"]
                if spy:
                    parts = "; ".join(f"{label} {share:.0%}" for label, share in spy[:8])
                    rows.append(
                        (
                            f"py-spy, {'the' if n == 1 else 'one of 3'} worker{'s' if n > 1 else ''}: "
                            "share of GIL-holding samples by innermost known frame",
                            parts,
                        )
                    )
                else:
                    rows.append(
                        (
                            f"py-spy profile ({n} worker{'s' if n > 1 else ''})",
                            "not taken (py-spy not found: set PY_SPY or put it on PATH)",
                        )
                    )

        note("stock `rasa run --enable-api` on the same model, 4 clients…")
        texts = [t for t, _ in texts_to_send(200, random.Random(9)) if not t.startswith("/")]
        server = rasa_server_rate(model, texts, min(args.seconds, 15.0), clients=4)
        rows.append(
            (
                f"stock `rasa run --enable-api` /model/parse, 4 clients (ready after {server['ready_s']:.0f} s)",
                f"**{server['rate']:.0f} parses/s**, p50 {server['p50_ms']:.1f} ms",
            )
        )
        ratio = results[3]["s"]["rate"] / server["rate"]
        rows.append(("3 workers' whole chain ÷ stock server's parse-only rate (goal ≥ 2×)", f"{ratio:.2f}×"))

        note("store latency: PostgreSQL and SQLite…")
        url = pg.new_schema()
        with PostgresStore(url, Fernet.generate_key(), pool_size=2) as pg_store:
            pgl = store_latency(pg_store)
        pg.drop_schema(url)
        with tempfile.TemporaryDirectory() as tmp:
            sq_store = Store(Path(tmp) / "bench.sqlite3", Fernet.generate_key())
            sql = store_latency(sq_store)
            sq_store.close()
        for name, r in (("PostgreSQL (127.0.0.1, fsync on)", pgl), ("SQLite (file, WAL)", sql)):
            rows.append(
                (
                    f"{name}: state read+write, p50 / p99 (1,000 × get_state + put_state, 100 users)",
                    f"{r['rw_p50']:.2f} / **{r['rw_p99']:.2f} ms**",
                )
            )
            rows.append(
                (
                    f"{name}: one turn (user lock, read, state + update id committed), p50 / p99",
                    f"{r['turn_p50']:.2f} / {r['turn_p99']:.2f} ms",
                )
            )
    finally:
        pg.stop()
    print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} × {cpu_model()}, Python {platform.python_version()}\n")
    print("| measure | measured |")
    print("|---|---|")
    for measure, value in rows:
        print(f"| {measure} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
