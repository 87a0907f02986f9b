# shellcheck shell=bash
# Shared by up.sh and down.sh; sourced, not executed.

# running STATE_DIR NAME: true if the PID in STATE_DIR/pids/NAME.pid is a live
# (non-zombie) process whose executable is NAME. Checking the name guards
# against a recycled PID, so down.sh never signals a stranger's process.
running() {
	local f=$1/pids/$2.pid pid exe
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	exe=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | head -n 1) || return 1
	[[ ${exe##*/} == "$2" ]] || return 1
	# Orphans may not be reaped promptly when PID 1 is not a real init.
	! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}
