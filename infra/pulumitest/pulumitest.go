// Package pulumitest runs a Pulumi program under Pulumi's mock engine and records what it
// registers: a component test calls the component's New with its Args inside the program,
// the stack's tests (package stacktest) run the whole program, and the real API server
// tier applies KubernetesObjects().
//
// The mocks answer like the real providers would in the ways the program depends on:
// pulumi-eks's cluster returns a kubeconfig (also for a profile) and references to its
// EKS cluster and IAM OIDC provider, its managed node group a reference to its EKS node
// group, the region has a default VPC (unless Account says not), IAM roles get ARNs,
// random passwords get values, Kubernetes objects get their auto-generated names and, for
// LoadBalancer Services, an address.
package pulumitest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	// Project and Stack are what the program sees.
	Project = "counter-mysql"
	Stack   = "test"
	// AccountID, Region and ClusterName shape the mocked AWS identifiers.
	AccountID   = "123456789012"
	Region      = "us-west-2"
	ClusterName = "cluster-eksCluster-mock"
	// OIDCIssuer is the mocked cluster's OIDC issuer (host and path, as IAM uses it).
	OIDCIssuer = "oidc.eks." + Region + ".amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	// OIDCProviderARN is the mocked IAM OIDC provider.
	OIDCProviderARN = "arn:aws:iam::" + AccountID + ":oidc-provider/" + OIDCIssuer
	// ImageDigest is the digest of every image the program builds and pushes.
	ImageDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// RegistryHost is the mocked ECR registry.
	RegistryHost = AccountID + ".dkr.ecr." + Region + ".amazonaws.com"
	// ECRPassword is the mocked registry token's password.
	ECRPassword = "mock-ecr-password"
	// NameSuffix is what auto-naming appends to an ECR repository's name, so a test sees
	// whether the program uses the repository's real name or its resource name.
	NameSuffix = "-4f3e2d1"
	// RandomIDHex is every RandomId's hex value.
	RandomIDHex = "a1b2c3d4"
	// LoadBalancerHostname is the address a LoadBalancer Service gets.
	LoadBalancerHostname = "counter-mock.elb." + Region + ".amazonaws.com"
	// DefaultVPC is the region's default VPC, unless Account.NoDefaultVPC.
	DefaultVPC = "vpc-0123456789abcdef0"
)

// Account is how the mocked AWS account differs from the usual one.
type Account struct {
	// NoDefaultVPC: the region's default VPC was deleted (or never existed).
	NoDefaultVPC bool
}

// EBSSnapshot is an EBS snapshot in the mocked account.
type EBSSnapshot struct {
	State   string
	SizeGiB int
}

// EBSSnapshots are the EBS snapshots the mocked account has; looking up any other id
// fails, as it does with AWS.
var EBSSnapshots = map[string]EBSSnapshot{
	"snap-0123456789abcdef0": {State: "completed", SizeGiB: 20},
	"snap-0123456789abcdef1": {State: "pending", SizeGiB: 20},
	"snap-0123456789abcdef2": {State: "completed", SizeGiB: 100},
}

// Run runs program under the mocks. deployed are the outputs of the stack's last up, as a
// reference to the stack itself reads them (nil: never deployed). The error is the
// program's; what was registered until then is returned with it.
func Run(program pulumi.RunFunc, deployed map[string]any) (*Recorded, error) {
	return RunIn(Account{}, program, deployed)
}

// RunIn is Run in an account that differs from the usual one.
func RunIn(account Account, program pulumi.RunFunc, deployed map[string]any) (*Recorded, error) {
	m := &mocks{fixtures: map[string]string{}, deployed: deployed, account: account}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		if err := m.registerFixtures(ctx); err != nil {
			return err
		}
		return program(ctx)
	}, pulumi.WithMocks(Project, Stack, m))
	m.mu.Lock()
	defer m.mu.Unlock()
	return &Recorded{Resources: m.recorded, Calls: m.calls}, err
}

