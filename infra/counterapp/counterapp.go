// Package counterapp runs the counter service (app/) in Kubernetes: a Deployment spread
// over nodes, a Service in front of it, and a PodDisruptionBudget so node drains never
// take every replica at once.
package counterapp

import (
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8scorev1 "k8s.io/api/core/v1"

	"github.com/counter-mysql/counter-mysql/app/schema"
	"github.com/counter-mysql/counter-mysql/infra/labels"
	"github.com/counter-mysql/counter-mysql/infra/ownership"
	"github.com/counter-mysql/counter-mysql/infra/podsecurity"
)

const (
	// ServiceName is how users and port-forward reach the app.
	ServiceName = "counter"
	// DeploymentName names the pods counter-<hash>.
	DeploymentName = "counter"
	// PortName names the app's port, where it also serves /metrics.
	PortName = "http"
	// httpPort is where the app listens; the Service exposes it on servicePort.
	httpPort    = 8080
	servicePort = 80
	// uid/gid of the distroless "nonroot" user the app image runs as.
	appUID = 65532
)

// Args configures the app. Everything it needs comes in here; the stack reads and checks
// the configuration.
type Args struct {
	Namespace pulumi.StringInput
	// Instance is the stack's app.kubernetes.io/instance label.
	Instance string
	// Image is the counter image: the configured one, or the one package image built
	// from app/ and pushed, by digest.
	Image    pulumi.StringInput
	Replicas int
	// ServiceType is ClusterIP or LoadBalancer.
	ServiceType string
	// DBMaxConns is each replica's MySQL connection pool size (DB_MAX_CONNS): the stack's
	// connection budget gives every replica this many.
	DBMaxConns int
	// RequestTimeout is the app's REQUEST_TIMEOUT; 0 sets none, so the app's default
	// applies and a stack that never set it sees no change.
	RequestTimeout time.Duration

	// MySQLHost and MySQLPort reach the database, whose pods DatabasePods selects (the
	// app's only egress besides DNS).
	MySQLHost    pulumi.StringInput
	MySQLPort    int
	DatabasePods map[string]string
	// CredentialsSecret holds the app's MySQL user and password under UserKey and PasswordKey.
	CredentialsSecret    pulumi.StringInput
	UserKey, PasswordKey string
	// CredentialsVersion changes with the passwords; a change rolls the app's pods so they
	// read the new Secret (environment variables are read at container start).
	CredentialsVersion pulumi.StringInput
	// CredentialsAnnotation is the pod template annotation that carries it.
	CredentialsAnnotation string
}

// Counter is the running app.
type Counter struct {
	pulumi.ResourceState

	Deployment *appsv1.Deployment
	Service    *corev1.Service
	// URL is where to open the app: the load balancer's address, or a port-forward hint.
	URL pulumi.StringOutput
}

// Labels are the app pods' labels; the database admits connections from Selector() of them.
func Labels(instance string) labels.App {
	return labels.App{Name: "counter", Instance: instance, Component: "app"}
}

// New deploys the app.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Counter, error) {
	c := &Counter{}
	if err := ctx.RegisterComponentResource("counter-mysql:counterapp:Counter", name, c, opts...); err != nil {
		return nil, err
	}
	app := Labels(args.Instance)
	meta := func(name *string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{
			Name: pulumi.StringPtrFromPtr(name), Namespace: args.Namespace, Labels: pulumi.ToStringMap(app.All()), Annotations: ownership.Annotations(nil),
		}
	}
	selector := &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(app.Selector())}
	var err error
	c.Deployment, err = appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: meta(pulumi.StringRef(DeploymentName)),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(args.Replicas),
			Selector: selector,
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels: pulumi.ToStringMap(app.All()),
					Annotations: pulumi.StringMap{
						"prometheus.io/scrape":     pulumi.String("true"),
						"prometheus.io/port":       pulumi.Sprintf("%d", httpPort),
						"prometheus.io/path":       pulumi.String("/metrics"),
						args.CredentialsAnnotation: args.CredentialsVersion,
					},
				},
				Spec: podSpec(args, app),
			},
		},
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	c.Service, err = corev1.NewService(ctx, name, &corev1.ServiceArgs{
		Metadata: meta(pulumi.StringRef(ServiceName)),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String(args.ServiceType),
			Selector: pulumi.ToStringMap(app.Selector()),
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String(PortName), Port: pulumi.Int(servicePort), TargetPort: pulumi.String(PortName),
			}},
		},
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	if err := newNetworkPolicy(ctx, name, args, selector, meta(nil), c); err != nil {
		return nil, err
	}
	// maxUnavailable 1 keeps drains moving at any replica count, one pod at a time.
	if _, err = policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(nil),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       selector,
		},
	}, pulumi.Parent(c)); err != nil {
		return nil, err
	}

	if args.ServiceType == string(k8scorev1.ServiceTypeLoadBalancer) {
		c.URL = c.Service.Status.ApplyT(loadBalancerURL).(pulumi.StringOutput)
	} else {
		c.URL = pulumi.Sprintf("kubectl --namespace %s port-forward service/%s 8080:%d, then open http://localhost:8080",
			c.Service.Metadata.Namespace().Elem(), c.Service.Metadata.Name().Elem(), servicePort)
	}
	err = ctx.RegisterResourceOutputs(c, pulumi.Map{"url": c.URL})
	return c, err
}

