package monitoring

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	kubetesting "k8s.io/client-go/testing"

	"github.com/counter-mysql/counter-mysql/infra/config"
)

func servedAs(ok bool, err error) Served { return func() (bool, error) { return ok, err } }

// Decide follows the cluster for auto, refuses on without the API (also on a cluster that
// does not exist yet), asks nothing for off, and never turns an unreachable cluster into off.
func TestDecide(t *testing.T) {
	unreachable := errors.New("dial tcp: connection refused")
	tests := []struct {
		setting   config.Monitoring
		served    Served
		enabled   bool
		why, fail string
	}{
		{config.MonitoringAuto, servedAs(true, nil), true, "auto and the cluster serves monitoring.coreos.com/v1", ""},
		{config.MonitoringAuto, servedAs(false, nil), false, "auto and the cluster does not serve", ""},
		{config.MonitoringAuto, servedAs(false, ErrNoCluster), false, "a later up creates them once the cluster serves", ""},
		{config.MonitoringAuto, servedAs(false, unreachable), false, "", "counter-mysql:monitoring is auto: asking the cluster whether it serves monitoring.coreos.com/v1: dial tcp"},
		{config.MonitoringOn, servedAs(true, nil), true, "on and the cluster serves", ""},
		{config.MonitoringOn, servedAs(false, nil), false, "", "install the Prometheus Operator (e.g. the kube-prometheus-stack Helm chart), or set counter-mysql:monitoring auto or off"},
		{config.MonitoringOn, servedAs(false, ErrNoCluster), false, "", "run the first up with counter-mysql:monitoring auto"},
		{config.MonitoringOn, servedAs(false, unreachable), false, "", "connection refused"},
		{config.MonitoringOff, func() (bool, error) { t.Error("off asked the cluster"); return true, nil }, false, "counter-mysql:monitoring is off", ""},
	}
	for _, tt := range tests {
		d, err := Decide(tt.setting, tt.served)
		switch {
		case tt.fail != "":
			if err == nil || !strings.Contains(err.Error(), tt.fail) {
				t.Errorf("%s: error %v, want it to contain %q", tt.setting, err, tt.fail)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.setting, err)
		case d.Enabled != tt.enabled || !strings.Contains(d.Why, tt.why):
			t.Errorf("%s: %+v, want enabled %v saying %q", tt.setting, d, tt.enabled, tt.why)
		}
	}
}

// Discover wants both resources of the group version; a missing group is false, not an error.
func TestDiscover(t *testing.T) {
	list := func(names ...string) []*metav1.APIResourceList {
		l := &metav1.APIResourceList{GroupVersion: GroupVersion}
		for _, n := range names {
			l.APIResources = append(l.APIResources, metav1.APIResource{Name: n})
		}
		return []*metav1.APIResourceList{l}
	}
	tests := []struct {
		name      string
		resources []*metav1.APIResourceList
		want      bool
	}{
		{"both", list("podmonitors", "servicemonitors", "prometheusrules"), true},
		{"no rules", list("podmonitors", "servicemonitors"), false},
		{"no group", nil, false},
	}
	for _, tt := range tests {
		client := &fakediscovery.FakeDiscovery{Fake: &kubetesting.Fake{Resources: tt.resources}}
		got, err := Discover(client)()
		if err != nil || got != tt.want {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	// Any other failure (here RBAC) is the caller's to report, not a "no".
	broken := &fakediscovery.FakeDiscovery{Fake: &kubetesting.Fake{}}
	broken.AddReactor("get", "resource", func(kubetesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{}, "", errors.New("no discovery for you"))
	})
	if _, err := Discover(broken)(); !apierrors.IsForbidden(err) {
		t.Errorf("a forbidden discovery returned %v, want the error", err)
	}
}
