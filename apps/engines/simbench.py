"""CPU cost of the built-in simulation per image (`python manage.py bench_simulation`).

For seeds 1…count, renders what a production job renders with `BuiltinAdapter.render` (the
deterministic part of `generate`; the simulated latency is a sleep and costs no CPU), one
after the other in this process:

- ``preview``: the preview look (`detail` 0, as builtin-turbo);
- ``final``: the final look (`detail` 1, as builtin-ultra) of the same request right after its
  preview, as one worker process renders a job's two stages (the embedded default does);
- ``final_cold``: the same final with the per-process caches (backgrounds, text fitting)
  emptied first, as a final rendered by another worker process than its preview.

Layouts alternate between the demo's two templates (768×512 cover with a title band, 512×512
thumbnail with an overlay word); each seed has its own title (a fixed word list plus the seed),
so no text is fitted twice except by its own final. CPU milliseconds come from
`time.process_time` around each render. `digest` is the SHA-256 of every image's bytes in
order: equal digests mean byte-identical images (before/after a change).
"""

import hashlib
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from apps.engines.adapters import builtin
from apps.engines.adapters.builtin import BuiltinAdapter
from apps.engines.models import Engine
from apps.engines.types import EngineRequest

TITLES = [
    "Harbour Lights",
    "SALE $9.99",
    "Mama's Kitchen Open Late",
    "THE QUIET WINTER",
    "Fresh Bread Daily",
    "Night Market 2026",
    "Gold",
    "Summer Festival of Lanterns",
]
LOOKS = {"preview": {"typo_rate": 0.15}, "final": {"typo_rate": 0.05, "detail": 1.0}}
LAYOUTS = [((768, 512), [0.06, 0.6, 0.94, 0.92]), ((512, 512), [0.5, 0.06, 0.95, 0.32])]


@dataclass(frozen=True)
class SimulationBench:
    """CPU milliseconds per simulated image, per look, and the digest of every image (see module docstring)."""

    count: int
    cpu_ms_mean: dict[str, float]
    cpu_ms_p50: dict[str, float]
    cpu_ms_p95: dict[str, float]
    digest: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def forget_render_caches() -> None:
    """Empty the simulation's per-process caches of backgrounds and text fitting (not the
    fonts: a worker keeps those whatever text it renders)."""
    builtin._painted_background.cache_clear()
    builtin._fit_plan.cache_clear()


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def bench_simulation(*, count: int) -> SimulationBench:
    """Render `count` jobs (three images each, see the module docstring); raises ValueError for count < 1."""
    if count < 1:
        raise ValueError("count must be at least 1")
    digest = hashlib.sha256()
    adapters = {
        look: BuiltinAdapter(Engine(slug=f"bench-{look}", name=look, adapter="builtin", params=params))
        for look, params in LOOKS.items()
    }
    times: dict[str, list[float]] = {"preview": [], "final": [], "final_cold": []}
    for seed in range(1, count + 1):
        (width, height), region = LAYOUTS[seed % len(LAYOUTS)]
        title = f"{TITLES[seed % len(TITLES)]} {seed}"
        request = EngineRequest(
            prompt=f'a poster that reads "{title}"',
            seed=seed,
            width=width,
            height=height,
            extra={"text_regions": [region]},
        )
        for look, adapter in (
            ("preview", adapters["preview"]),
            ("final", adapters["final"]),
            ("final_cold", adapters["final"]),
        ):
            if look == "final_cold":
                forget_render_caches()
            started = time.process_time()
            image, _ = adapter.render(request)
            times[look].append((time.process_time() - started) * 1000)
            digest.update(image)
    return SimulationBench(
        count=count,
        cpu_ms_mean={k: round(statistics.fmean(v), 1) for k, v in times.items()},
        cpu_ms_p50={k: round(statistics.median(v), 1) for k, v in times.items()},
        cpu_ms_p95={k: round(_p95(v), 1) for k, v in times.items()},
        digest=digest.hexdigest(),
    )
