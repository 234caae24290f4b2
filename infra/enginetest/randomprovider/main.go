// Command randomprovider is the real-engine tier's only stand-in: a test build of
// pulumi-random's provider (pulumi-resource-random), whose real binary the Go module proxy
// does not serve. It implements exactly what the program uses in existing mode,
// random:index/randomPassword:RandomPassword with its length, special, upper, lower and
// numeric inputs, as pulumi-random does for those:
//   - every input change replaces the password (pulumi-random marks them all ForceNew);
//   - the id is "none" and result and bcryptHash are returned as secrets, so the engine
//     encrypts them in the state;
//   - preview leaves the result unknown.
//
// Any other resource type fails loudly, so a program change that needs more of pulumi-random
// is noticed here instead of being faked. bcryptHash is a SHA-256 stand-in (no program
// reads it), and min* inputs, overrideSpecial and keepers are refused rather than ignored.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Version is what the stand-in reports: the pulumi-random release the program's SDK asks
// for, with build metadata that marks it (semver ignores metadata, so the engine does not
// warn about the version).
const Version = "4.18.0+counter-mysql-standin"

const passwordType = "random:index/randomPassword:RandomPassword"

// inputs is every input the stand-in implements; anything else is refused at Check.
var inputs = []string{"length", "special", "upper", "lower", "numeric"}

func main() {
	err := provider.Main("random", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &server{}, nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type server struct {
	pulumirpc.UnimplementedResourceProviderServer
}

var (
	unmarshal = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}
	marshal   = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true}
)

func (*server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

func (*server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (*server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (*server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (*server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (*server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), unmarshal)
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	for key := range news {
		if !slices.Contains(inputs, string(key)) {
			failures = append(failures, &pulumirpc.CheckFailure{Property: string(key),
				Reason: "not implemented by the test stand-in for pulumi-random (infra/enginetest/randomprovider)"})
		}
	}
	if l, ok := news["length"]; !ok || (l.IsNumber() && l.NumberValue() < 1) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "length", Reason: "length must be set and at least 1"})
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// Diff replaces on any input change, as pulumi-random's ForceNew inputs do.
func (*server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := plugin.UnmarshalProperties(req.GetOldInputs(), unmarshal)
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), unmarshal)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, key := range inputs {
		o, n := olds[resource.PropertyKey(key)], news[resource.PropertyKey(key)]
		if !o.DeepEquals(n) {
			changed = append(changed, key)
		}
	}
	if len(changed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, key := range changed {
		detailed[key] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE_REPLACE, InputDiff: true}
	}
	return &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: changed, Diffs: changed,
		DetailedDiff: detailed, HasDetailedDiff: true,
	}, nil
}

func (*server) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	props, err := plugin.UnmarshalProperties(req.GetProperties(), unmarshal)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		props["result"] = resource.MakeComputed(resource.NewProperty(""))
		props["bcryptHash"] = resource.MakeComputed(resource.NewProperty(""))
		out, err := plugin.MarshalProperties(props, marshal)
		return &pulumirpc.CreateResponse{Properties: out}, err
	}
	password, err := generate(props)
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256([]byte(password))
	props["result"] = resource.MakeSecret(resource.NewProperty(password))
	props["bcryptHash"] = resource.MakeSecret(resource.NewProperty(hex.EncodeToString(hash[:])))
	out, err := plugin.MarshalProperties(props, marshal)
	return &pulumirpc.CreateResponse{Id: "none", Properties: out}, err
}

// Read returns the state unchanged: a password exists only in the state.
func (*server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (*server) Update(context.Context, *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return nil, fmt.Errorf("%s has no in-place update: every input change replaces it", passwordType)
}

func (*server) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (*server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: `{"name":"random","version":"` + Version + `"}`}, nil
}

func (*server) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, fmt.Errorf("the test stand-in for pulumi-random implements no function (asked for %s)", req.GetTok())
}

func checkType(urn string) error {
	if t := resource.URN(urn).Type(); t != passwordType {
		return fmt.Errorf("the test stand-in for pulumi-random implements only %s, not %s: extend infra/enginetest/randomprovider", passwordType, t)
	}
	return nil
}

// generate draws a password from the character classes the inputs allow (all of them by
// default, as in pulumi-random).
func generate(props resource.PropertyMap) (string, error) {
	enabled := func(key string) bool {
		v, ok := props[resource.PropertyKey(key)]
		return !ok || !v.IsBool() || v.BoolValue()
	}
	var charset strings.Builder
	for _, class := range []struct{ key, chars string }{
		{"upper", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
		{"lower", "abcdefghijklmnopqrstuvwxyz"},
		{"numeric", "0123456789"},
		{"special", "!@#$%&*()-_=+[]{}<>:?"},
	} {
		if enabled(class.key) {
			charset.WriteString(class.chars)
		}
	}
	chars := charset.String()
	if chars == "" {
		return "", fmt.Errorf("no character class enabled")
	}
	length := int(props["length"].NumberValue())
	out := make([]byte, length)
	for i := range out {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			return "", err
		}
		out[i] = chars[n.Int64()]
	}
	return string(out), nil
}
