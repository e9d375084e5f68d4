#!/usr/bin/env bash
# The report test opens the HTML report in Debian's Chromium. Install it when it is missing
# and this user can (CI runs as root); otherwise say how.
set -euo pipefail
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the report test..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "No browser at $browser: run 'sudo apt-get install chromium' (or set CHROMIUM_PATH) for the report test." >&2
fi