// newNetworkPolicy admits only the app's own port (from anywhere: the Service and the load
// balancer bring the callers) and lets out only MySQL's port on the database pods and the
// cluster's DNS (CoreDNS, k8s-app=kube-dns in kube-system, as on EKS), which resolves
// MySQLHost.
func newNetworkPolicy(ctx *pulumi.Context, name string, args *Args, pods *metav1.LabelSelectorArgs, meta *metav1.ObjectMetaArgs, parent pulumi.Resource) error {
	port := func(p int, proto string) *networkingv1.NetworkPolicyPortArgs {
		return &networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(p), Protocol: pulumi.String(proto)}
	}
	_, err := networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: meta,
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: pods,
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				Ports: networkingv1.NetworkPolicyPortArray{port(httpPort, "TCP")},
			}},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{
				&networkingv1.NetworkPolicyEgressRuleArgs{
					To: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
						PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(args.DatabasePods)},
					}},
					Ports: networkingv1.NetworkPolicyPortArray{port(args.MySQLPort, "TCP")},
				},
				&networkingv1.NetworkPolicyEgressRuleArgs{
					To: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
						NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String("kube-system")}},
						PodSelector:       &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"k8s-app": pulumi.String("kube-dns")}},
					}},
					Ports: networkingv1.NetworkPolicyPortArray{port(53, "UDP"), port(53, "TCP")},
				},
			},
		},
	}, pulumi.Parent(parent))
	return err
}

// loadBalancerURL is http://<address> of the Service's load balancer ("" until it has one).
func loadBalancerURL(status *corev1.ServiceStatus) string {
	if status == nil || status.LoadBalancer == nil {
		return ""
	}
	for _, in := range status.LoadBalancer.Ingress {
		switch {
		case in.Hostname != nil && *in.Hostname != "":
			return "http://" + *in.Hostname
		case in.Ip != nil && *in.Ip != "":
			return "http://" + *in.Ip
		}
	}
	return ""
}

func podSpec(args *Args, app labels.App) *corev1.PodSpecArgs {
	env := func(name string, value pulumi.StringInput) *corev1.EnvVarArgs {
		return &corev1.EnvVarArgs{Name: pulumi.String(name), Value: value}
	}
	fromSecret := func(name, key string) *corev1.EnvVarArgs {
		return &corev1.EnvVarArgs{Name: pulumi.String(name), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: args.CredentialsSecret, Key: pulumi.String(key)},
		}}
	}
	get := func(path string) *corev1.HTTPGetActionArgs {
		return &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String(PortName)}
	}
	vars := corev1.EnvVarArray{
		env("MYSQL_HOST", args.MySQLHost),
		env("MYSQL_PORT", pulumi.Sprintf("%d", args.MySQLPort)),
		env("MYSQL_DATABASE", pulumi.String(schema.Database)),
		fromSecret("MYSQL_USER", args.UserKey),
		fromSecret("MYSQL_PASSWORD", args.PasswordKey),
		env("LISTEN_ADDR", pulumi.Sprintf(":%d", httpPort)),
		env("COUNTER_MODE", pulumi.String("batch")),
		// Keep serving for a few seconds after SIGTERM while the endpoint removal
		// reaches kube-proxy and the load balancer; new connections meanwhile are
		// answered, not refused.
		env("SHUTDOWN_DELAY", pulumi.String("5s")),
		env("DB_MAX_CONNS", pulumi.Sprintf("%d", args.DBMaxConns)),
	}
	if args.RequestTimeout > 0 {
		// Last, so the variables before it keep their places.
		vars = append(vars, env("REQUEST_TIMEOUT", pulumi.String(args.RequestTimeout.String())))
	}
	return &corev1.PodSpecArgs{
		SecurityContext: podsecurity.Pod(appUID),
		// SHUTDOWN_DELAY (5 s) plus the app's SHUTDOWN_TIMEOUT (20 s), with slack.
		TerminationGracePeriodSeconds: pulumi.Int(30),
		// The app never talks to the Kubernetes API.
		AutomountServiceAccountToken: pulumi.Bool(false),
		// Spread replicas over nodes so losing one node loses one replica, but still
		// schedule when there are fewer nodes than replicas.
		TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{&corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(1),
			TopologyKey:       pulumi.String("kubernetes.io/hostname"),
			WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(app.Selector())},
		}},
		Containers: corev1.ContainerArray{&corev1.ContainerArgs{
			Name:  pulumi.String("counter"),
			Image: args.Image,
			Env:   vars,
			Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
				Name: pulumi.String(PortName), ContainerPort: pulumi.Int(httpPort),
			}},
			StartupProbe: &corev1.ProbeArgs{
				HttpGet: get("/healthz"), PeriodSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(30),
			},
			LivenessProbe: &corev1.ProbeArgs{
				HttpGet: get("/healthz"), PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(3),
			},
			// Not ready while MySQL is unreachable, so the Service stops sending traffic.
			ReadinessProbe: &corev1.ProbeArgs{
				HttpGet: get("/readyz"), PeriodSeconds: pulumi.Int(5), TimeoutSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(2),
			},
			Resources: &corev1.ResourceRequirementsArgs{
				// The app writes no files (read-only root filesystem): ephemeral storage is its
				// container log only.
				Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("64Mi"), "ephemeral-storage": pulumi.String("16Mi")},
				Limits:   pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("128Mi"), "ephemeral-storage": pulumi.String("64Mi")},
			},
			SecurityContext: podsecurity.Container(),
		}},
	}
}
