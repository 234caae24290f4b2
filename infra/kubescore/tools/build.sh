#!/usr/bin/env bash
# Builds kube-score, pinned in go.mod here, from the Go module proxy into a cache
# directory, once: a stamp file records the version, so a second run does nothing.
#
#   infra/kubescore/tools/build.sh          (what `make kube-score` runs)
#   KUBESCORE_BIN=/some/dir/kube-score infra/kubescore/tools/build.sh
#
# The path must match the one the check reads (infra/kubescore.Binary); both default to
# ${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/kube-score-v1.20.0/kube-score.
set -euo pipefail

version=v1.20.0

here=$(cd "$(dirname "$0")" && pwd)
bin=${KUBESCORE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/kube-score-$version/kube-score}
stamp="$bin.version"

if [[ -x $bin && -f $stamp && $(cat "$stamp") == "$version" ]]; then
	echo "kube-score: up to date at $bin"
	exit 0
fi
if [[ $(go list -C "$here" -m -f '{{.Version}}' github.com/zegl/kube-score) != "$version" ]]; then
	echo "kube-score: $here/go.mod does not pin $version" >&2
	exit 1
fi

mkdir -p "$(dirname "$bin")"
rm -f "$stamp"
start=$SECONDS
echo "kube-score: building $version into $bin (cold: about a minute; cached after)"
# -X: without it the binary calls itself "development".
CGO_ENABLED=0 go build -C "$here" -trimpath -ldflags "-s -w -X main.version=$version" -o "$bin" github.com/zegl/kube-score/cmd/kube-score
echo "$version" >"$stamp"
echo "kube-score: done in $((SECONDS - start)) s"
