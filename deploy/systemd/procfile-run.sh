#!/usr/bin/env bash
# Run one process of the Procfile by name (preview | final | verify | verify-preview | beat | web), in the
# foreground, so systemd supervises it: `procfile-run.sh preview`.
set -euo pipefail
cd "$(dirname "$0")/../.."
command=$(sed -n "s/^$1:[[:space:]]*//p" Procfile)
[ -n "$command" ] || { echo "no process named '$1' in the Procfile" >&2; exit 2; }
eval "exec $command"
