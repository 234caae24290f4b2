package kubeclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/client-go/kubernetes"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: local
  context: {cluster: local, user: me}
current-context: local
users:
- name: me
  user: {token: abc}
`

// host is the API server the clients built by f talk to, the same for both.
func host(t *testing.T, f Func) string {
	t.Helper()
	c, err := f()
	if err != nil {
		t.Fatal(err)
	}
	kube := c.Kube.(*kubernetes.Clientset).RESTClient().Get().URL().Host
	if snap := c.Snapshots.(*snapshotclient.Clientset).SnapshotV1().RESTClient().Get().URL().Host; snap != kube {
		t.Errorf("snapshot client talks to %q, the Kubernetes client to %q", snap, kube)
	}
	return kube
}

func TestFromConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := host(t, FromConfig(kubeconfig)); got != "127.0.0.1:6443" {
		t.Errorf("from contents: host %q", got)
	}
	if got := host(t, FromConfig(path)); got != "127.0.0.1:6443" {
		t.Errorf("from path: host %q", got)
	}
	t.Setenv("KUBECONFIG", path)
	if got := host(t, FromConfig("")); got != "127.0.0.1:6443" {
		t.Errorf("ambient: host %q", got)
	}
	if _, err := FromConfig(filepath.Join(t.TempDir(), "missing"))(); err == nil {
		t.Error("a missing kubeconfig file gave a client")
	}
}

// mocks lets the test run a Pulumi program that registers nothing.
type mocks struct{}

func (mocks) NewResource(pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return "", nil, nil
}

func (mocks) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) { return nil, nil }

func TestFromOutput(t *testing.T) {
	var known, unknown Func
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		// Outputs tied to the program, like a resource's, which it waits for.
		output := func(value string) pulumi.StringOutput {
			out, resolve, _ := ctx.NewOutput()
			resolve(value)
			return out.ApplyT(func(v any) string { return v.(string) }).(pulumi.StringOutput)
		}
		known = FromOutput(output(kubeconfig))
		unknown = FromOutput(output("")) // as if never resolved
		return nil
	}, pulumi.WithMocks("p", "s", mocks{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := host(t, known); got != "127.0.0.1:6443" {
		t.Errorf("host %q", got)
	}
	if _, err := unknown(); err == nil || !strings.Contains(err.Error(), "--run-program") {
		t.Errorf("unresolved kubeconfig: error = %v", err)
	}
}
