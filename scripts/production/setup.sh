#!/usr/bin/env bash
# `make setup-production`: the production stack on this machine (Debian 12, root, no systemd).
#   1. PostgreSQL and RabbitMQ installed when missing and started when not running, with the
#      en_US.UTF-8 locale and RabbitMQ's consumer_timeout undefined (scripts/production/services.sh)
#   2. generated credentials in $STATE/credentials (mode 0600, outside the clone, never printed):
#      a PostgreSQL role + database and a RabbitMQ user + virtual host for the profile
#   3. the profile ($PRODUCTION_PROFILE, core.psql_dos + core.rabbitmq; the embedded default stays)
#   4. computer, codes and pseudo family (`mlip-autopipe setup`); with PRODUCTION_SLURM=1 also a
#      one-node Slurm cluster (scripts/slurm/start.sh) and the `slurm` computer with the codes
#   5. the daemon with $PRODUCTION_WORKERS workers
# Idempotent. `make stop-production` (scripts/production/stop.sh) stops what this started.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
PROFILE=${PRODUCTION_PROFILE:-mlip-autopipe-production}
WORKERS=${PRODUCTION_WORKERS:-2}
SLURM=${PRODUCTION_SLURM:-0}
export MLIP_AUTOPIPE_CACHE=${MLIP_AUTOPIPE_CACHE:-$HOME/.cache/mlip-autopipe}
STATE=${PRODUCTION_STATE_DIR:-$MLIP_AUTOPIPE_CACHE/production/$PROFILE}
export MLIP_AUTOPIPE_SLURM_DIR=${MLIP_AUTOPIPE_SLURM_DIR:-$MLIP_AUTOPIPE_CACHE/slurm}
VERDI="$VENV/bin/verdi"
# the daemon finds `verdi` on PATH
PATH="$(cd "$VENV/bin" 2>/dev/null && pwd || echo "$VENV/bin"):$PATH"

log() { printf '[production] %s\n' "$*"; }

[[ -x $VERDI ]] || {
    echo "$VERDI is missing: run \`make setup\` first" >&2
    exit 1
}
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || {
    echo "PRODUCTION_WORKERS must be a positive integer, got '$WORKERS'" >&2
    exit 2
}

# 1. services
mkdir -p "$STATE"
chmod 700 "$STATE"
touch "$STATE/started"  # what this script starts besides the services: slurm, daemon
bash scripts/production/services.sh start "$STATE"

# 2. credentials: generated once, kept in a 0600 file
credentials=$STATE/credentials
if [[ ! -s $credentials ]]; then
    log "generating credentials in $credentials"
    name=$(printf '%s' "$PROFILE" | tr -c 'a-z0-9\n' '_')
    (
        umask 077
        {
            echo "PG_DATABASE=$name"
            echo "PG_USER=$name"
            echo "PG_PASSWORD=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))')"
            echo "RMQ_USER=$PROFILE"
            echo "RMQ_PASSWORD=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))')"
            echo "RMQ_VHOST=$PROFILE"
        } >"$credentials"
    )
fi
chmod 600 "$credentials"
value() { sed -n "s/^$1=//p" "$credentials"; }
value PG_PASSWORD | bash scripts/production/database.sh create "$(value PG_USER)"
value RMQ_PASSWORD | bash scripts/production/broker.sh create "$(value RMQ_USER)"
log "PostgreSQL database $(value PG_DATABASE) and RabbitMQ virtual host $(value RMQ_VHOST) ready"

# 3. profile (created from the credentials file by Python, so no secret is on a command line)
"$VENV/bin/python" -m aiida_mlip_autopipe.production profile "$PROFILE" "$credentials"

# 4. computer, codes, pseudo family; optionally the Slurm cluster and computer
"$VENV/bin/mlip-autopipe" -p "$PROFILE" setup
if [[ $SLURM == 1 ]]; then
    bash scripts/slurm/start.sh
    grep -qx slurm "$STATE/started" || echo slurm >>"$STATE/started"
    export SLURM_CONF=$MLIP_AUTOPIPE_SLURM_DIR/slurm.conf
    "$VENV/bin/mlip-autopipe" -p "$PROFILE" setup --scheduler slurm
fi

# 5. daemon (with SLURM_CONF in its environment when the Slurm cluster of step 4 runs)
if [[ -f $MLIP_AUTOPIPE_SLURM_DIR/slurm.conf && -z ${SLURM_CONF:-} ]] && grep -qx slurm "$STATE/started"; then
    export SLURM_CONF=$MLIP_AUTOPIPE_SLURM_DIR/slurm.conf
fi
if "$VERDI" -p "$PROFILE" daemon status >/dev/null 2>&1; then
    log "daemon of $PROFILE already running (change workers with \`verdi -p $PROFILE daemon incr/decr\`)"
else
    log "starting the daemon of $PROFILE with $WORKERS workers"
    "$VERDI" -p "$PROFILE" daemon start "$WORKERS"
    echo daemon >>"$STATE/started"
fi
"$VERDI" -p "$PROFILE" status
log "ready: verdi -p $PROFILE ...; stop with \`make stop-production\`"
