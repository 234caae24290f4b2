#!/usr/bin/env bash
# Generates the Prometheus Operator's monitoring.coreos.com/v1 CRDs (PodMonitor,
# ServiceMonitor, PrometheusRule, Prometheus, ...) into a cache directory, once: a stamp file
# records the versions and options, so a second run does nothing.
#
#   infra/kubetest/tools/promcrd/build.sh          (what `make monitoring-crds` runs)
#
# Why generate: the module that ships upstream's YAMLs (prometheus-operator's
# example/prometheus-operator-crd) is not on the module proxy, but its API types are
# (pkg/apis/monitoring, pinned in go.mod here) and upstream generates those YAMLs from them
# with controller-gen (pinned here too), which is what this does.
#
# The directory must match the one the tests read (infra/kubetest.MonitoringCRDDir):
# ${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/prometheus-operator-crds-v0.95.2.
set -euo pipefail

version=v0.95.2
controller_tools_version=v0.23.0
# Upstream's options (its Makefile's CRD_OPTIONS), plus maxDescLen=0: the descriptions are
# most of the bytes (all seven CRDs: 2.3 MB with them, 0.7 MB without; Prometheus's alone
# 859 KB), which every install sends and the API server parses, and no test reads them.
# v1 has no float fields, so allowDangerousTypes is not needed (controller-gen refuses floats without it).
options=crd:crdVersions=v1,maxDescLen=0
types=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring

here=$(cd "$(dirname "$0")" && pwd)
dir=${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/prometheus-operator-crds-$version
stamp="$dir/versions"
want="prometheus-operator $version controller-tools $controller_tools_version $options"

if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
	echo "monitoring-crds: up to date in $dir"
	exit 0
fi
for pin in "$types $version" "sigs.k8s.io/controller-tools $controller_tools_version"; do
	if [[ $(go list -C "$here" -m -f '{{.Path}} {{.Version}}' "${pin% *}") != "$pin" ]]; then
		echo "monitoring-crds: $here/go.mod does not pin $pin" >&2
		exit 1
	fi
done

rm -rf "$dir"
mkdir -p "$dir"
start=$SECONDS
echo "monitoring-crds: building controller-gen $controller_tools_version and generating the $version CRDs into $dir (cold: ~4 min, mostly compiling controller-gen; cached after)"
# go tool builds controller-gen (kept in Go's build cache) and runs it in this module, where
# the types' package path resolves to the pinned version.
go -C "$here" tool controller-gen "$options" "paths=$types/v1" "output:crd:dir=$dir"
echo "$want" >"$stamp"
echo "monitoring-crds: $(ls "$dir" | grep -c '\.yaml$') CRDs in $((SECONDS - start)) s"
