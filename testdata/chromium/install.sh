#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the report's headless
# browser test (cmd/cairn/report_browser_test.go) and prints its path as the
# last line of stdout. Nothing to do when it is already there; otherwise it
# installs the chromium package with apt-get (needs root, or sudo without a
# password). The test itself fails, and says why, if chromium is missing.
set -euo pipefail

bin=${CAIRN_CHROMIUM:-/usr/bin/chromium}
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "chromium: $bin is missing and installing it needs root (apt-get install chromium)" >&2
		exit 1
	fi
	sudo=(sudo -n)
fi

echo "chromium: installing Debian's chromium with apt-get (once; about a minute)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2; then
	"${sudo[@]}" apt-get update -qq >&2
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
fi
if [ ! -x "$bin" ]; then
	echo "chromium: apt-get installed chromium, but $bin is not there" >&2
	exit 1
fi
echo "$bin"
