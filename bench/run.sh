#!/usr/bin/env bash
# make bench: journal, resume/audit and rollout benchmarks of cairn.
# Starts its own local control plane (testdata/kubecluster) in bench/out/cluster
# and always stops it. Results: bench/out/results.md and bench/out/results.json.
#
#   BENCH_N=50 BENCH_ANSIBLE_N=10 BENCH_ONLY=journal,resume,rollout,mirror bench/run.sh
set -u
cd "$(dirname "$0")/.."
root=$PWD
out=$root/bench/out
dir=$out/cluster
mkdir -p "$out"
: "${GO:=go}" "${CAIRN_BIN:=}" "${BENCH_N:=50}" "${BENCH_ANSIBLE_N:=10}" "${BENCH_ONLY:=journal,resume,rollout,mirror}"

# Tools: kubectl (Debian package kubectl) and Ansible with kubernetes.core
# (ansible, python3-kubernetes). Installed with apt-get when missing and
# possible; a contender whose tool is missing is reported as skipped.
apt_missing=""
command -v kubectl >/dev/null || apt_missing="$apt_missing kubectl"
if [ "$BENCH_ANSIBLE_N" -gt 0 ]; then
	command -v ansible-playbook >/dev/null || apt_missing="$apt_missing ansible"
	/usr/bin/python3 -c 'import kubernetes' 2>/dev/null || apt_missing="$apt_missing python3-kubernetes"
fi
if [ -n "$apt_missing" ]; then
	echo "bench: installing$apt_missing" >&2
	if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo -n"; fi
	$sudo apt-get install -y $apt_missing >"$out/apt.log" 2>&1 || echo "bench: apt-get install failed (see $out/apt.log); those contenders will be skipped" >&2
fi

if [ -z "$CAIRN_BIN" ]; then # make bench builds it with the version stamped
	CAIRN_BIN=$root/bin/cairn
	"$GO" build -trimpath -o "$CAIRN_BIN" ./cmd/cairn || exit 1
fi
"$GO" build -o "$out/cairnbench" ./bench/cmd/cairnbench || exit 1

kubeconfig=""
case ",$BENCH_ONLY," in
*,rollout,*|*,mirror,*)
	scripts=$root/testdata/kubecluster
	"$scripts/down.sh" "$dir" >/dev/null 2>&1
	if "$scripts/up.sh" "$dir" >"$out/cluster-up.log" 2>&1; then
		kubeconfig=$dir/kubeconfig
	else
		echo "bench: local control plane did not start (see $out/cluster-up.log); rollout section skipped" >&2
	fi
	trap '"$scripts/down.sh" "$dir"; exit 130' INT TERM
	;;
esac

"$out/cairnbench" -out "$out" -cairn "$CAIRN_BIN" -kubeconfig "$kubeconfig" -n "$BENCH_N" -ansible-n "$BENCH_ANSIBLE_N" -only "$BENCH_ONLY"
rc=$?
if [ -n "$kubeconfig" ] || [ -d "$dir" ]; then
	"$root/testdata/kubecluster/down.sh" "$dir" || true
fi
echo "bench: results in bench/out/results.md and bench/out/results.json" >&2
exit $rc
