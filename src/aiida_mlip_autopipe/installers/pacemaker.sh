#!/usr/bin/env bash
# pacemaker (ACE fitting: pacemaker, pace_yaml2yace, pace_activeset) in its own virtual environment
# under $MLIP_AUTOPIPE_CACHE, keyed by a hash of the pins. Its own environment because numpy 2.4
# (which aiida-core's environment picks) breaks pacemaker's fit metrics, and TensorFlow stays out
# of the plugin's environment. Idempotent: a stamp file marks a complete install (seconds the
# second time). Run by `mlip-autopipe install-codes`; `mlip-autopipe setup` registers the code
# `pacemaker` from CODES in setup.py.
set -euo pipefail

CACHE=${MLIP_AUTOPIPE_CACHE:-$HOME/.cache/mlip-autopipe}
PYTHON=${PACEMAKER_PYTHON:-python3}
# The measured pins (DESIGN.md): a plain `pip install python-ace tensorpotential` pulls 3.4 GB of CUDA.
PINS=('tensorflow-cpu==2.20.0' 'numpy<2.4' 'pandas<3' 'python-ace==0.4.0rc1')
NODEPS_PINS=('tf_keras==2.20.1' 'tensorpotential==0.6.2.1')
# tensorpotential's own requirements except TensorFlow (its `tensorflow[and-cuda]` is what pulls CUDA)
TP_DEPS=('pyyaml>=6.0.2' 'scipy' 'matscipy' 'sympy' 'tqdm' 'requests' 'questionary>=2.0' 'rich>=13.0' 'scikit-learn>=1.1')
# The folder is named by the pinned versions; CODES in src/aiida_mlip_autopipe/setup.py names the
# same folder: change both together.
VERSION=pyace0.4.0rc1-tp0.6.2.1-tf2.20.0
PREFIX="$CACHE/pacemaker-$VERSION"
STAMP="$PREFIX/.installed"

log() { printf '[setup:pacemaker] %s\n' "$*"; }

if [[ -f $STAMP ]]; then
    log "present in $PREFIX"
    exit 0
fi

log "installing pacemaker into $PREFIX (about 415 MB, a few minutes)"
mkdir -p "$CACHE"
# an interrupted install is resumed: pip skips what is already there
[[ -x $PREFIX/bin/python ]] || "$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/pip" install -q --upgrade pip
"$PREFIX/bin/pip" install -q "${PINS[@]}" "${TP_DEPS[@]}"
"$PREFIX/bin/pip" install -q --no-deps "${NODEPS_PINS[@]}"
for exe in pacemaker pace_yaml2yace pace_activeset; do
    [[ -x $PREFIX/bin/$exe ]] || { log "ERROR: $exe missing after install"; exit 1; }
done
"$PREFIX/bin/python" -c 'import pyace, tensorpotential, tensorflow' >/dev/null 2>&1 \
    || { log 'ERROR: pyace/tensorpotential/tensorflow do not import'; exit 1; }
touch "$STAMP"
log "installed in $PREFIX"
