#!/usr/bin/env bash
# Debian packages the tests drive for real: Chromium (the report test opens the HTML report),
# haproxy (a real balancer in front of two API processes),
# redis-server (the distributed tests run a pool on it) and prometheus (its promtool checks the
# metrics a scrape returns). Installed when missing and this user can (CI runs as root);
# otherwise the script says how.
set -euo pipefail
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
missing=()
[ -x "$browser" ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v promtool >/dev/null || missing+=(prometheus)
command -v haproxy >/dev/null || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's ${missing[*]} for the tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian's packages start a system Redis on 6379 and a Prometheus on 9090 where a service
  # manager runs; the tests start their own Redis on free ports and use only promtool.
else
  echo "Missing ${missing[*]}: run 'sudo apt-get install ${missing[*]}' (or set CHROMIUM_PATH) for the tests." >&2
fi
