#!/usr/bin/env bash
# Builds the binaries of the real-engine test tier (infra/enginetest) from the Go module
# proxy into a cache directory, once: the Pulumi CLI and the Kubernetes resource provider.
# A stamp file records the versions, so a second run does nothing.
#
#   infra/enginetest/tools/build.sh          (what `make engine-bins` runs)
#   ENGINETEST_BIN_DIR=/some/dir infra/enginetest/tools/build.sh
#
# The directory must match the one the tests read (infra/enginetest.BinDir); both default
# to ${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/engine-<pulumi version>.
#
# Neither the Go language host nor pulumi-random's provider is served by the module proxy:
# the tier builds its stand-ins for both (infra/enginetest/languagehost, randomprovider)
# from this repository at test time.
set -euo pipefail

pulumi_version=v3.274.1
provider_module=github.com/pulumi/pulumi-kubernetes/provider/v4
provider_version=v4.0.0-20260115033456-f47bc2d6f199

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${ENGINETEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/engine-$pulumi_version}
stamp="$bin_dir/versions"
want="pulumi $pulumi_version kubernetes-provider $provider_version"

if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
	echo "engine-bins: up to date in $bin_dir"
	exit 0
fi

mkdir -p "$bin_dir"
rm -f "$stamp"
export CGO_ENABLED=0
start=$SECONDS

echo "engine-bins: building the Pulumi CLI $pulumi_version into $bin_dir (cold: several minutes)"
go build -C "$here/cli" -trimpath \
	-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
	-o "$bin_dir/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

echo "engine-bins: building pulumi-resource-kubernetes $provider_version (cold: several minutes)"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
# Outside any module, so that no go.mod or go.sum of ours is touched; the download is
# checked against the checksum database like any other.
src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$provider_module@$provider_version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $src ]] || { echo "engine-bins: could not download $provider_module@$provider_version" >&2; exit 1; }
cp -R "$src" "$work/provider"
chmod -R u+w "$work/provider"
# In its own repository the provider builds against ../sdk; as a copy it uses the sdk
# version its go.mod requires.
go mod edit -C "$work/provider" -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4
# schema-embed.json and terraform-mapping-embed.json, which main.go embeds, are build
# outputs of the provider's own generate step, absent from the published module.
(cd "$work/provider/cmd/pulumi-resource-kubernetes" && GOFLAGS=-mod=mod VERSION="${provider_version#v}" go run generate.go)
GOFLAGS=-mod=mod go build -C "$work/provider" -trimpath \
	-ldflags "-s -w -X $provider_module/pkg/version.Version=${provider_version#v}" \
	-o "$bin_dir/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes

echo "$want" >"$stamp"
echo "engine-bins: done in $((SECONDS - start)) s"
