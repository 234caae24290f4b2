#!/usr/bin/env bash
# Builds the binaries of the real-Kubernetes test tier (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) from the Go module proxy into a cache
# directory, once: a stamp file records the versions, so a second run does nothing.
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

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${KUBETEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/kube-$kube_version}
stamp="$bin_dir/versions"
want="kubernetes $kube_version etcd $etcd_version kwok $kwok_version"

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
echo "kube-bins: building kube-apiserver, kube-controller-manager, kube-scheduler $kube_version into $bin_dir (cold: several minutes)"
go build -C "$here/kube" -trimpath -ldflags "$ldflags" -o "$bin_dir/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler
echo "kube-bins: building etcd $etcd_version"
go build -C "$here/kube" -trimpath -ldflags "-s -w" -o "$bin_dir/etcd" go.etcd.io/etcd/server/v3
echo "kube-bins: building kwok $kwok_version"
go build -C "$here/kwok" -trimpath -ldflags "-s -w" -o "$bin_dir/kwok" sigs.k8s.io/kwok/cmd/kwok

echo "$want" >"$stamp"
echo "kube-bins: done in $((SECONDS - start)) s"
