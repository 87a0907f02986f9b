#!/usr/bin/env bash
# Starts a real, local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) with kwok standing in for kubelets,
# so integration tests exercise genuine controllers without Docker. The API
# server's traffic into the cluster (Service-referenced webhooks) goes through
# clusternet (cmd/clusternet), which never dials a non-loopback address.
#
# usage: up.sh [STATE_DIR]   (default: $CAIRN_CLUSTER_DIR or $PWD/.cluster)
# Prints "export KUBECONFIG=STATE_DIR/kubeconfig" on success.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=${1:-${CAIRN_CLUSTER_DIR:-$PWD/.cluster}}
mkdir -p "$state"
state=$(cd "$state" && pwd)
timeout_s=${CAIRN_CLUSTER_TIMEOUT:-120}
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok clusternet)

die() {
	echo "up.sh: $*" >&2
	exit 1
}

# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
for c in "${components[@]}"; do
	if running "$state" "$c"; then
		die "a cluster is already running in $state (stop it with $here/down.sh $state)"
	fi
done
# The marker lets down.sh and this script delete the directory without ever
# deleting something a user pointed us at by mistake.
if [[ -n $(ls -A "$state") && ! -f $state/.cairn-cluster ]]; then
	die "$state is not empty and is not a cairn cluster directory; refusing to use it"
fi
find "$state" -mindepth 1 -delete
mkdir -p "$state"/{pki,logs,pids,args,etcd}
touch "$state/.cairn-cluster"

bin_dir=$("$here/build.sh" | tail -n 1)
[[ -x $bin_dir/kube-apiserver ]] || die "build.sh did not print a usable bin dir (got '$bin_dir')"

start=$SECONDS

# --- PKI -------------------------------------------------------------------
pki=$state/pki
(
	cd "$pki"
	ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 3650 -subj /CN=cairn-test-ca 2>/dev/null
	sign() { # name subject extensions
		openssl req "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
		printf '%s\n' "$3" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
			-days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
	}
	# 10.0.0.1 is the kubernetes Service ClusterIP, which in-cluster clients
	# (and the apiserver's own loopback checks) may dial.
	sign apiserver /CN=kube-apiserver "$(printf '%s\n' \
		'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local' \
		'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature,keyEncipherment')"
	sign admin '/O=system:masters/CN=cairn-admin' "$(printf '%s\n' \
		'extendedKeyUsage=clientAuth' 'keyUsage=critical,digitalSignature,keyEncipherment')"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
	openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
) || die "generating certificates with openssl failed"

