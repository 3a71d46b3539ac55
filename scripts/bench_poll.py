"""The job page's status poll against the floor's status partial, side by side in one run.

    .venv/bin/python -m scripts.bench_poll [--reps 3] [--seconds 10] [--connections 8]

Two private PostgreSQL clusters (free ports, temporary directory), two gunicorn servers with
the floor's set-up (sync, 2 workers, persistent connections, DEBUG off), and `wrk -t1 -cN`
against each in turn, repeated:

- floor: the perf-floor project's `@login_required` htmx status partial (`/jobs/<id>/status-auth`:
  session, user and job, 3 SELECTs; ../shared/perf-floor/, performance.md §2: 418 req/s at c8);
- renderhub-revalidate: RenderHub's job page polled as htmx and the browser's cache do it
  (`HX-Request`, `If-None-Match` with the last ETag; a running job's ETag moves each second,
  so about one poll a second per connection gets the whole partial, the others 304);
- renderhub-full: the same poll without an ETag (the whole partial every time).

CPU-ms per poll is the gunicorn and PostgreSQL process trees' CPU time (utime + stime from
/proc) over the wrk run ÷ requests answered. Statements per poll are counted in-process with
Django's test client on the same database (304 and 200 paths). Prints one JSON object with
each run's requests/s, latency percentiles, CPU-ms per poll, and the load average.
Needs root (the clusters run as the `postgres` user) and wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.fault_table import ROOT, PrivatePostgres, PrivateRedis, _wait_port, free_port, private_env

# ../shared/perf-floor beside the checkout (RENDERHUB_PERF_FLOOR elsewhere, e.g. from a worktree).
FLOOR = Path(os.environ.get("RENDERHUB_PERF_FLOOR", ROOT.parent / "shared" / "perf-floor"))

# Our fixture: an editor's running job, a session cookie, and the statements of one poll.
FIXTURE = """
import json
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.contrib.auth import get_user_model
from apps.catalog.models import Template
from apps.renders.management.commands.load_pollers import _session_cookie
from apps.renders.pipeline.submit import job_submit
editor = get_user_model().objects.get(username="editor")
job = job_submit(submitted_by=editor, template=Template.objects.get(slug="editorial-cover"), texts={"title": "Polls"})
cookie = _session_cookie(editor)
client = Client(headers={"HX-Request": "true"})
client.cookies["sessionid"] = cookie
url = f"/renders/{job.public_id}/"
with CaptureQueriesContext(connection) as full:
    first = client.get(url)
with CaptureQueriesContext(connection) as unchanged:
    again = client.get(url, headers={"If-None-Match": first["ETag"]})
print(json.dumps({"url": url, "cookie": cookie, "status": [first.status_code, again.status_code],
                  "statements_200": len(full), "statements_304": len(unchanged)}))
"""

FLOOR_FIXTURE = "import bench_http, json; job, cookie = bench_http.fixtures(); print(json.dumps([job, cookie]))"

# wrk as a browser polls: revalidate with the last ETag seen.
REVALIDATE_LUA = """
local etag = nil
request = function()
  local headers = {["HX-Request"] = "true", ["Cookie"] = cookie}
  if etag then headers["If-None-Match"] = etag end
  return wrk.format("GET", path, headers)
end
response = function(status, headers, body)
  if headers["ETag"] then etag = headers["ETag"] end
end
"""

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(token: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", token)
    assert match, token
    return float(match.group(1)) * _UNIT[match.group(2)]


def _tree_cpu_s(roots: list[int]) -> float:
    """CPU seconds (utime + stime, live processes) of the process trees under `roots`."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(rest[1]), []).append(int(entry))
        cpu[int(entry)] = int(rest[11]) + int(rest[12])
    total, stack, seen = 0, list(roots), set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, *, connections: int, seconds: float, headers: dict[str, str], lua: str | None = None) -> dict:
    """One `wrk -t1 -cN` run: {"rps", "n", "p50_ms", "p90_ms", "p99_ms", "non_2xx_3xx"}."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if lua:
            cookie, path = headers.get("Cookie", ""), "/" + url.split("/", 3)[3]
            script.write(f"cookie = {json.dumps(cookie)}\npath = {json.dumps(path)}\n{lua}")
            script.flush()
            command += ["-s", script.name]
        run = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60)
    out = run.stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {' '.join(command)} {url}\n{out}\n{run.stderr}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    dist = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "n": total,
        "p50_ms": _ms(dist["50"]),
        "p90_ms": _ms(dist["90"]),
        "p99_ms": _ms(dist["99"]),
        "non_2xx_3xx": int(errors.group(1)) if errors else 0,
    }


def _gunicorn(app: str, *, port: int, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """gunicorn as the floor runs it: sync, 2 workers."""
    command = [
        *(str(Path(sys.executable).parent / "gunicorn"), app, "-b", f"127.0.0.1:{port}"),
        *("-w", "2", "-k", "sync", "--log-level", "warning", "--backlog", "2048"),
    ]
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    _wait_port(port)
    time.sleep(1.0)  # both workers booted
    return proc


def _probe(url: str, headers: dict[str, str]) -> list[int]:
    """Status codes of two polls, the second revalidating with the first's ETag (redirects
    not followed: a 302 means the login was lost)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    codes, etag = [], None
    for _ in range(2):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        sent = {**headers, "HX-Request": "true"}
        if etag and "HX-Request" not in headers:  # the revalidating target
            sent["If-None-Match"] = etag
        connection.request("GET", parts.path, headers=sent)
        response = connection.getresponse()
        response.read()
        codes.append(response.status)
        etag = response.getheader("ETag")
        connection.close()
    return codes


