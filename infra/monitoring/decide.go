package monitoring

import (
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/counter-mysql/counter-mysql/infra/config"
)

// Setting is the stack key that decides, named in messages.
const Setting = config.Project + ":monitoring"

// GroupVersion is the Prometheus Operator API the objects belong to.
const GroupVersion = "monitoring.coreos.com/v1"

// resources are what the stack creates of GroupVersion; a cluster must serve all of them.
var resources = []string{"podmonitors", "prometheusrules"}

// Decision is whether the stack creates the monitoring objects, and why, for the preview's
// output.
type Decision struct {
	Enabled bool
	Why     string
}

// Served reports whether the cluster serves every resource the stack creates, reached
// with client; a cluster without the API group is a plain false, not an error.
type Served func() (bool, error)

// Discover reads the cluster's API discovery.
func Discover(client discovery.DiscoveryInterface) Served {
	return func() (bool, error) {
		list, err := client.ServerResourcesForGroupVersion(GroupVersion)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, want := range resources {
			if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == want }) {
				return false, nil
			}
		}
		return true, nil
	}
}

// ErrNoCluster is what Served returns when there is no cluster yet to ask: a new EKS
// stack's cluster is created by the up that follows the preview.
var ErrNoCluster = errors.New("the cluster does not exist yet")

// Decide applies the setting to what the cluster serves. auto asks the cluster and follows
// it; on refuses a cluster without the API, naming the fix; off asks nothing. A cluster
// that cannot be reached is an error for auto too: deciding "off" then would delete the
// objects of a stack that has them.
func Decide(setting config.Monitoring, served Served) (Decision, error) {
	if setting == config.MonitoringOff {
		return Decision{Why: Setting + " is off"}, nil
	}
	ok, err := served()
	newCluster := errors.Is(err, ErrNoCluster)
	if err != nil && !newCluster {
		return Decision{}, fmt.Errorf("%s is %s: asking the cluster whether it serves %s: %w", Setting, setting, GroupVersion, err)
	}
	switch {
	case ok:
		return Decision{Enabled: true, Why: fmt.Sprintf("%s is %s and the cluster serves %s", Setting, setting, GroupVersion)}, nil
	case setting == config.MonitoringOn && newCluster:
		return Decision{}, fmt.Errorf("%s is on, but %v, so no Prometheus Operator can serve %s in it: "+
			"run the first up with %[1]s auto, install the Prometheus Operator (e.g. the kube-prometheus-stack Helm chart), then set it on", Setting, err, GroupVersion)
	case setting == config.MonitoringOn:
		return Decision{}, fmt.Errorf("%s is on, but the cluster does not serve %s %v: "+
			"install the Prometheus Operator (e.g. the kube-prometheus-stack Helm chart), or set %[1]s auto or off", Setting, GroupVersion, resources)
	case newCluster:
		return Decision{Why: fmt.Sprintf("%s is auto and %v: no monitoring objects; a later up creates them once the cluster serves %s", Setting, err, GroupVersion)}, nil
	default:
		return Decision{Why: fmt.Sprintf("%s is auto and the cluster does not serve %s: no monitoring objects", Setting, GroupVersion)}, nil
	}
}
