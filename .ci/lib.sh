# Shared helpers for Galaxy's scripts: installs what is missing, idempotently. Sourced, not run.
# Every tool comes from a package registry (crates.io, npm, Debian) at a pinned version.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_BINDGEN_VERSION="0.2.130"   # must equal wasm-bindgen in Cargo.lock (pinned with = in Cargo.toml)
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_wasm_bindgen() {
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

# galaxy-wasm-split (.ci/wasm-split, over the pinned wasm_split_cli_support): splits the bundle
# at its lazy routes. Reinstalled whenever its sources change (a stamp of their hash beside it).
ensure_wasm_split() {
  local stamp="$HOME/.cargo/galaxy-wasm-split.stamp" sum
  sum="$(cat "$ROOT"/.ci/wasm-split/Cargo.toml "$ROOT"/.ci/wasm-split/Cargo.lock "$ROOT"/.ci/wasm-split/src/*.rs | sha256sum | cut -d' ' -f1)"
  if ! command -v galaxy-wasm-split >/dev/null || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    log "installing galaxy-wasm-split (a minute or two, once)"
    cargo install --path "$ROOT/.ci/wasm-split" --locked --force
    echo "$sum" > "$stamp"
  fi
}

ensure_node_tools() {
  if ! command -v npm >/dev/null; then
    log "installing Node.js and npm"
    apt_install nodejs npm
  fi
  if [ ! -x "$ROOT/node_modules/.bin/wasm-opt" ] || [ ! -d "$ROOT/node_modules/@playwright/test" ] \
     || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    log "installing pinned npm tools (binaryen, Playwright)"
    (cd "$ROOT" && npm ci --no-audit --no-fund)
  fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Chromium from Debian"
    apt_install chromium
  fi
}

# The official Python OpenAI SDK, pinned in end2end/requirements.txt, in a virtualenv outside the
# clone (PyPI only); the e2e suite drives Galaxy's /v1 with it.
PY_VENV="${GALAXY_PY_VENV:-$HOME/.cache/galaxy-py}"
ensure_python_sdk() {
  if ! "$PY_VENV/bin/python" -c 'import openai' 2>/dev/null \
     || [ "$ROOT/end2end/requirements.txt" -nt "$PY_VENV/.installed" ]; then
    log "installing the pinned Python OpenAI SDK"
    python3 -m venv "$PY_VENV" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$PY_VENV"; }
    "$PY_VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/end2end/requirements.txt"
    touch "$PY_VENV/.installed"
  fi
}

ensure_postgres() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
}

ensure_redis() {
  if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
  fi
}

# Builds the browser bundle into target/site: WASM (size-optimised profile, linked with
# --emit-relocs, see .cargo/config.toml) → galaxy-wasm-split (the main module plus one chunk per
# lazy route and chunks of shared code, a loader and a manifest) → wasm-bindgen on the
# main module → wasm-opt -Oz on every module (.ci/wasm-opt.mjs, one process for all), plus the CSS and the public files; then
# .ci/finish-site.mjs names them by content hash and pre-compresses them.
build_site() {
  ensure_wasm_target
  ensure_wasm_bindgen
  ensure_wasm_split
  ensure_node_tools
  local target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
  local site="$ROOT/target/site"
  log "building the WASM bundle"
  (cd "$ROOT" && cargo build -p galaxy-app --lib --target wasm32-unknown-unknown \
      --profile wasm-release --no-default-features --features hydrate)
  rm -rf "$site.tmp" && mkdir -p "$site.tmp/pkg" "$site.tmp/split"
  galaxy-wasm-split "$target_dir/wasm32-unknown-unknown/wasm-release/galaxy_app.wasm" \
    "$site.tmp/pkg" "$site.tmp/split/galaxy.wasm"
  wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle \
    --out-dir "$site.tmp/pkg" --out-name galaxy "$site.tmp/split/galaxy.wasm"
  rm -rf "$site.tmp/split"
  node "$ROOT/.ci/wasm-opt.mjs" "$site.tmp"/pkg/*.wasm
  cp "$ROOT/style/main.css" "$site.tmp/pkg/galaxy.css"
  cp -r "$ROOT/public/." "$site.tmp/"
  # Content-hashed names, hash.txt, the service worker's build id, brotli and gzip copies.
  node "$ROOT/.ci/finish-site.mjs" "$site.tmp"
  rm -rf "$site" && mv "$site.tmp" "$site"
  log "site built: $(du -k "$site"/pkg/galaxy.*.wasm | head -1 | cut -f1) KiB of WASM in $site"
}
