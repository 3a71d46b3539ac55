"""CPU priority that holds across sessions: a process's nice value made its autogroup's.

Linux with `CONFIG_SCHED_AUTOGROUP` (on by default in Debian and Ubuntu kernels,
`/proc/sys/kernel/sched_autogroup_enabled` = 1) puts every session (`setsid`) in its own
scheduling group and shares the CPU *between groups* equally; a process's nice value only
orders it against processes of its own session. A Procfile runner, systemd and our load
scripts start each process in a new session, so `nice -n 10 celery …` alone changed nothing:
a worker saturating the CPU got as much of it as the web. Writing the nice value to
`/proc/self/autogroup` gives the whole session that weight (sched(7), "The autogroup
feature"; proc(5), /proc/[pid]/autogroup). Raising it needs no privilege.

Under systemd with the cgroup `cpu` controller on, autogroups do not apply: units carry
`CPUWeight=` instead (deploy/systemd/).
"""

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

AUTOGROUP = Path("/proc/self/autogroup")


def autogroup_follow_nice(*, path: Path = AUTOGROUP) -> int | None:
    """Set this process's autogroup nice to its own nice value (as `nice -n N` set it).

    Returns the nice value written, or None when there is nothing to do: the process is not
    niced (0), or the kernel has no autogroups (no such file). Never raises: a failure to
    write is logged, and the process runs at its autogroup's weight as before."""
    niceness = os.nice(0)
    if niceness <= 0 or not path.exists():
        return None
    try:
        path.write_text(str(niceness))
    except OSError as exc:
        logger.warning("could not set the autogroup's nice to %s: %s", niceness, exc)
        return None
    return niceness
