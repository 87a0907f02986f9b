#!/usr/bin/env bash
# Stops the control plane started by up.sh, by the PIDs it recorded, and
# removes its state directory. Safe to run twice or with nothing running.
#
# usage: down.sh [STATE_DIR]   (default: $CAIRN_CLUSTER_DIR or $PWD/.cluster)
# CAIRN_CLUSTER_KEEP_STATE=1 keeps the directory (up.sh uses it to keep logs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
state=${1:-${CAIRN_CLUSTER_DIR:-$PWD/.cluster}}
[[ -d $state ]] || exit 0
if [[ ! -f $state/.cairn-cluster ]]; then
	echo "down.sh: $state is not a cairn cluster directory; not touching it" >&2
	exit 1
fi

alive() { # names...
	local c out=()
	for c in "$@"; do
		running "$state" "$c" && out+=("$c")
	done
	echo "${out[*]}"
}

# stop NAMES...: SIGTERM, up to 15s grace, then SIGKILL.
stop() {
	local c left
	for c in "$@"; do
		running "$state" "$c" && { kill -TERM "$(<"$state/pids/$c.pid")" 2>/dev/null || true; }
	done
	for _ in $(seq 75); do
		[[ -z $(alive "$@") ]] && return 0
		sleep 0.2
	done
	left=$(alive "$@")
	echo "down.sh: still running 15s after SIGTERM, sending SIGKILL: $left" >&2
	for c in $left; do
		kill -KILL "$(<"$state/pids/$c.pid")" 2>/dev/null || true
	done
	for _ in $(seq 25); do
		[[ -z $(alive "$@") ]] && return 0
		sleep 0.2
	done
}

# In dependency order: with etcd gone first, the apiserver's graceful
# shutdown waits on storage calls that can no longer finish.
stop kwok kube-scheduler kube-controller-manager clusternet
stop kube-apiserver
stop etcd
left=$(alive kwok kube-scheduler kube-controller-manager clusternet kube-apiserver etcd)
if [[ -n $left ]]; then
	echo "down.sh: could not stop: $left (state kept in $state)" >&2
	exit 1
fi

if [[ ${CAIRN_CLUSTER_KEEP_STATE:-} == 1 ]]; then
	rm -f "$state"/pids/*.pid
else
	rm -rf "$state"
fi