// MustRun is Run for a program that must succeed and was never deployed.
func MustRun(t testing.TB, program pulumi.RunFunc) *Recorded {
	t.Helper()
	rec, err := Run(program, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Recorded is everything the program registered, fixtures of the mocks excluded.
type Recorded struct {
	// Resources are in registration order.
	Resources []Resource
	// Calls are the provider functions the program called, in order.
	Calls []pulumi.MockCallArgs
}

// Resource is one registration.
type Resource struct {
	Type, Name string
	URN        string
	Custom     bool
	// Inputs are as the program sent them; secrets stay wrapped (PropertyValue.IsSecret).
	Inputs    resource.PropertyMap
	Parent    string   // URN of the parent ("" for the stack)
	Provider  string   // explicit provider reference, "urn::id", if any
	DependsOn []string // URNs it depends on, explicitly or through its inputs
	Hooks     Hooks    // names of the resource hooks bound to it
	// RetainOnDelete: Pulumi forgets the resource on delete instead of deleting it.
	RetainOnDelete bool
	// ReplaceOnChanges are the input paths whose change replaces the resource, and
	// DeleteBeforeReplace deletes the old one first.
	ReplaceOnChanges    []string
	DeleteBeforeReplace bool
	// Aliases are the earlier URNs the resource was registered under.
	Aliases []string
	// CreateTimeout and UpdateTimeout are the custom timeouts ("" when unset).
	CreateTimeout, UpdateTimeout string
}

// Hooks are the hook names bound to a resource, per lifecycle step.
type Hooks struct {
	BeforeCreate, AfterCreate, BeforeUpdate, AfterUpdate, BeforeDelete, AfterDelete []string
}

// MustObjects is KubernetesObjects that fails the test on an error.
func (r *Recorded) MustObjects(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	objs, err := r.KubernetesObjects()
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// mocks implements pulumi.MockResourceMonitor.
type mocks struct {
	mu       sync.Mutex
	recorded []Resource
	calls    []pulumi.MockCallArgs
	// fixtures maps a fixture's type token to its URN.
	fixtures map[string]string
	// deployed are the outputs of the stack's last up, as its reference to itself reads them.
	deployed map[string]any
	account  Account
}

// Fixture types: pulumi-eks's cluster outputs references to these, and the mock engine can
// only resolve a reference to a resource it has registered, so Run registers one of each
// before the program starts.
const (
	oidcProviderType = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
	eksClusterType   = "aws:eks/cluster:Cluster"
	// nodeGroupType is the EKS node group inside pulumi-eks's ManagedNodeGroup.
	nodeGroupType = "aws:eks/nodeGroup:NodeGroup"
	fixturePrefix = "stacktest-fixture-"
	// stackReferenceType is the program's reference to its own stack (stack.Deployed).
	stackReferenceType = "pulumi:pulumi:StackReference"
)

func (m *mocks) registerFixtures(ctx *pulumi.Context) error {
	for _, typ := range []string{oidcProviderType, eksClusterType, nodeGroupType} {
		var r pulumi.CustomResourceState
		if err := ctx.RegisterResource(typ, fixturePrefix+typ[strings.LastIndex(typ, ":")+1:], nil, &r); err != nil {
			return err
		}
		urn := make(chan pulumi.URN, 1)
		r.URN().ApplyT(func(u pulumi.URN) pulumi.URN { urn <- u; return u })
		select {
		case u := <-urn:
			m.mu.Lock()
			m.fixtures[typ] = string(u)
			m.mu.Unlock()
		case <-time.After(time.Minute):
			return fmt.Errorf("stacktest: fixture %s was never registered", typ)
		}
	}
	return nil
}

// Call answers provider functions: the program asks ECR for a registry token, to push the
// image it builds, EC2 for the snapshot it restores from and for the default VPC; any
// other call is a surprise.
func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args)
	m.mu.Unlock()
	switch args.Token {
	case "aws:ebs/getSnapshot:getSnapshot":
		return ebsSnapshot(args.Args)
	case "aws:ec2/getVpcs:getVpcs":
		ids := []any{DefaultVPC}
		if m.account.NoDefaultVPC {
			ids = []any{}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": Region, "ids": ids}), nil
	case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
	default:
		return nil, fmt.Errorf("stacktest: unexpected call of %s", args.Token)
	}
	return resource.PropertyMap{
		"userName":      resource.NewProperty("AWS"),
		"password":      resource.NewProperty(ECRPassword),
		"proxyEndpoint": resource.NewProperty("https://" + RegistryHost),
	}, nil
}

// MethodCall answers methods of resources: pulumi-eks's Cluster.getKubeconfig.
func (m *mocks) MethodCall(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args)
	m.mu.Unlock()
	if args.Token != "eks:index:Cluster/getKubeconfig" {
		return nil, fmt.Errorf("stacktest: unexpected method call of %s", args.Token)
	}
	profile := args.Args["profileName"]
	if !profile.IsString() {
		return nil, fmt.Errorf("stacktest: getKubeconfig without a profile name: %v", args.Args)
	}
	return resource.PropertyMap{"result": resource.NewProperty(KubeconfigForProfile(clusterServer, profile.StringValue()))}, nil
}

// ebsSnapshot answers a lookup of one snapshot id, as the AWS provider does.
func ebsSnapshot(args resource.PropertyMap) (resource.PropertyMap, error) {
	ids := args["snapshotIds"]
	if !ids.IsArray() || len(ids.ArrayValue()) != 1 || !ids.ArrayValue()[0].IsString() {
		return nil, fmt.Errorf("stacktest: getSnapshot wants one snapshot id, got %v", args)
	}
	id := ids.ArrayValue()[0].StringValue()
	snap, ok := EBSSnapshots[id]
	if !ok {
		return nil, fmt.Errorf("reading EBS Snapshots: InvalidSnapshot.NotFound: The snapshot '%s' does not exist", id)
	}
	return resource.PropertyMap{
		"id": resource.NewProperty(id), "snapshotId": resource.NewProperty(id),
		"state": resource.NewProperty(snap.State), "volumeSize": resource.NewProperty(float64(snap.SizeGiB)),
	}, nil
}

// NewResource records the registration and returns plausible outputs.
func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.HasPrefix(args.Name, fixturePrefix) {
		return m.fixtureOutputs(args)
	}
	if args.TypeToken == stackReferenceType {
		// Not recorded: a read of the stack's own outputs, not something the program deploys.
		return args.Name, resource.PropertyMap{
			"name":    args.Inputs["name"],
			"outputs": resource.NewObjectProperty(resource.NewPropertyMapFromMap(m.deployed)),
		}, nil
	}
	r := Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs, Provider: args.Provider}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.DependsOn = rpc.GetDependencies()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.ReplaceOnChanges, r.DeleteBeforeReplace = rpc.GetReplaceOnChanges(), rpc.GetDeleteBeforeReplace()
		r.Aliases = rpc.GetAliasURNs()
		if ct := rpc.GetCustomTimeouts(); ct != nil {
			r.CreateTimeout, r.UpdateTimeout = ct.GetCreate(), ct.GetUpdate()
		}
		for _, a := range rpc.GetAliases() {
			if u := a.GetUrn(); u != "" {
				r.Aliases = append(r.Aliases, u)
			}
		}
		if h := rpc.GetHooks(); h != nil {
			r.Hooks = Hooks{
				BeforeCreate: h.GetBeforeCreate(), AfterCreate: h.GetAfterCreate(),
				BeforeUpdate: h.GetBeforeUpdate(), AfterUpdate: h.GetAfterUpdate(),
				BeforeDelete: h.GetBeforeDelete(), AfterDelete: h.GetAfterDelete(),
			}
		}
	}
	r.URN = urn(r.Parent, r.Type, r.Name)
	m.recorded = append(m.recorded, r)
	return args.Name + "-id", m.outputs(args), nil
}

