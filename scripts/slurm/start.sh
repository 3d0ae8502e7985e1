#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine (munge included), as root, without systemd.
# Everything lives in a private directory: configuration, munge key and socket, state, spool, pid
# files and logs; /etc/slurm and /etc/munge are not touched. Idempotent: a running cluster is left
# as it is. Point Slurm's commands at it with
#     export SLURM_CONF=$MLIP_AUTOPIPE_SLURM_DIR/slurm.conf
#
# Environment: MLIP_AUTOPIPE_SLURM_DIR (default $MLIP_AUTOPIPE_CACHE/slurm), SLURMCTLD_PORT (6817),
# SLURMD_PORT (6818). Stop with scripts/slurm/stop.sh and the same MLIP_AUTOPIPE_SLURM_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../src/aiida_mlip_autopipe/installers/debian.sh"

CACHE=${MLIP_AUTOPIPE_CACHE:-$HOME/.cache/mlip-autopipe}
DIR=${MLIP_AUTOPIPE_SLURM_DIR:-$CACHE/slurm}
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
PACKAGES=(slurmctld slurmd slurm-client munge)

log() { printf '[slurm] %s\n' "$*"; }
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ((EUID != 0)); then
    echo 'scripts/slurm/start.sh runs the daemons as root (SlurmUser=root); run it as root' >&2
    exit 1
fi

# 1. Debian packages, only when missing
ensure_debian_packages "${PACKAGES[@]}"

# 2. Private directory: munged refuses a socket directory writable by others (755 is what works)
mkdir -p "$DIR"/{munge,state,spool,log,run}
chmod 755 "$DIR" "$DIR/munge"
chmod 700 "$DIR/state" "$DIR/spool"
if [[ ! -s $DIR/munge/munge.key ]]; then
    log "generating a munge key"
    (umask 077 && head -c 1024 /dev/urandom >"$DIR/munge/munge.key")
fi
chmod 400 "$DIR/munge/munge.key"

node=$(hostname -s)
# the node's hardware as slurmd sees it (a mismatch would drain the node)
hardware=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//')
cat >"$DIR/slurm.conf.new" <<CONF
# written by scripts/slurm/start.sh: a one-node cluster for mlip-autopipe
ClusterName=mlipautopipe
SlurmctldHost=$node
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdTimeout=60
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
mv "$DIR/slurm.conf.new" "$DIR/slurm.conf"
export SLURM_CONF=$DIR/slurm.conf

# 3. Daemons, each in the background with its pid recorded
if ! alive "$DIR/run/munged.pid.ours"; then
    log "starting munged"
    munged --foreground --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" \
        </dev/null >>"$DIR/log/munged.out" 2>&1 &
    echo $! >"$DIR/run/munged.pid.ours"
    for _ in $(seq 50); do [[ -S $DIR/munge/munge.socket ]] && break; sleep 0.1; done
fi
if ! alive "$DIR/run/slurmctld.pid.ours"; then
    log "starting slurmctld (port $CTLD_PORT)"
    slurmctld -D -i </dev/null >>"$DIR/log/slurmctld.out" 2>&1 &
    echo $! >"$DIR/run/slurmctld.pid.ours"
fi
if ! alive "$DIR/run/slurmd.pid.ours"; then
    log "starting slurmd (port $SLURMD_PORT)"
    slurmd -D </dev/null >>"$DIR/log/slurmd.out" 2>&1 &
    echo $! >"$DIR/run/slurmd.pid.ours"
fi

# 4. Wait for an idle node
state=''
for _ in $(seq 120); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
    [[ $state == idle || $state == mixed || $state == allocated ]] && break
    sleep 0.25
done
if [[ $state != idle && $state != mixed && $state != allocated ]]; then
    echo "[slurm] the node did not become idle (state: '${state:-no answer}'); logs in $DIR/log" >&2
    exit 1
fi
log "node $node is $state; export SLURM_CONF=$DIR/slurm.conf"
