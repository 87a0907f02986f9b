#!/usr/bin/env bash
# make demo: a canary upgrade of Anthos Service Mesh asm-1130-0 -> asm-1140-0
# with the built-in playbook asm-asmcli-canary, on a real local Kubernetes
# control plane, killed with SIGKILL midway on purpose, resumed, approved at
# its gate, finished, audited and checked. Exits non-zero if anything is not
# exactly as it must be; the control plane is stopped however it ends.
#
# usage: demo.sh PATH-TO-CAIRN   (the work dir is .demo/ at the repo root)
set -euo pipefail

cairn=${1:?usage: demo.sh PATH-TO-CAIRN}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
work=$root/.demo
bins=$work/bin
cluster=$work/cluster
meshstate=$work/tools/meshstate
kubecluster=$root/testdata/kubecluster

old_release=1.13.0-asm.0 old_rev=asm-1130-0
new_release=1.14.0-asm.0 new_rev=asm-1140-0
gateway_ns=istio-ingress
apps=(frontend checkout inventory)
kill_in=checkout # cairn is killed once it restarts this namespace's Deployments
gate=ready-to-remove-old

# Colours only on a terminal, so a captured log reads cleanly.
bold='' dim='' red='' green='' off=''
if [[ -t 1 ]]; then
	bold=$'\033[1m' dim=$'\033[2m' red=$'\033[1;31m' green=$'\033[1;32m' off=$'\033[0m'
fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
run() {
	printf '%s$ %s%s\n' "$dim" "${*/#$root\//}" "$off"
	"$@"
}
die() {
	printf '\ndemo: %s\n' "$*" >&2
	exit 1
}

# ---- cleanup: whatever happens, nothing of ours keeps running -------------
cairn_pid='' injector_pid=''
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $cairn_pid ]] && kill -0 "$cairn_pid" 2>/dev/null; then
		kill -TERM "$cairn_pid" 2>/dev/null || true
		wait "$cairn_pid" 2>/dev/null || true
	fi
	if [[ -n $injector_pid ]] && kill -0 "$injector_pid" 2>/dev/null; then
		kill -TERM "$injector_pid" 2>/dev/null || true
		wait "$injector_pid" 2>/dev/null || true
	fi
	if [[ -f $cluster/.cairn-cluster ]]; then
		say "Stopping the control plane"
		# After a failure its logs are kept for a look (the next demo removes them).
		if CAIRN_CLUSTER_KEEP_STATE=$((rc != 0)) "$kubecluster/down.sh" "$cluster"; then
			echo "stopped; nothing of the demo is left running"
		else
			rc=1
		fi
	fi
	if ((rc == 0)); then
		printf '\n%sdemo passed%s\n' "$green" "$off"
	else
		printf '\n%sdemo FAILED (exit %d)%s; journals, control-plane logs and invocation logs are kept in %s\n' "$red" "$rc" "$off" "$work" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# An earlier demo that was itself killed may have left its cluster running.
[[ -f $cluster/.cairn-cluster ]] && "$kubecluster/down.sh" "$cluster"
rm -rf "$work"
mkdir -p "$work/tools"
start=$SECONDS

say "What is real here, and what is a stand-in"
cat <<EOF
  real        cairn ($cairn), built from this tree
  real        Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
              kube-controller-manager, kube-scheduler (v1.37.1, built from Go modules);
              kwok stands in for the kubelets of 2 nodes (pods are scheduled and
              become Ready, but no container runs)
  STAND-IN    asmcli and istioctl (like gcloud, bmctl, install_asm): test doubles
              from testdata/bin (one Go binary, "fakebins"), NOT Google's or Istio's
              tools. They act on the local cluster as the real ones would: asmcli
              install creates istiod-REV, its Service, webhooks and IstioOperator;
              istioctl tag set writes the revision tag's webhook.
  STAND-IN    the sidecar injector: "fakebins injector", a real mutating webhook
              that gives pods the proxyv2 image of their revision, as istiod would
EOF

say "Building the control plane binaries, the test doubles and the demo's state viewer"
echo "The control plane is compiled from Go modules (no Docker, no downloads but the Go"
echo "module proxy) and cached by content hash in ${CAIRN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn}/kubebins."
echo "If it is not cached yet, this is a one-time build of about 8 minutes on 2 cores."
"$kubecluster/build.sh" >/dev/null
"$root/testdata/bin/install.sh" "$bins" asmcli "$old_release" >/dev/null
"$root/testdata/bin/install.sh" "$bins" asmcli "$new_release" >/dev/null
go build -o "$meshstate" ./testdata/demo/meshstate
export PATH=$bins:$PATH
echo "test doubles in ${bins#"$root"/}: $(cd "$bins" && echo *)"

say "Starting the control plane"
"$kubecluster/up.sh" "$cluster" >/dev/null
export KUBECONFIG=$cluster/kubeconfig

"$bins/fakebins" injector --kubeconfig "$KUBECONFIG" --state "$work/injector.json" \
	--name cairn-demo-sidecar-injector --exit-with-parent 2>"$work/injector.log" &
