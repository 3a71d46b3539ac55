"""The fault table: restart PostgreSQL and Redis under load and count the jobs that settle.

Everything runs on PRIVATE instances this script starts itself (a redis-server and a
PostgreSQL cluster on free loopback ports, in a temporary directory), never on the shared
services: a restart here disturbs nobody else. The processes are the Procfile's workers and
beat, started once; the script restarts the database or the broker in the middle of the
submissions, never a worker, and reports whether every worker is still the one it started.

    .venv/bin/python -m scripts.fault_table --faults postgres,redis,kill-preview,kill-final --jobs 24 --rate 2

`kill-preview` / `kill-final` SIGKILL that worker mid-load and start a new one two seconds
later, as systemd's Restart=always would (counted in supervisor_restarts); the killed
worker's attempts are recovered by their leases. After each fault has settled, `manage.py
budget reconcile` checks the ledger against the attempts on the private database. Prints one
JSON row per fault: {"fault", "jobs", "settled", "stuck", "by_status", "supervisor_restarts",
"manual_restarts", "workers_alive", "submit_retries", "reconcile", "seconds"}; "reconcile" is
"clean" or the command's list of differences. Exit status 1 when a row has stuck jobs, a
worker died or the ledger differs. Needs root (PostgreSQL runs as the `postgres` OS user).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKERS = ("preview", "final", "verify", "verify-preview", "beat")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port} after {timeout} s")


@dataclass
class PrivateRedis:
    """A redis-server of our own on a free port, without persistence (a restart empties it,
    the harder case: every queued and unacked message is gone)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=(self.workdir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def restart(self, *, down_s: float = 1.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb + pg_ctl as the `postgres` OS user) on a free
    port, trust auth on loopback, fsync off (it is thrown away)."""

    workdir: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/renderhub"

    @staticmethod
    def _bin(name: str) -> str:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        if not found:
            raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
        return found[-1]

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    def start(self) -> None:
        data = self.workdir / "data"
        if not data.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            shutil.chown(self.workdir, "postgres", "postgres")
            self._as_postgres(self._bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._as_postgres(
            self._bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.workdir / "pg.log"), "-w", "start"
        )

    def create_database(self) -> None:
        self._as_postgres(self._bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "renderhub")

    def stop(self) -> None:
        data = self.workdir / "data"
        if data.exists():
            subprocess.run(
                ["runuser", "-u", "postgres", "--", self._bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
            )

    def restart(self, *, down_s: float = 1.0) -> None:
        # Fast mode: every client connection is cut, as when the server is restarted by hand.
        self.stop()
        time.sleep(down_s)
        self.start()


def procfile_commands(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """The Procfile's `name: command` lines."""
    commands = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            commands[name.strip()] = command.strip()
    return commands


@dataclass
class Deployment:
    """The Procfile's workers and beat on the private services."""

    env: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    def manage(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, **kwargs
        )

    def start(self, names: tuple[str, ...] = WORKERS) -> None:
        commands = procfile_commands()
        for name in names:
            log = (self.log_dir / f"{name}.log").open("ab")
            # A new session: stopping the group stops prefork children too.
            proc = subprocess.Popen(
                ["bash", "-c", f"exec {commands[name]}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs[name], self.pids[name] = proc, proc.pid
        deadline = time.monotonic() + 90
        for name in names:
            if name == "beat":
                continue
            ready = "Booting worker" if name == "web" else "ready."
            while ready not in (self.log_dir / f"{name}.log").read_text(errors="replace"):
                if self.procs[name].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{self.log_tail(name)}")
                time.sleep(0.2)

    def reconcile(self) -> str:
        """`manage.py budget reconcile` on this deployment's database: "clean", else its output
        (one line per difference between the ledger and the attempts)."""
        done = subprocess.run(
            [sys.executable, "manage.py", "budget", "reconcile"], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        return "clean" if done.returncode == 0 else (done.stdout + done.stderr).strip()

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-chars:]

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.procs.items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


FAULTS = ("postgres", "redis", "kill-preview", "kill-final")


def _inject(fault: str, deployment: Deployment, *, pg: PrivatePostgres, redis: PrivateRedis, down_s: float) -> int:
    """Inject `fault`; returns how many workers were restarted (as a supervisor would)."""
    if fault == "postgres":
        pg.restart(down_s=down_s)
    elif fault == "redis":
        redis.restart(down_s=down_s)
    elif fault.startswith("kill-"):
        # SIGKILL the whole worker in the middle of its engine calls; systemd's Restart=always
        # starts a new one after RestartSec=2. The killed attempts are recovered by their
        # leases, not by the new worker.
        name = fault.removeprefix("kill-")
        os.killpg(deployment.procs[name].pid, signal.SIGKILL)
        deployment.procs[name].wait()
        time.sleep(2)
        deployment.start((name,))
        return 1
    else:
        raise ValueError(f"unknown fault {fault!r} ({' | '.join(FAULTS)})")
    return 0


def run_fault(
    deployment: Deployment,
    *,
    fault: str,
    pg: PrivatePostgres,
    redis: PrivateRedis,
    jobs: int,
    rate: float,
    settle_s: float,
    down_s: float,
) -> dict[str, object]:
    """Submit `jobs` at `rate`/s, restart `fault` once half are in, wait for all to settle."""
    started = time.monotonic()
    load = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "fault_load",
            "--jobs",
            str(jobs),
            "--rate",
            str(rate),
            "--settle",
            str(settle_s),
        ],
        cwd=ROOT,
        env=deployment.env,
        stdout=subprocess.PIPE,
        stderr=(deployment.log_dir / f"load-{fault}.log").open("ab"),
        text=True,
    )
    assert load.stdout is not None
    report: dict[str, object] = {}
    injected = False
    supervisor_restarts = 0
    for line in load.stdout:
        event = json.loads(line)
        if event.get("event") == "submitted" and not injected and event["n"] >= jobs // 2:
            supervisor_restarts = _inject(fault, deployment, pg=pg, redis=redis, down_s=down_s)
            injected = True
        elif event.get("event") == "report":
            report = event
    load.wait()
    if not report:
        raise RuntimeError(f"the load driver gave no report:\n{(deployment.log_dir / f'load-{fault}.log').read_text()}")
    alive = deployment.alive()
    reconcile = deployment.reconcile()
    return {
        "fault": f"{fault} restart"
        if fault in ("postgres", "redis")
        else f"SIGKILL {fault.removeprefix('kill-')} worker",
        "jobs": report["jobs"],
        "settled": report["settled"],
        "stuck": report["stuck"],
        "by_status": report["by_status"],
        "submit_retries": report["submit_retries"],
        "stuck_reasons": report.get("stuck_reasons", {}),
        "workers_alive": alive,
        # Only the killed worker is started again (the supervisor's job, not a person's); a
        # worker that died on its own shows in workers_alive and fails the row.
        "supervisor_restarts": supervisor_restarts,
        "manual_restarts": 0,
        "reconcile": reconcile,
        "seconds": round(time.monotonic() - started, 1),
    }


def private_env(tmp: Path, *, pg: PrivatePostgres, redis: PrivateRedis, lease_s: float = 6.0) -> dict[str, str]:
    """The environment of a deployment on the private services, with short recovery windows."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "RENDERHUB_"))},
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "DATABASE_URL": pg.url,
        "CELERY_BROKER_URL": redis.url,
        "RENDERHUB_VAR_DIR": str(tmp / "var"),
        "RENDERHUB_BUILTIN_LATENCY_SCALE": "0.2",
        # Short recovery windows so a run takes a minute, not the production defaults.
        "RENDERHUB_LEASE_S": str(lease_s),
        "RENDERHUB_SWEEP_INTERVAL_S": "2",
        "RENDERHUB_REQUEUE_AFTER_S": "5",
        "PREVIEW_CONCURRENCY": "8",
        "FINAL_CONCURRENCY": "8",
        "VERIFY_CONCURRENCY": "1",
        "DEBUG": "true",
    }


def fault_table(
    *,
    faults: list[str],
    jobs: int = 24,
    rate: float = 2.0,
    settle_s: float = 120.0,
    down_s: float = 1.0,
    lease_s: float = 6.0,
    workdir: Path | None = None,
) -> list[dict[str, object]]:
    """Start private PostgreSQL and Redis, migrate, start the Procfile's workers and beat,
    then run each fault in turn on the same processes. Returns one row per fault."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="rh-faults-"))
    tmp.chmod(0o755)
    pg, redis = PrivatePostgres(tmp / "pg"), PrivateRedis(tmp / "redis")
    (tmp / "logs").mkdir(exist_ok=True)
    env = private_env(tmp, pg=pg, redis=redis, lease_s=lease_s)
    deployment = Deployment(env=env, log_dir=tmp / "logs")
    rows = []
    try:
        redis.start()
        pg.start()
        pg.create_database()
        deployment.manage("migrate", "--noinput")
        deployment.manage("seed_demo", "--password", "fault-table")
        deployment.start()
        for fault in faults:
            rows.append(
                run_fault(
                    deployment,
                    fault=fault,
                    pg=pg,
                    redis=redis,
                    jobs=jobs,
                    rate=rate,
                    settle_s=settle_s,
                    down_s=down_s,
                )
            )
    finally:
        deployment.stop()
        redis.stop()
        pg.stop()
        if workdir is None and not os.environ.get("RENDERHUB_KEEP_FAULT_DIR"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp / 'logs'}", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", default="postgres,redis", help=f"comma-separated: {', '.join(FAULTS)}")
    parser.add_argument("--jobs", type=int, default=24, help="jobs submitted per fault")
    parser.add_argument("--rate", type=float, default=2.0, help="submissions per second")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for every job to settle")
    parser.add_argument("--down", type=float, default=1.0, help="seconds the service stays down")
    parser.add_argument("--lease", type=float, default=6.0, help="attempt lease in seconds")
    args = parser.parse_args()
    rows = fault_table(
        faults=[f.strip() for f in args.faults.split(",") if f.strip()],
        jobs=args.jobs,
        rate=args.rate,
        settle_s=args.settle,
        down_s=args.down,
        lease_s=args.lease,
    )
    for row in rows:
        print(json.dumps(row))
    bad = any(
        row["stuck"] or not all(row["workers_alive"].values()) or row["reconcile"] != "clean"  # type: ignore[union-attr]
        for row in rows
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
