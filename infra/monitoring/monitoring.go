// Package monitoring wires the stack into a Prometheus Operator, when the cluster serves
// monitoring.coreos.com/v1 (see Decide): PodMonitors that scrape the app and MySQL's
// exporter, a PrometheusRule with the alerts (package alerts), and the Grafana
// dashboard (package dashboard) in a ConfigMap for Grafana's sidecar. All a Prometheus
// needs is to select them by label (monitoringLabels).
//
// PodMonitors rather than ServiceMonitors: the app's Service may be a load balancer and
// MySQL's is headless for DNS; a PodMonitor scrapes each pod by its port name whatever
// Service fronts it. Their names are fixed because the operator makes them the series'
// job label ("<namespace>/<name>"), which the alerts select on.
package monitoring

import (
	"maps"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/alerts"
	"github.com/counter-mysql/counter-mysql/infra/dashboard"
	"github.com/counter-mysql/counter-mysql/infra/labels"
	"github.com/counter-mysql/counter-mysql/infra/ownership"
)

// Type is the component's type token.
const Type = "counter-mysql:monitoring:Monitoring"

// Names of the PodMonitors: the jobs of the series they scrape.
const (
	AppMonitorName   = "counter-app"
	MySQLMonitorName = "mysql"
)

// scrapeInterval is how often Prometheus scrapes: the kube-prometheus-stack default.
const scrapeInterval = "30s"

// Target is a workload to scrape: its pods and the name of the port serving /metrics.
type Target struct {
	Pods map[string]string
	Port string
}

// Args configures the monitoring objects.
type Args struct {
	// Namespace is the stack's; the PodMonitors look for pods in their own namespace.
	Namespace pulumi.StringInput
	// Labels are the app.kubernetes.io labels of the objects themselves.
	Labels labels.App
	// Extra labels (counter-mysql:monitoringLabels) let a Prometheus select the objects.
	Extra map[string]string
	App   Target
	// MySQL is nil when the exporter sidecar is off: nothing to scrape.
	MySQL *Target
	// NamespaceName is Namespace's value, which the alerts select on.
	NamespaceName string
}

// Monitoring is the component.
type Monitoring struct {
	pulumi.ResourceState
}

// New creates the monitoring objects. Call it only when Decide enabled them.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource(Type, name, m, opts...); err != nil {
		return nil, err
	}
	all := args.Labels.All()
	for k, v := range args.Extra {
		all[k] = v
	}
	meta := func(object string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{
			Name: pulumi.String(object), Namespace: args.Namespace,
			Labels: pulumi.ToStringMap(all), Annotations: ownership.Annotations(nil),
		}
	}
	type monitor struct {
		name string
		Target
	}
	monitors := []monitor{{AppMonitorName, args.App}}
	if args.MySQL != nil {
		monitors = append(monitors, monitor{MySQLMonitorName, *args.MySQL})
	}
	for _, t := range monitors {
		object := t.name
		if _, err := apiextensions.NewCustomResource(ctx, name+"-"+object, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String(GroupVersion),
			Kind:       pulumi.String("PodMonitor"),
			Metadata:   meta(object),
			OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
				"selector": pulumi.Map{"matchLabels": pulumi.ToStringMap(t.Pods)},
				"podMetricsEndpoints": pulumi.Array{pulumi.Map{
					"port": pulumi.String(t.Port), "path": pulumi.String("/metrics"), "interval": pulumi.String(scrapeInterval),
				}},
			}},
		}, pulumi.Parent(m)); err != nil {
			return nil, err
		}
	}
	if err := newRules(ctx, name, args, meta(RuleName), m); err != nil {
		return nil, err
	}
	if err := newDashboard(ctx, name, args, all, m); err != nil {
		return nil, err
	}
	return m, ctx.RegisterResourceOutputs(m, pulumi.Map{})
}

// RuleName is the PrometheusRule holding the alerts.
const RuleName = "counter-mysql"

// AlertArgs are what the alerts select for a stack in namespace: the series of the
// PodMonitors New creates, and the StatefulSet's claim.
func AlertArgs(namespace string, exporter bool) alerts.Args {
	a := alerts.StackArgs(namespace)
	if !exporter {
		a.MySQLJob = ""
	}
	return a
}

// newRules creates the PrometheusRule with the stack's alerts.
func newRules(ctx *pulumi.Context, name string, args *Args, meta *metav1.ObjectMetaArgs, parent pulumi.Resource) error {
	groups, err := alerts.Groups(AlertArgs(args.NamespaceName, args.MySQL != nil))
	if err != nil {
		return err
	}
	spec, err := alerts.RuleSpec(groups)
	if err != nil {
		return err
	}
	_, err = apiextensions.NewCustomResource(ctx, name+"-rules", &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(GroupVersion),
		Kind:        pulumi.String("PrometheusRule"),
		Metadata:    meta,
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.ToMap(spec)},
	}, pulumi.Parent(parent))
	return err
}

// DashboardConfigMapName is the ConfigMap holding the Grafana dashboard.
const DashboardConfigMapName = "counter-mysql-dashboard"

// newDashboard ships the dashboard as a ConfigMap with the label kube-prometheus-stack's
// Grafana sidecar looks for.
func newDashboard(ctx *pulumi.Context, name string, args *Args, labels map[string]string, parent pulumi.Resource) error {
	data, err := dashboard.ConfigMapData()
	if err != nil {
		return err
	}
	withSidecar := maps.Clone(labels)
	withSidecar[dashboard.SidecarLabel] = dashboard.SidecarLabelValue
	_, err = corev1.NewConfigMap(ctx, name+"-dashboard", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(DashboardConfigMapName), Namespace: args.Namespace,
			Labels: pulumi.ToStringMap(withSidecar), Annotations: ownership.Annotations(nil),
		},
		Data: pulumi.ToStringMap(data),
	}, pulumi.Parent(parent))
	return err
}