def _postmaster(pg: PrivatePostgres) -> int:
    return int((pg.workdir / "data" / "postmaster.pid").read_text().split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="rh-poll-"))
    tmp.chmod(0o755)
    floor_dir = tmp / "perf-floor"
    shutil.copytree(FLOOR, floor_dir)
    ours_pg, floor_pg, redis = PrivatePostgres(tmp / "pg"), PrivatePostgres(tmp / "pg-floor"), PrivateRedis(tmp / "r")
    servers: list[subprocess.Popen] = []
    try:
        redis.start()
        for pg in (ours_pg, floor_pg):
            pg.start()
            pg.create_database()
        # One SECRET_KEY for the fixture and the server: the session's auth hash is salted with it.
        env = {
            **private_env(tmp, pg=ours_pg, redis=redis),
            **{"ALLOWED_HOSTS": "127.0.0.1,testserver", "SECRET_KEY": "bench-poll-" + "x" * 40},
        }
        manage = [sys.executable, "manage.py"]
        for command in (("migrate", "--noinput"), ("seed_demo", "--password", "bench-poll")):
            subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run([*manage, "collectstatic", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
        ours = json.loads(
            subprocess.run(
                [*manage, "shell", "-c", FIXTURE], cwd=ROOT, env=env, check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        floor_env = {
            **os.environ,
            "RH_PG_PORT": str(floor_pg.port),
            "RH_VENV_BIN": str(Path(sys.executable).parent),
            "RH_MEDIA_ROOT": str(tmp / "floor-media"),
        }
        floor_job, floor_cookie = json.loads(
            subprocess.run(
                [sys.executable, "-c", FLOOR_FIXTURE],
                cwd=floor_dir,
                env=floor_env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        # Production settings for the measured server: DEBUG off (no query log), WhiteNoise.
        # Plain HTTP on loopback, as behind the TLS proxy: no redirect to https.
        web_env = {
            **env,
            **{"DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1"},
            "SECURE_SSL_REDIRECT": "false",
        }
        ours_port, floor_port = free_port(), free_port()
        servers.append(_gunicorn("renderhub.wsgi", port=ours_port, cwd=ROOT, env=web_env, log=tmp / "web.log"))
        servers.append(
            _gunicorn(
                "djbench.wsgi:application",
                port=floor_port,
                cwd=floor_dir / "djbench",
                env=floor_env,
                log=tmp / "floor.log",
            )
        )
        targets = {
            "floor": (
                f"http://127.0.0.1:{floor_port}/jobs/{floor_job}/status-auth",
                {"Cookie": floor_cookie},
                None,
                servers[1],
                floor_pg,
            ),
            "renderhub-revalidate": (
                f"http://127.0.0.1:{ours_port}{ours['url']}",
                {"Cookie": f"sessionid={ours['cookie']}"},
                REVALIDATE_LUA,
                servers[0],
                ours_pg,
            ),
            "renderhub-full": (
                f"http://127.0.0.1:{ours_port}{ours['url']}",
                {"Cookie": f"sessionid={ours['cookie']}", "HX-Request": "true"},
                None,
                servers[0],
                ours_pg,
            ),
        }
        statuses = {name: _probe(url, headers) for name, (url, headers, *_) in targets.items()}
        # A 302 would be the login page: the session was not accepted. (A 200 for the second
        # revalidating poll only means the ETag moved in between.)
        if any(code not in (200, 304) for codes in statuses.values() for code in codes):
            raise RuntimeError(f"unexpected answers (login lost?): {statuses}")
        runs: list[dict[str, object]] = []
        for rep in range(args.reps):
            for name, (url, headers, lua, server, pg) in targets.items():
                wrk(url, connections=args.connections, seconds=2, headers=headers, lua=lua)  # warm-up
                roots = [server.pid, _postmaster(pg)]
                cpu0, load0 = _tree_cpu_s(roots), os.getloadavg()[0]
                result = wrk(url, connections=args.connections, seconds=args.seconds, headers=headers, lua=lua)
                cpu = _tree_cpu_s(roots) - cpu0
                runs.append(
                    {
                        "target": name,
                        "rep": rep,
                        **result,
                        "cpu_ms_per_poll": round(cpu * 1000 / max(result["n"], 1), 2),
                        "load1": round((load0 + os.getloadavg()[0]) / 2, 1),
                    }
                )
        summary = {}
        for name in targets:
            mine = sorted(r["rps"] for r in runs if r["target"] == name)  # type: ignore[misc]
            cpus = sorted(r["cpu_ms_per_poll"] for r in runs if r["target"] == name)  # type: ignore[misc]
            summary[name] = {"rps_median": mine[len(mine) // 2], "cpu_ms_per_poll_median": cpus[len(cpus) // 2]}
        floor_rps = summary["floor"]["rps_median"]
        for name in targets:
            summary[name]["vs_floor"] = round(summary[name]["rps_median"] / floor_rps, 2)
        print(
            json.dumps(
                {
                    "connections": args.connections,
                    "seconds": args.seconds,
                    "statements_per_poll": {"304": ours["statements_304"], "200": ours["statements_200"], "floor": 3},
                    "summary": summary,
                    "runs": runs,
                }
            )
        )
        return 0
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)
        redis.stop()
        ours_pg.stop()
        floor_pg.stop()
        if not os.environ.get("RENDERHUB_KEEP_FAULT_DIR"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