// urn is the URN the mock engine gives the resource.
func urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(Stack, Project, parentType, tokens.Type(typ), name))
}

func (m *mocks) fixtureOutputs(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	switch args.TypeToken {
	case oidcProviderType:
		return "oidc-provider-id", resource.NewPropertyMapFromMap(map[string]any{
			"arn": OIDCProviderARN,
			"url": OIDCIssuer, // as the AWS provider stores it: without https://
		}), nil
	case eksClusterType:
		return ClusterName, resource.NewPropertyMapFromMap(map[string]any{
			"arn":  "arn:aws:eks:" + Region + ":" + AccountID + ":cluster/" + ClusterName,
			"name": ClusterName,
		}), nil
	case nodeGroupType:
		return ClusterName + ":nodes", resource.NewPropertyMapFromMap(map[string]any{"clusterName": ClusterName}), nil
	}
	return "", nil, fmt.Errorf("stacktest: no fixture for %s", args.TypeToken)
}

// outputs are the inputs plus what the provider would compute.
func (m *mocks) outputs(args pulumi.MockResourceArgs) resource.PropertyMap {
	out := args.Inputs.Copy()
	set := func(key string, v any) { out[resource.PropertyKey(key)] = resource.NewPropertyValue(v) }
	switch {
	case args.TypeToken == "eks:index:Cluster":
		kubeconfig := Kubeconfig(clusterServer)
		oidc := resource.MakeCustomResourceReference(resource.URN(m.fixtures[oidcProviderType]), "oidc-provider-id", "")
		cluster := resource.MakeCustomResourceReference(resource.URN(m.fixtures[eksClusterType]), ClusterName, "")
		var kc map[string]any
		_ = json.Unmarshal([]byte(kubeconfig), &kc)
		set("kubeconfig", kc)
		set("kubeconfigJson", kubeconfig)
		out["eksCluster"] = cluster
		out["core"] = resource.NewObjectProperty(resource.PropertyMap{"cluster": cluster, "oidcProvider": oidc})
	case args.TypeToken == "eks:index:ManagedNodeGroup":
		out["nodeGroup"] = resource.MakeCustomResourceReference(resource.URN(m.fixtures[nodeGroupType]), ClusterName+":nodes", "")
	case args.TypeToken == "aws:ec2/launchTemplate:LaunchTemplate":
		set("latestVersion", 1)
	case args.TypeToken == "aws:iam/role:Role":
		set("arn", "arn:aws:iam::"+AccountID+":role/"+args.Name)
		set("name", args.Name)
	case args.TypeToken == "aws:eks/addon:Addon":
		set("arn", "arn:aws:eks:"+Region+":"+AccountID+":addon/"+ClusterName+"/"+args.Name)
	case args.TypeToken == "aws:ecr/repository:Repository":
		set("name", args.Name+NameSuffix)
		set("registryId", AccountID)
		set("repositoryUrl", RegistryHost+"/"+args.Name+NameSuffix)
	case args.TypeToken == "random:index/randomId:RandomId":
		set("hex", RandomIDHex)
	case args.TypeToken == "docker:index/image:Image":
		repo, _, _ := strings.Cut(args.Inputs["imageName"].StringValue(), ":")
		set("repoDigest", repo+"@"+ImageDigest)
	case args.TypeToken == "random:index/randomPassword:RandomPassword":
		// Returned plain on purpose: the program must mark passwords secret itself.
		set("result", strings.Repeat("x", 24)+fmt.Sprintf("%08d", len(m.recorded)))
	case strings.HasPrefix(args.TypeToken, "kubernetes:"):
		meta := out["metadata"]
		if !meta.IsObject() {
			meta = resource.NewObjectProperty(resource.PropertyMap{})
		}
		if _, named := meta.ObjectValue()["name"]; !named {
			meta.ObjectValue()["name"] = resource.NewStringProperty(args.Name)
		}
		out["metadata"] = meta
		if args.TypeToken == "kubernetes:core/v1:Service" && isLoadBalancer(args.Inputs) {
			set("status", map[string]any{"loadBalancer": map[string]any{
				"ingress": []any{map[string]any{"hostname": LoadBalancerHostname}},
			}})
		}
	}
	return out
}

