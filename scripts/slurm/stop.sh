#!/usr/bin/env bash
# Stop the one-node Slurm cluster started by scripts/slurm/start.sh (same MLIP_AUTOPIPE_SLURM_DIR):
# cancel its jobs, wait for them and their slurmstepd to end, then stop slurmd, slurmctld and
# munged by the pids start.sh recorded. Nothing else is touched.
set -uo pipefail

CACHE=${MLIP_AUTOPIPE_CACHE:-$HOME/.cache/mlip-autopipe}
DIR=${MLIP_AUTOPIPE_SLURM_DIR:-$CACHE/slurm}
export SLURM_CONF=$DIR/slurm.conf

log() { printf '[slurm] %s\n' "$*"; }
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {  # stop_pid NAME: TERM, wait up to 10 s, then KILL
    local file=$DIR/run/$1.pid.ours
    if alive "$file"; then
        local pid
        pid=$(cat "$file")
        log "stopping $1 (pid $pid)"
        kill "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$file"
}

if [[ ! -d $DIR/run ]]; then
    log "no cluster in $DIR"
    exit 0
fi

if alive "$DIR/run/slurmctld.pid.ours"; then
    jobs=$(squeue -h -o '%i' 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        log "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
        for _ in $(seq 100); do [[ -z $(squeue -h -o '%i' 2>/dev/null) ]] && break; sleep 0.2; done
    fi
fi
# job steps of this cluster: slurmstepd processes (re-parented to init) with our SLURM_CONF
our_steps() {
    local pid
    for pid in $(pgrep -x slurmstepd); do
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF" && echo "$pid"
    done
}
for _ in $(seq 100); do
    [[ -z $(our_steps) ]] && break
    sleep 0.2
done
stop_pid slurmd
stop_pid slurmctld
stop_pid munged
log "stopped"
