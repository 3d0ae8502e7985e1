#!/usr/bin/env bash
# The surrogate's own environment: CHGNet (pretrained weights shipped inside the package) beside a
# CPU build of torch, in $MLIP_AUTOPIPE_CACHE/surrogate-chgnet-<version>. torch stays out of the
# plugin's and the daemon's environment, as a code module would on a cluster.
# Idempotent: a stamp records a completed install and an offline load of the model; a second run
# takes well under a second.
set -euo pipefail

CACHE=${MLIP_AUTOPIPE_CACHE:-$HOME/.cache/mlip-autopipe}
PYTHON=${PYTHON:-python3}
CHGNET_VERSION=${CHGNET_VERSION:-0.4.2}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
PREFIX="$CACHE/surrogate-chgnet-$CHGNET_VERSION"
STAMP="$PREFIX/.installed-torch-$TORCH_VERSION"

log() { printf '[setup surrogate] %s\n' "$*"; }

if [[ -f $STAMP && -x $PREFIX/bin/python ]]; then
    log "CHGNet $CHGNET_VERSION present in $PREFIX"
    exit 0
fi

mkdir -p "$CACHE"
if [[ ! -x $PREFIX/bin/python ]]; then
    log "creating $PREFIX"
    "$PYTHON" -m venv "$PREFIX"
fi
log "installing torch $TORCH_VERSION (CPU build) and chgnet $CHGNET_VERSION"
"$PREFIX/bin/pip" install -q --upgrade pip
# torch first and pinned: an unpinned torch resolves to a build that pulls several GB of CUDA
"$PREFIX/bin/pip" install -q "torch==$TORCH_VERSION"
"$PREFIX/bin/pip" install -q "torch==$TORCH_VERSION" "chgnet==$CHGNET_VERSION"

log "checking that the pretrained model loads and predicts offline"
HF_HUB_OFFLINE=1 "$PREFIX/bin/python" - <<'PY'
import socket

def _no_network(*args, **kwargs):
    raise OSError('network access attempted while loading the surrogate')

socket.socket.connect = _no_network  # nothing may download at run time
from chgnet.model import CHGNet
from pymatgen.core import Lattice, Structure

model = CHGNet.load(verbose=False)
structure = Structure(Lattice.cubic(3.6), ['Cu'] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
prediction = model.predict_structure(structure)
assert abs(float(prediction['e']) + 4.0) < 1.0, prediction['e']  # about -4.1 eV/atom for fcc Cu
print(f"CHGNet {model.version}: fcc Cu {float(prediction['e']):.3f} eV/atom")
PY
touch "$STAMP"
log "done: $PREFIX"