func isLoadBalancer(inputs resource.PropertyMap) bool {
	spec := inputs["spec"]
	return spec.IsObject() && spec.ObjectValue()["type"].IsString() && spec.ObjectValue()["type"].StringValue() == "LoadBalancer"
}

// clusterServer is the mocked EKS cluster's API server.
const clusterServer = "https://" + ClusterName + ".eks.example.com"

// Kubeconfig is the mocked EKS kubeconfig (JSON, like pulumi-eks's kubeconfigJson).
func Kubeconfig(server string) string {
	return kubeconfig(server, `{"token":"mock"}`)
}

// KubeconfigForProfile is the mocked kubeconfig of pulumi-eks's getKubeconfig: its
// `aws eks get-token` runs with AWS_PROFILE set to profile.
func KubeconfigForProfile(server, profile string) string {
	return kubeconfig(server, fmt.Sprintf(`{"exec":{"apiVersion":"client.authentication.k8s.io/v1beta1","command":"aws",`+
		`"args":["eks","get-token","--cluster-name",%q],"env":[{"name":"AWS_PROFILE","value":%q}]}}`, ClusterName, profile))
}

func kubeconfig(server, user string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Config","clusters":[{"name":"kubernetes","cluster":{"server":%q}}],`+
		`"contexts":[{"name":"aws","context":{"cluster":"kubernetes","user":"aws"}}],"current-context":"aws",`+
		`"users":[{"name":"aws","user":%s}]}`, server, user)
}

