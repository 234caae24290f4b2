#!/usr/bin/env bash
# Builds promtool, pinned in go.mod here, from the Go module proxy into a cache directory,
# once: a stamp file records the version, so a second run does nothing.
#
#   infra/alerts/tools/build.sh          (what `make promtool` runs)
#   PROMTOOL_BIN=/some/dir/promtool infra/alerts/tools/build.sh
#
# The path must match the one the tests read (infra/alerts, requirePromtool); both default
# to ${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/promtool-v0.316.0/promtool.
set -euo pipefail

version=v0.316.0 # Prometheus 3.16.0

here=$(cd "$(dirname "$0")" && pwd)
bin=${PROMTOOL_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/promtool-$version/promtool}
stamp="$bin.version"

if [[ -x $bin && -f $stamp && $(cat "$stamp") == "$version" ]]; then
	echo "promtool: up to date at $bin"
	exit 0
fi
if [[ $(go list -C "$here" -m -f '{{.Version}}' github.com/prometheus/prometheus) != "$version" ]]; then
	echo "promtool: $here/go.mod does not pin $version" >&2
	exit 1
fi

mkdir -p "$(dirname "$bin")"
rm -f "$stamp"
start=$SECONDS
echo "promtool: building $version into $bin (cold: 5-10 min on 2 busy cores; cached after)"
# remove_all_sd: leave out the service discovery plugins (cloud SDKs), which promtool's rule
# checks and tests never use: it halves the cold build (323 s of CPU instead of 673 s,
# measured with a fresh GOCACHE). -X: without it the binary reports no version.
CGO_ENABLED=0 go build -C "$here" -trimpath -tags remove_all_sd \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=$version" \
	-o "$bin" github.com/prometheus/prometheus/cmd/promtool
echo "$version" >"$stamp"
echo "promtool: done in $((SECONDS - start)) s"
