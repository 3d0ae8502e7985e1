#!/usr/bin/env bash
# Idempotent set-up on Debian 12 as root: Debian packages, the .venv, the AiiDA profile on the
# embedded default (SQLite + ZeroMQ broker), the computer, the codes and the pseudo family.
# A second run checks each step and skips it: it takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
source src/aiida_mlip_autopipe/installers/debian.sh

PROFILE=${PROFILE:-mlip-autopipe}
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
DEBIAN_PACKAGES=(quantum-espresso quantum-espresso-data openmpi-bin)

log() { printf '[setup] %s\n' "$*"; }

# 1. Debian packages
ensure_debian_packages "${DEBIAN_PACKAGES[@]}"
log "Debian packages ready: ${DEBIAN_PACKAGES[*]}"

# 2. Virtual environment with the plugin (re-installed when pyproject.toml changes)
if [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f $stamp ]]; then
    log "installing the plugin and its dependencies into $VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e '.[dev,docs,gui]'
    rm -f "$VENV"/.installed-*
    touch "$stamp"
else
    log "$VENV up to date"
fi
# entry points of a source checkout change without pyproject.toml changing only through reinstall
VERDI="$VENV/bin/verdi"

# 3. AiiDA profile on the embedded default
if "$VERDI" profile show "$PROFILE" >/dev/null 2>&1; then
    log "profile $PROFILE present"
else
    log "creating profile $PROFILE (SQLite storage, ZeroMQ broker)"
    "$VERDI" presto --profile-name "$PROFILE" --use-zeromq
    "$VERDI" -p "$PROFILE" config set daemon.timeout 30
    "$VERDI" -p "$PROFILE" config set caching.enabled_for aiida.calculations:quantumespresso.pw
fi

# 4. The codes' own environments and builds (pacemaker, LAMMPS with ML-PACE, surrogate), each
#    idempotent and cached outside the clone in $MLIP_AUTOPIPE_CACHE: the installed command runs the
#    scripts shipped in the package (src/aiida_mlip_autopipe/installers); then what only the
#    repository's tests need (scripts/setup.d: the browser)
export MLIP_AUTOPIPE_CACHE=${MLIP_AUTOPIPE_CACHE:-$HOME/.cache/mlip-autopipe}
"$VENV/bin/mlip-autopipe" install-codes
for script in scripts/setup.d/*.sh; do
    [[ -e $script ]] || continue
    log "running $script"
    bash "$script"
done

# 5. Computer, codes and pseudo family
"$VENV/bin/mlip-autopipe" -p "$PROFILE" setup
