// Package kubeclient builds client-go clients for resource hooks. Hooks run when Pulumi
// reaches their resource during the deployment, not while the program registers it, so the
// client is built on demand from a kubeconfig the program captured.
package kubeclient

import (
	"errors"
	"strings"
	"sync"

	snapshotclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Clients reach one cluster, built from the same rest config.
type Clients struct {
	Kube kubernetes.Interface
	// Snapshots reaches snapshot.storage.k8s.io, which a cluster may not serve.
	Snapshots snapshotclient.Interface
}

// Func returns the clients of the stack's cluster.
type Func func() (Clients, error)

// FromConfig serves a kubeconfig known from stack config: a path, the file's contents,
// or "" for the ambient one (KUBECONFIG or ~/.kube/config), like the Kubernetes provider.
func FromConfig(kubeconfig string) Func {
	return func() (Clients, error) {
		var cfg *rest.Config
		var err error
		switch {
		case kubeconfig == "":
			cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
				clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
		case looksLikeContents(kubeconfig):
			cfg, err = clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig))
		default:
			cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		}
		if err != nil {
			return Clients{}, err
		}
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return Clients{}, err
		}
		snapshots, err := snapshotclient.NewForConfig(cfg)
		return Clients{Kube: kube, Snapshots: snapshots}, err
	}
}

// looksLikeContents tells a kubeconfig document (YAML or JSON) from a file path.
func looksLikeContents(s string) bool {
	return strings.Contains(s, "\n") || strings.HasPrefix(strings.TrimSpace(s), "{") || strings.Contains(s, "apiVersion:")
}

// FromOutput serves a kubeconfig the program only learns during the deployment, such as
// the one of the EKS cluster it creates. The value is captured as soon as it resolves.
func FromOutput(kubeconfig pulumi.StringOutput) Func {
	var (
		mu    sync.Mutex
		value string
	)
	kubeconfig.ApplyT(func(s string) string {
		mu.Lock()
		defer mu.Unlock()
		value = s
		return s
	})
	return func() (Clients, error) {
		mu.Lock()
		defer mu.Unlock()
		if value == "" {
			return Clients{}, errors.New("the cluster's kubeconfig is not known in this run: run `pulumi destroy --run-program` (hooks need the program)")
		}
		return FromConfig(value)()
	}
}
