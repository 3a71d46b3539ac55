"""CPU time of processes read from Linux's /proc, for benchmarks that split CPU per component.

`cpu_ms(pids)` sums user + system time (`/proc/<pid>/stat` fields 14 and 15, in clock ticks:
proc(5)) of the given processes and, with `children=True`, of every live descendant (found
from `/proc/<pid>/task/*/children`, proc(5), "since Linux 3.5"). A process that ended is left
out, so measure around long-lived processes (servers, workers, database backends).
`machine_busy_ms()` is the whole machine's non-idle CPU time (`/proc/stat`'s first line), to
tell how much CPU other tenants used meanwhile. Raises nothing: missing processes count 0.
"""

import os
from pathlib import Path

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _stat_ms(pid: int) -> float:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def descendants(pid: int) -> list[int]:
    """Live descendants of `pid` (children, grandchildren …), without `pid` itself."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*") if Path(f"/proc/{parent}/task").exists() else []:
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def cpu_ms(pids: list[int], *, children: bool = False) -> float:
    """User + system CPU milliseconds of `pids` (and their live descendants)."""
    every = set(pids)
    if children:
        for pid in pids:
            every.update(descendants(pid))
    return sum(_stat_ms(pid) for pid in every)


def machine_busy_ms() -> float:
    """Non-idle CPU milliseconds of the whole machine since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) * TICK_MS


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)
