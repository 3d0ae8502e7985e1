# shellcheck shell=bash
# Source this file. ensure_debian_packages PACKAGE...: install, with apt-get, only those that are
# missing (nothing is fetched when all are there, so a second run takes milliseconds).
ensure_debian_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    printf '[setup] installing Debian packages: %s\n' "${missing[*]}"
    apt-get update -qq
    # fd 9 may hold a caller's lock: do not hand it to apt's maintainer scripts
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 9>&-
}
