#!/usr/bin/env bash
# make demo: a run of the built-in demo playbook, killed with SIGKILL midway
# on purpose, resumed, approved at its gate, finished, shown and verified.
set -euo pipefail
cairn=${1:?usage: demo.sh PATH-TO-CAIRN}
root=$(cd "$(dirname "$0")/../.." && pwd)
work="$root/.demo"
rm -rf "$work" && mkdir -p "$work"
export CAIRN_JOURNAL="$work/journal.db"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "The playbook (a rehearsal on files; no cluster needed)"
run "$cairn" playbooks show demo

say "Start the run, and kill -9 it while the canary namespace is being moved"
"$cairn" --log-format console run demo -p workdir="$work" -p pace=1s &
pid=$!
for _ in $(seq 1 100); do
	grep -q '^install ' "$work/effects.log" 2>/dev/null && break
	sleep 0.1
done
sleep 0.4
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
echo "killed pid $pid; effects so far:"
cat "$work/effects.log"
id=$("$cairn" runs -q --limit 1)

say "What resume will do"
run "$cairn" resume --plan "$id"

say "Resume: the install is not repeated; the canary step is re-checked"
run "$cairn" --log-format console resume "$id"

say "Approve the gate, then resume to the end"
run "$cairn" approve "$id" canary-ok --comment "canary served 15 minutes without errors"
run "$cairn" --log-format console resume "$id"

say "The audit record"
run "$cairn" show "$id"
run "$cairn" runs
run "$cairn" journal verify "$id"

say "Every effect, exactly once"
cat "$work/effects.log"
if [ -n "$(sort "$work/effects.log" | uniq -d)" ]; then
	echo "demo: an effect happened twice" >&2
	exit 1
fi
echo
echo "journal: $CAIRN_JOURNAL (try: CAIRN_JOURNAL=$CAIRN_JOURNAL $cairn show $id --events)"
