#!/usr/bin/env bash
# `make stop-production`: stop what scripts/production/setup.sh started (as recorded in its state
# directory), and only that: the daemon, the Slurm cluster, RabbitMQ, PostgreSQL. Data is kept; a
# later `make setup-production` starts everything again.
set -uo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
PROFILE=${PRODUCTION_PROFILE:-mlip-autopipe-production}
export MLIP_AUTOPIPE_CACHE=${MLIP_AUTOPIPE_CACHE:-$HOME/.cache/mlip-autopipe}
STATE=${PRODUCTION_STATE_DIR:-$MLIP_AUTOPIPE_CACHE/production/$PROFILE}
export MLIP_AUTOPIPE_SLURM_DIR=${MLIP_AUTOPIPE_SLURM_DIR:-$MLIP_AUTOPIPE_CACHE/slurm}

log() { printf '[production] %s\n' "$*"; }

touch "$STATE/started"
if grep -qx daemon "$STATE/started"; then
    log "stopping the daemon of $PROFILE"
    "$VENV/bin/verdi" -p "$PROFILE" daemon stop || log "daemon stop failed (already stopped?)"
    sed -i '/^daemon$/d' "$STATE/started"
fi
if grep -qx slurm "$STATE/started"; then
    bash scripts/slurm/stop.sh
    sed -i '/^slurm$/d' "$STATE/started"
fi
# PostgreSQL and RabbitMQ: stopped if they were started for this set-up and nobody else uses them
bash scripts/production/services.sh stop "$STATE"