injector_pid=$!
for _ in $(seq 300); do
	[[ -f $work/injector.json ]] && break
	kill -0 "$injector_pid" 2>/dev/null || die "the sidecar injector exited: $(cat "$work/injector.log")"
	sleep 0.1
done
[[ -f $work/injector.json ]] || die "the sidecar injector did not become ready in 30s"
echo "sidecar injector (stand-in) serving the API server's webhook calls"

say "BEFORE: ASM $old_rev installed by its pinned asmcli, gateway and three apps on it"
echo "(set up by cairn itself: testdata/demo/before.yaml, with a journal of its own)"
printf 'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec: {}\n' >"$work/overlay.yaml"
CAIRN_FAKEBINS_LOG=$work/before-calls.log "$cairn" --journal "$work/before.db" --log-level warn \
	run testdata/demo/before.yaml -p asmcli="$bins/asmcli_1130-0" \
	-p outputDir="$work/asmcli-out-$old_rev" -p customOverlay="$work/overlay.yaml" \
	-p oldRev="$old_rev" -p oldVersion="$old_release" >"$work/before.out" 2>&1 ||
	die "setting up the BEFORE state failed: $(cat "$work/before.out")"
run "$meshstate" show "$gateway_ns" "${apps[@]}"

say "The playbook: the built-in asm-asmcli-canary"
echo "(its parameter table left out; the values used are on the command line below)"
run "$cairn" playbooks show asm-asmcli-canary | sed '/^PARAMETERS/,/^$/d'

export CAIRN_JOURNAL=$work/journal.db CAIRN_FAKEBINS_LOG=$work/calls.log
params=(
	-p asmcli="$bins/asmcli_1140-0" -p fleetId=demo-fleet
	-p outputDir="$work/asmcli-out-$new_rev" -p customOverlay="$work/overlay.yaml"
	-p oldRev="$old_rev" -p newRev="$new_rev" -p newVersion="$new_release"
	-p gatewayNamespace="$gateway_ns" -p namespaces="$(
		IFS=,
		echo "${apps[*]}"
	)"
)

say "Run it, and kill -9 it once it restarts the apps in namespace $kill_in"
printf '%s$ %s%s\n' "$dim" "${cairn#"$root"/} --log-format console run asm-asmcli-canary ${params[*]}" "$off"
"$cairn" --log-format console run asm-asmcli-canary "${params[@]}" &
cairn_pid=$!
"$meshstate" wait-restart --pid "$cairn_pid" "$kill_in" >"$work/kill-point" ||
	die "the run did not get to restarting $kill_in"
kill -KILL "$cairn_pid"
rc=0
wait "$cairn_pid" 2>/dev/null || rc=$?
((rc == 137)) || die "cairn exited with $rc before it could be killed"
printf '\n%s*** kill -9 %s: %s%s\n' "$red" "$cairn_pid" "$(cat "$work/kill-point")" "$off"
cairn_pid=''
echo "SIGKILL gives cairn no chance to tidy up: no event is written, its cluster lock (Lease) stays held"
id=$("$cairn" runs -q --limit 1)

say "The cluster, half upgraded"
run "$meshstate" show "$gateway_ns" "${apps[@]}"

say "What resume will do: skip what is journaled as done, re-check what was in flight"
run "$cairn" resume --plan "$id"

say "The machine that ran it is gone, and its journal with it"
mv "$CAIRN_JOURNAL" "$work/journal-of-the-lost-machine.db"
echo "(moved aside to $work/journal-of-the-lost-machine.db, for the checks at the end)"
echo "The run is also in the cluster: its journal mirror, ConfigMaps in kube-system"
run "$cairn" runs --cluster

say "Another operator resumes it from the cluster, with a journal of their own"
echo "The killed cairn's lease goes stale 65s after its last renewal; --wait-lock waits for that"
export CAIRN_JOURNAL=$work/journal-2.db
run "$cairn" --log-format console resume --from-cluster "$id" --wait-lock

say "Approve the gate, then resume to the end (removes $old_rev)"
run "$cairn" approve "$id" "$gate" --comment "frontend, checkout and inventory healthy on $new_rev for 15 minutes"
run "$cairn" --log-format console resume "$id"

say "The audit record"
run "$cairn" show "$id"
run "$cairn" runs
run "$cairn" journal verify "$id"
run "$cairn" journal verify --cluster "$id"

say "AFTER"
run "$meshstate" show "$gateway_ns" "${apps[@]}"

say "Checks: every effect exactly once, the run and the cluster as they must be"
echo "every call cairn made to a test double (${CAIRN_FAKEBINS_LOG#"$root"/}):"
"$meshstate" calls --log "$CAIRN_FAKEBINS_LOG" --once asmcli:install
"$cairn" journal export "$id" | "$meshstate" journal
"$meshstate" verify --old-rev "$old_rev" --new-rev "$new_rev" --version "$new_release" "$gateway_ns" "${apps[@]}"

say "The audit report: one HTML file, for a reviewer"
report=$("$cairn" report "$id" -o "$work/cairn-report-$id.html") || die "cairn report failed"

say "All checks passed ($((SECONDS - start))s)"
echo "journal: $CAIRN_JOURNAL"
echo "  try: $cairn --journal $CAIRN_JOURNAL show $id --events"
echo "audit report: $report"
