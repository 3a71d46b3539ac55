#!/usr/bin/env bash
# Run one process of the Procfile by name (preview | final | verify | verify-preview | beat | web), in the
# foreground, so systemd supervises it: `procfile-run.sh preview`.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The Procfile names bare `gunicorn` and `celery`: the project's virtualenv provides them, also
# when it is not activated (run by hand, or by a unit without its PATH line).
[ -d .venv/bin ] && PATH="$PWD/.venv/bin:$PATH"
command=$(sed -n "s/^$1:[[:space:]]*//p" Procfile)
[ -n "$command" ] || { echo "no process named '$1' in the Procfile" >&2; exit 2; }
eval "exec $command"
