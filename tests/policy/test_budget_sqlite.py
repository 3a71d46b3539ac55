"""The budget ledger on the embedded default's SQLite, where DECIMAL arithmetic is binary
floating point: holding and releasing engine prices in some orders left -2.8e-17 reserved,
the CHECK (reserved_usd >= 0) refused the next update, and every later settle on that tier
failed (jobs stalled in "Rendering preview")."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import random
from decimal import Decimal
from apps.policy import services as policy
from apps.policy.models import BudgetLedger, Tier
from apps.renders.demo import demo_seed
demo_seed(password="x")
tier = Tier.objects.get(slug="preview")
rng = random.Random(1)  # an order of holds, books and settles that goes below zero in floats
prices = [Decimal("0.04"), Decimal("0.06"), Decimal("0.08")]
open_refs = []
for i in range(200):
    r = rng.random()
    if open_refs and r < 0.3:
        policy.budget_settle(ref=open_refs.pop(rng.randrange(len(open_refs))), actual_usd=rng.choice(prices))
    elif open_refs and r < 0.5:
        policy.budget_book(ref=rng.choice(open_refs), spent_usd=rng.choice(prices))
    else:
        ref = f"job-{i}"
        policy.budget_reserve(tier=tier, ref=ref, amount_usd=rng.choice(prices))
        if rng.random() < 0.3:
            policy.budget_extend(ref=ref, amount_usd=rng.choice(prices))
        open_refs.append(ref)
for ref in open_refs:
    policy.budget_settle(ref=ref, actual_usd=Decimal("0.04"))
print("reserved", BudgetLedger.objects.get(tier=tier).reserved_usd)
"""


def test_ledger_holds_and_settles_on_sqlite_never_go_below_zero(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RENDERHUB_VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "true",  # the embedded default, as `make run` starts it
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]

    run = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["reserved", "0.0000"]
