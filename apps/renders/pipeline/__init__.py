"""The render pipeline's writes, one module per stage. Each imports only the ones above it:

- `state`: the job state machine (`job_transition`, the only writer of `job.status`) and
  `job_finish`, which settles the job's cost when it comes to rest.
- `enqueue`: the one place that sends Celery tasks (by name; never imports `tasks.py`).
- `attempts`: `attempt_start` (the job's next attempt, enqueued after the commit), its prompt.
- `submit`: validation, admission (admit / degrade / defer / refuse) and `job_submit`.
- `hedging`: hedged previews on the fallback engine; first answer wins.
- `outcome`: `attempt_verify` (the gate) and `attempt_conclude` (verdict → next step,
  escalation ladder, moderation).
- `run`: `attempt_run` (the engine call) and `attempt_fail` (fallback or failure).
- `sweeper`: recovery of lost attempts and release of deferred jobs.
- `decisions`: the editor's request for the final; moderators' approve / reject / re-render.

`apps/renders/tasks.py` is a thin interface over `run`, `outcome`, `hedging` and `sweeper`.
Every function is idempotent by state, so a redelivered task does no harm.
"""
