#!/usr/bin/env bash
# Debian's chromium (and a font) for the app's browser test, which drives it through Playwright's
# Python package with executable_path=/usr/bin/chromium. Playwright's own browser download
# (`playwright install`) is never used. Idempotent: a second run only checks dpkg.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../src/aiida_mlip_autopipe/installers/debian.sh"

PACKAGES=(chromium fonts-dejavu-core)

log() { printf '[setup browser] %s\n' "$*"; }

ensure_debian_packages "${PACKAGES[@]}"
log "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
