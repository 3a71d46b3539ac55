"""Page latency under load, on a private deployment: the figures behind README "Under load".

Starts its own PostgreSQL and Redis (free ports, temporary directory; never the shared
services), migrates, seeds the demo, starts the Procfile's web, workers and beat, then runs
`manage.py load_pollers` against the web and prints its JSON figures.

    .venv/bin/python -m scripts.load_pollers --pollers 20 --rate 5 --seconds 60
    .venv/bin/python -m scripts.load_pollers --pollers 0 --rate 10 --preview-rate 2 --seconds 60

Needs root (the PostgreSQL cluster runs as the `postgres` user).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.fault_table import ROOT, WORKERS, Deployment, PrivatePostgres, PrivateRedis, free_port, private_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--latency-scale", default="1.0", help="built-in engines' simulated latency (1 = as configured)"
    )
    parser.add_argument("--preview-rate", type=float, default=0.0, help="preview-tier submissions per second")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rh-load-"))
    tmp.chmod(0o755)
    pg, redis = PrivatePostgres(tmp / "pg"), PrivateRedis(tmp / "redis")
    (tmp / "logs").mkdir()
    port = free_port()
    env = {
        **private_env(tmp, pg=pg, redis=redis, lease_s=15.0),
        "RENDERHUB_BUILTIN_LATENCY_SCALE": args.latency_scale,
        "RENDERHUB_REQUEUE_AFTER_S": "120",
        "VERIFY_CONCURRENCY": str(os.cpu_count() or 2),
        "PREVIEW_CONCURRENCY": "16",
        "FINAL_CONCURRENCY": "16",
        "BIND": f"127.0.0.1:{port}",
    }
    deployment = Deployment(env=env, log_dir=tmp / "logs")
    try:
        redis.start()
        pg.start()
        pg.create_database()
        deployment.manage("migrate", "--noinput")
        deployment.manage("seed_demo", "--password", "load-pollers")
        deployment.start(("web", *WORKERS))
        result = subprocess.run(
            [
                *(sys.executable, "manage.py", "load_pollers", "--url", f"http://127.0.0.1:{port}"),
                *("--pollers", str(args.pollers), "--rate", str(args.rate), "--seconds", str(args.seconds)),
                *("--preview-rate", str(args.preview_rate)),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr[-3000:])
        return result.returncode
    finally:
        deployment.stop()
        redis.stop()
        pg.stop()
        if not os.environ.get("RENDERHUB_KEEP_FAULT_DIR"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp / 'logs'}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