// ByType returns the recorded resources of one type token, in registration order.
func (r *Recorded) ByType(typ string) []Resource {
	var out []Resource
	for _, res := range r.Resources {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	return out
}

// Object is the resource's inputs as plain values (see Plain), for
// unstructured.NestedField and friends.
func (r Resource) Object() map[string]any {
	m, _ := Plain(resource.NewObjectProperty(r.Inputs)).(map[string]any)
	return m
}

// Strings reads a plain string map such as metadata.labels or a selector's matchLabels;
// anything else gives an empty map.
func Strings(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out
}

// Field walks a plain object: map keys, and decimal indexes into arrays
// (Field(obj, "spec", "containers", "0", "image")). It returns nil when a step is missing.
func Field(v any, path ...string) any {
	for _, step := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[step]
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// Get returns the one resource of type typ named name.
func (r *Recorded) Get(typ, name string) (Resource, bool) {
	i := slices.IndexFunc(r.Resources, func(res Resource) bool { return res.Type == typ && res.Name == name })
	if i < 0 {
		return Resource{}, false
	}
	return r.Resources[i], true
}

// KubernetesObjects returns every kubernetes:* resource (not the provider) as a plain
// object ready to apply, in registration order: apiVersion and kind as sent (else from the
// type token), metadata.name set to the resource name when the program left it to
// auto-naming, secrets unwrapped to their values. Patches (types ending in "Patch", such
// as the MySQL claim's size) change objects others create, so they are left out; find
// them in Resources.
func (r *Recorded) KubernetesObjects() ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, res := range r.Resources {
		if !strings.HasPrefix(res.Type, "kubernetes:") || strings.HasSuffix(res.Type, "Patch") {
			continue
		}
		u := &unstructured.Unstructured{Object: res.Object()}
		apiVersion, kind, err := typeToGVK(res.Type)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", res.Type, res.Name, err)
		}
		if u.GetAPIVersion() == "" {
			u.SetAPIVersion(apiVersion)
		}
		if u.GetKind() == "" {
			u.SetKind(kind)
		}
		if u.GetName() == "" {
			u.SetName(res.Name)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// typeToGVK turns "kubernetes:apps/v1:StatefulSet" into ("apps/v1", "StatefulSet") and
// "kubernetes:core/v1:Service" into ("v1", "Service"); other groups are spelled in full
// ("kubernetes:networking.k8s.io/v1:NetworkPolicy").
func typeToGVK(typ string) (string, string, error) {
	parts := strings.Split(typ, ":")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("type token %q is not package:module:kind", typ)
	}
	group, version, ok := strings.Cut(parts[1], "/")
	if !ok {
		return "", "", fmt.Errorf("type token %q has no API version", typ)
	}
	if group == "core" { // the legacy group, whose apiVersion is just the version
		return version, parts[2], nil
	}
	return group + "/" + version, parts[2], nil
}

// Plain converts a property value to plain Go values (map[string]any, []any, string,
// int64 for whole numbers, float64, bool, nil), unwrapping secrets and known outputs;
// unknown values become nil.
func Plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return Plain(v.SecretValue().Element)
	case v.IsOutput():
		if !v.OutputValue().Known {
			return nil
		}
		return Plain(v.OutputValue().Element)
	case v.IsObject():
		m := map[string]any{}
		for k, e := range v.ObjectValue() {
			m[string(k)] = Plain(e)
		}
		return m
	case v.IsArray():
		a := make([]any, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			a[i] = Plain(e)
		}
		return a
	case v.IsNumber():
		if n := v.NumberValue(); n == float64(int64(n)) {
			return int64(n)
		}
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsBool():
		return v.BoolValue()
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	}
	return nil
}
