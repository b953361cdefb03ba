#!/usr/bin/env bash
# Starts Azurite's Blob service on 127.0.0.1 over HTTPS with OAuth checks, runs the azurite example
# against it, and stops it again.
#
#   examples/azurite/run.sh build/examples/azid-example-azurite
#
# Needs node 20+, openssl (for a throw-away certificate) and the azurite npm package, looked up in
#   $AZID_AZURITE_DIR (a directory holding node_modules/azurite), else next to this script:
#   npm install --prefix examples/azurite azurite@3.35.0
# Exits 77 (ctest: skipped) when any of them is missing.
set -euo pipefail

example=${1:?usage: run.sh path/to/azid-example-azurite}
here=$(cd "$(dirname "$0")" && pwd)
prefix=${AZID_AZURITE_DIR:-$here}
azurite_js=$prefix/node_modules/azurite/dist/src/blob/main.js

skip() { echo "SKIP: $*"; exit 77; }
command -v node >/dev/null || skip "node is not installed"
# Azurite 3.35.0's dependencies (the @azure/core-* packages npm resolves today) need node 20.
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || skip "node $(node --version) is too old for azurite 3.35.0's dependencies (need 20+)"
command -v openssl >/dev/null || skip "openssl (the command) is not installed"
[[ -f $azurite_js ]] || skip "azurite not found under $prefix (npm install --prefix $prefix azurite@3.35.0)"

work=$(mktemp -d)
azurite_pid=
cleanup() {
  if [[ -n $azurite_pid ]]; then kill "$azurite_pid" 2>/dev/null || true; wait "$azurite_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Bearer tokens are accepted over HTTPS only, so Azurite needs a certificate for 127.0.0.1. A
# self-signed one, made for this run; the example trusts exactly this certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
mkdir "$work/data"

# Port 0: the kernel picks a free port and Azurite prints it. --oauth basic checks the token's
# issuer, audience and lifetime. Telemetry is off: nothing leaves the machine.
node "$azurite_js" --blobHost 127.0.0.1 --blobPort 0 --oauth basic \
  --cert "$work/cert.pem" --key "$work/key.pem" --location "$work/data" \
  --skipApiVersionCheck --disableTelemetry --silent >"$work/azurite.log" 2>&1 &
azurite_pid=$!

url=
for _ in $(seq 1 300); do  # up to 60 s: a cold node start on a busy machine is slow
  url=$(sed -n 's/.*successfully listens on \(https:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/azurite.log")
  [[ -n $url ]] && break
  kill -0 "$azurite_pid" 2>/dev/null || { cat "$work/azurite.log"; echo "azurite exited"; exit 1; }
  sleep 0.2
done
[[ -n $url ]] || { cat "$work/azurite.log"; echo "azurite did not start within 60 s"; exit 1; }
echo "Azurite $(node -p "require('$prefix/node_modules/azurite/package.json').version") blob service on $url"

AZURITE_BLOB_URL=$url/devstoreaccount1 AZURITE_CA_FILE=$work/cert.pem "$example"
