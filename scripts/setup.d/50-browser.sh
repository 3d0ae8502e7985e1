#!/usr/bin/env bash
# Debian's chromium (and a font) for the app's browser test, which drives it through Playwright's
# Python package with executable_path=/usr/bin/chromium. Playwright's own browser download
# (`playwright install`) is never used. Idempotent: a second run only checks dpkg.
set -euo pipefail

PACKAGES=(chromium fonts-dejavu-core)

log() { printf '[setup browser] %s\n' "$*"; }

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    log "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
fi
