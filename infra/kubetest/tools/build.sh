#!/usr/bin/env bash
# Builds the binaries of the real-Kubernetes test tiers from the Go module proxy into a
# cache directory, once: a stamp file records the versions, so a second run does nothing.
# The control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and
# kwok (simulated kubelets); the real node (issue 23): kubelet, kube-proxy and coredns.
#
#   infra/kubetest/tools/build.sh          (what `make kube-bins` runs)
#   KUBETEST_BIN_DIR=/some/dir infra/kubetest/tools/build.sh
#
# The directory must match the one the tests read (infra/kubetest.BinDir); both
# default to ${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/kube-v1.33.13.
set -euo pipefail

kube_version=v1.33.13
etcd_version=v3.5.21
kwok_version=v0.7.0
coredns_version=v1.12.1 # the version coredns/go.mod requires (checked below)

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${KUBETEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/kube-$kube_version}
stamp="$bin_dir/versions"
# Names the binaries too, so a cache from before one was added is rebuilt (with a warm Go
# build cache only the new ones compile).
want="kubernetes $kube_version (kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy) etcd $etcd_version kwok $kwok_version coredns $coredns_version"

if ! grep -Eq "^(require)?[[:space:]]*github.com/coredns/coredns $coredns_version\$" "$here/coredns/go.mod"; then
	echo "kube-bins: coredns_version $coredns_version is not the version in $here/coredns/go.mod" >&2
	exit 1
fi

if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
	echo "kube-bins: up to date in $bin_dir"
	exit 0
fi

mkdir -p "$bin_dir"
rm -f "$stamp"
export CGO_ENABLED=0
# Without the -X flags the binaries call themselves v0.0.0-master, and kwok and clients
# would see a version that does not match the API they talk to.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/client-go/pkg/version.gitVersion=$kube_version"

start=$SECONDS
echo "kube-bins: building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy $kube_version into $bin_dir (cold: several minutes)"
# One go build for the five: they share most of their packages, compiled once. The kubelet
# is static too: Kubernetes' release links it with cgo, but a static kubelet is its
# supported option (KUBE_STATIC_OVERRIDES=kubelet); its cAdvisor then lacks only the
# perf-event counters. On these machines' cgroup v1 it starts cAdvisor and the container
# manager (tried).
go build -C "$here/kube" -trimpath -ldflags "$ldflags" -o "$bin_dir/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubelet \
	k8s.io/kubernetes/cmd/kube-proxy
echo "kube-bins: building etcd $etcd_version"
go build -C "$here/kube" -trimpath -ldflags "-s -w" -o "$bin_dir/etcd" go.etcd.io/etcd/server/v3
echo "kube-bins: building kwok $kwok_version"
go build -C "$here/kwok" -trimpath -ldflags "-s -w" -o "$bin_dir/kwok" sigs.k8s.io/kwok/cmd/kwok
echo "kube-bins: building coredns $coredns_version (the cluster-DNS plugins only)"
go build -C "$here/coredns" -trimpath -ldflags "-s -w" -o "$bin_dir/coredns" .

echo "$want" >"$stamp"
echo "kube-bins: done in $((SECONDS - start)) s"