# --- ports -----------------------------------------------------------------
# Random ports below the ephemeral range, skipping any port that appears in
# /proc/net/tcp*, so parallel clusters and other services do not collide.
ports=()
pick_ports() { # count
	local p
	while ((${#ports[@]} < $1)); do
		p=$((20000 + RANDOM % 12000))
		[[ " ${ports[*]} " == *" $p "* ]] && continue
		grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null && continue
		ports+=("$p")
	done
}
pick_ports 4
etcd_port=${ports[0]} etcd_peer_port=${ports[1]} api_port=${ports[2]} kwok_port=${ports[3]}
etcd_url=http://127.0.0.1:$etcd_port
api_url=https://127.0.0.1:$api_port
# The cluster network's abstract unix sockets (no file, no path-length limit):
# NETWORK/egress is clusternet, NETWORK/pods/IP:PORT whoever plays that pod.
network=@cairn-net-$(printf '%s' "$state" | sha256sum | cut -c1-16)
printf '%s\n' "$network" >"$state/network"
cat >"$state/egress-selector.yaml" <<EOF
apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: "$network/egress"
EOF

# --- kubeconfig ------------------------------------------------------------
b64() { base64 -w0 <"$1"; }
cat >"$state/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cairn
  cluster:
    server: $api_url
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: cairn-admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: cairn
  context:
    cluster: cairn
    user: cairn-admin
current-context: cairn
EOF
kubeconfig=$state/kubeconfig

# --- processes -------------------------------------------------------------
# Each command line is also written to args/NAME.args, one argument per line,
# so that kubetest can restart a component exactly as it was started.
launch() { # name args...
	local name=$1
	shift
	printf '%s\n' "$bin_dir/$name" "$@" >"$state/args/$name.args"
	"$bin_dir/$name" "$@" >>"$state/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$state/pids/$name.pid"
}

fail() {
	local c
	echo "up.sh: $*" >&2
	for c in "${components[@]}"; do
		[[ -s $state/logs/$c.log ]] || continue
		echo "---- last lines of $state/logs/$c.log ----" >&2
		tail -n 12 "$state/logs/$c.log" | cut -c1-400 >&2
	done
	CAIRN_CLUSTER_KEEP_STATE=1 "$here/down.sh" "$state" >&2 || true
	echo "up.sh: processes stopped; logs kept in $state/logs" >&2
	exit 1
}
trap 'fail "interrupted"' INT TERM

check_alive() {
	local c
	for c in "${components[@]}"; do
		[[ -f $state/pids/$c.pid ]] || continue
		running "$state" "$c" || fail "$c exited during startup"
	done
}

# wait_for DESCRIPTION COMMAND...: polls until COMMAND succeeds, a component
# dies, or the overall startup deadline passes.
wait_for() {
	local what=$1
	shift
	until "$@" >/dev/null 2>&1; do
		check_alive
		((SECONDS - start < timeout_s)) || fail "timed out after ${timeout_s}s waiting for $what"
		sleep 0.2
	done
}

api() { # method path [curl args...]
	local method=$1 path=$2
	shift 2
	curl -sS --fail --max-time 5 -A cairn-up --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
		-X "$method" "$api_url$path" "$@"
}

# --unsafe-no-fsync: test data is disposable, and fsync dominates etcd latency.
launch etcd --name=cairn --data-dir="$state/etcd" \
	--listen-client-urls="$etcd_url" --advertise-client-urls="$etcd_url" \
	--listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
	--initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
	--initial-cluster="cairn=http://127.0.0.1:$etcd_peer_port" \
	--unsafe-no-fsync --log-level=warn
wait_for "etcd health at $etcd_url" sh -c "curl -sf --max-time 2 '$etcd_url/health' | grep -q true"

# With the advertise address on loopback the default lease reconciler would
# try to publish 127.0.0.1 as the kubernetes Service endpoint, which endpoint
# validation rejects; nothing here routes to that Service anyway.
# shellcheck disable=SC2054 # the comma in Node,RBAC is part of one argument
apiserver_args=(
	--etcd-servers="$etcd_url"
	--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port"
	--endpoint-reconciler-type=none
	--cert-dir="$state/pki" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key"
	--client-ca-file="$pki/ca.crt"
	--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key"
	--service-account-issuer=https://kubernetes.default.svc.cluster.local
	--authorization-mode=Node,RBAC
	--service-cluster-ip-range=10.0.0.0/24
	--allow-privileged=true --profiling=false
	# Without this, SIGTERM waits up to the 60s request timeout for the
	# controllers' watch connections; with it the server exits in ~2s,
	# which keeps down.sh and kubetest.StopAPIServer quick.
	--shutdown-send-retry-after=true
	# Service-referenced webhooks, kubelets and APIServices are dialled
	# through clusternet instead of the machine's network.
	--egress-selector-config-file="$state/egress-selector.yaml"
)
launch kube-apiserver "${apiserver_args[@]}"
wait_for "kube-apiserver /readyz at $api_url" api GET /readyz
launch clusternet --kubeconfig="$kubeconfig" --network="$network"

# Fake nodes are created before kwok starts so that kwok's first list sees them.
for i in 0 1; do
	api POST /api/v1/nodes -H 'Content-Type: application/json' -d @- >/dev/null <<EOF || fail "creating node kwok-node-$i failed"
{"apiVersion":"v1","kind":"Node","metadata":{"name":"kwok-node-$i",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"type":"kwok","kubernetes.io/hostname":"kwok-node-$i","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}},
 "status":{"capacity":{"cpu":"1000","memory":"1Ti","pods":"1000"},
           "allocatable":{"cpu":"1000","memory":"1Ti","pods":"1000"}}}
EOF
done

launch kube-controller-manager --kubeconfig="$kubeconfig" \
	--leader-elect=false --secure-port=0 --use-service-account-credentials=false \
	--kube-api-qps=200 --kube-api-burst=400 \
	--concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 \
	--service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
	--service-cluster-ip-range=10.0.0.0/24
launch kube-scheduler --kubeconfig="$kubeconfig" --leader-elect=false --secure-port=0
launch kwok --kubeconfig="$kubeconfig" --manage-all-nodes=true \
	--config="$here/kwok-stages.yaml" --server-address="127.0.0.1:$kwok_port" \
	--cidr=10.244.0.0/16 --node-ip=127.0.0.1 --node-lease-duration-seconds=40

# Go's JSON encoder writes condition fields in struct order, and the server
# only pretty-prints for a curl User-Agent (hence -A above), so this match is
# stable without needing jq on the machine.
nodes_ready() {
	[[ $(api GET /api/v1/nodes | grep -o '"type":"Ready","status":"True"' | wc -l) -ge 2 ]]
}
wait_for "both kwok nodes to be Ready" nodes_ready
wait_for "the default ServiceAccount (controller-manager token controller)" \
	api GET /api/v1/namespaces/default/serviceaccounts/default
check_alive
trap - INT TERM

{
	printf 'CAIRN_CLUSTER_DIR=%q\n' "$state"
	printf 'KUBECONFIG=%q\n' "$kubeconfig"
	printf 'APISERVER_URL=%q\n' "$api_url"
	printf 'ETCD_URL=%q\n' "$etcd_url"
	printf 'NETWORK=%q\n' "$network"
	printf 'BIN_DIR=%q\n' "$bin_dir"
	printf 'APISERVER_ARGS_FILE=%q\n' "$state/args/kube-apiserver.args"
	printf 'APISERVER_PID_FILE=%q\n' "$state/pids/kube-apiserver.pid"
	printf 'APISERVER_LOG=%q\n' "$state/logs/kube-apiserver.log"
	printf 'APISERVER_CMD=%q\n' "$(printf '%q ' "$bin_dir/kube-apiserver" "${apiserver_args[@]}")"
} >"$state/env"

echo "cluster ready in $((SECONDS - start))s (state in $state)" >&2
echo "export KUBECONFIG=$kubeconfig"
