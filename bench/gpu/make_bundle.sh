#!/usr/bin/env bash
# Makes gpu-bundle/: the libraries the GPU-only build needs that a GPU machine may lack, copied
# from this Debian machine's packages (nlohmann-json3-dev, libssl-dev, libutf8proc-dev) as one
# CMake prefix for bench/gpu/run.sh:
#   include/{nlohmann/,openssl/,utf8proc.h}  lib/{libcrypto.a,libutf8proc.a}
#   share/cmake/nlohmann_json/               VERSIONS (the packages' versions)
# Static libraries, so nothing of them is needed at run time. gpu-bundle/ is ignored by git; carry
# it to the GPU machine with the working tree. Usage: bench/gpu/make_bundle.sh [DEST]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-$ROOT/gpu-bundle}"
ARCH="$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"
SOURCES=(/usr/include/nlohmann /usr/share/cmake/nlohmann_json /usr/include/openssl "/usr/include/$ARCH/openssl"
  /usr/include/utf8proc.h "/usr/lib/$ARCH/libcrypto.a" "/usr/lib/$ARCH/libutf8proc.a")
for s in "${SOURCES[@]}"; do
  [[ -e $s ]] || { echo "make_bundle: $s is missing (run cluster/setup.sh)" >&2; exit 1; }
done

TMP="$DEST.tmp.$$"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/include" "$TMP/lib" "$TMP/share/cmake"
cp -r /usr/include/nlohmann /usr/include/openssl /usr/include/utf8proc.h "$TMP/include/"
cp "/usr/include/$ARCH/openssl/"* "$TMP/include/openssl/"  # opensslconf.h, configuration.h
cp -r /usr/share/cmake/nlohmann_json "$TMP/share/cmake/"
cp "/usr/lib/$ARCH/libcrypto.a" "/usr/lib/$ARCH/libutf8proc.a" "$TMP/lib/"
dpkg-query -W nlohmann-json3-dev libssl-dev libutf8proc-dev > "$TMP/VERSIONS"
rm -rf "$DEST"
mv "$TMP" "$DEST"
echo "make_bundle: $DEST ($(du -sh "$DEST" | cut -f1)): $(tr '\n' ' ' < "$DEST/VERSIONS")"
