// Package stack is the Pulumi program: it reads the stack configuration and composes the
// components in the order the system is explained: cluster, storage, database, app.
package stack

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/counter-mysql/counter-mysql/infra/cleanup"
	"github.com/counter-mysql/counter-mysql/infra/cluster"
	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/counterapp"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/image"
	"github.com/counter-mysql/counter-mysql/infra/kubeclient"
	"github.com/counter-mysql/counter-mysql/infra/labels"
	"github.com/counter-mysql/counter-mysql/infra/monitoring"
	"github.com/counter-mysql/counter-mysql/infra/restore"
	"github.com/counter-mysql/counter-mysql/infra/storage"
)

// Program deploys the stack and exports its outputs. Configuration is validated before
// any resource is registered, and checked against the deployed stack (CheckDeployed) and
// EKS's version calendar as of today before anything but the reference to it.
func Program(ctx *pulumi.Context) error { return program(ctx, time.Now(), servedByCluster) }

// ProgramOn is Program on the given day: whether EKS still offers a Kubernetes version
// depends on the date, which tests fix.
func ProgramOn(today time.Time) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error { return program(ctx, today, servedByCluster) }
}

// ProgramWith is ProgramOn with served in place of asking the cluster whether it serves
// the Prometheus Operator's API, for tests whose cluster is a mock.
func ProgramWith(today time.Time, served func(config.Config, Deployed) monitoring.Served) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error { return program(ctx, today, served) }
}

func program(ctx *pulumi.Context, today time.Time, served func(config.Config, Deployed) monitoring.Served) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err
	}
	deployed, err := readDeployed(ctx)
	if err != nil {
		return err
	}
	if err := CheckDeployed(cfg, deployed); err != nil {
		return err
	}
	if cfg.Mode == config.ModeEKS {
		warnings, err := CheckKubernetesVersion(cfg, deployed, today)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			if err := ctx.Log.Warn(w, nil); err != nil {
				return err
			}
		}
	}
	from, err := restoreSource(ctx, cfg, deployed)
	if err != nil {
		return err
	}
	monitor, err := monitoring.Decide(cfg.Monitoring, served(cfg, deployed))
	if err != nil {
		return err
	}
	// Said at every preview and up: whether the objects come or go is the cluster's doing
	// as much as the configuration's.
	if err := ctx.Log.Info("monitoring: "+monitor.Why, nil); err != nil {
		return err
	}
	out, err := Deploy(ctx, cfg, sourceRoot, from, monitor.Enabled)
	if err != nil {
		return err
	}
	if from != nil {
		ctx.Export(restoredOutput, pulumi.StringMap{
			"source": pulumi.String(from.From), "driver": pulumi.String(from.Driver), "snapshotHandle": pulumi.String(from.SnapshotHandle),
		})
	}
	if cfg.Mode == config.ModeEKS {
		ctx.Export("kubeconfig", out.Kubeconfig)
		ctx.Export(kubernetesVersionOutput, pulumi.String(cfg.KubernetesVersion.String()))
	}
	ctx.Export("namespace", out.Namespace)
	ctx.Export("appUrl", out.AppURL)
	ctx.Export("mysqlHost", out.MySQLHost)
	ctx.Export("mysqlVersion", out.MySQLVersion)
	ctx.Export("mysqlStorageSize", pulumi.String(cfg.MySQLStorageSize.String()))
	ctx.Export("appImage", out.AppImage)
	ctx.Export(monitoringOutput, pulumi.Bool(monitor.Enabled))
	return nil
}

// monitoringOutput says whether the stack has its monitoring objects.
const monitoringOutput = "monitoring"

// servedByCluster asks the stack's cluster: in existing mode the configured one; in EKS
// mode the one the last up created, through the kubeconfig it exported (none yet: a new
// stack's cluster cannot serve anything).
func servedByCluster(cfg config.Config, d Deployed) monitoring.Served {
	return func() (bool, error) {
		kubeconfig := cfg.Kubeconfig
		if cfg.Mode == config.ModeEKS {
			if d.Kubeconfig == "" {
				return false, monitoring.ErrNoCluster
			}
			kubeconfig = d.Kubeconfig
		}
		clients, err := kubeclient.FromConfig(kubeconfig)()
		if err != nil {
			return false, fmt.Errorf("reaching the cluster: %w", err)
		}
		return monitoring.Discover(clients.Kube.Discovery())()
	}
}

// databaseName is the database component's name; deployed stacks' URNs and hook names
// carry it, so it never changes.
const databaseName = "mysql"

// sourceRoot is the repository root, where the app image builds from, as seen from the
// directory Pulumi runs the program in (Pulumi.yaml: main: infra/).
const sourceRoot = ".."

// Outputs are what a user needs after `pulumi up`.
type Outputs struct {
	// Kubeconfig reaches the EKS cluster (a secret); unset in existing mode.
	Kubeconfig pulumi.StringOutput
	Namespace  pulumi.StringOutput
	// AppURL is the load balancer's URL, or how to port-forward to the app.
	AppURL       pulumi.StringOutput
	MySQLHost    pulumi.StringOutput
	MySQLVersion pulumi.StringOutput
	// AppImage is the image the Deployment runs: the configured one, or the one built from
	// app/ and pushed to ECR, by digest.
	AppImage pulumi.StringOutput
}

// Deploy creates every resource for a validated configuration; the app image, unless
// configured, builds from the repository at root. The MySQL volume starts from from, or
// empty if nil.
func Deploy(ctx *pulumi.Context, cfg config.Config, root string, from *restore.Source, monitored bool) (*Outputs, error) {
	out := &Outputs{}
	// Every object's app.kubernetes.io/instance label, so two stacks sharing a cluster
	// never select each other's pods.
	instance := ctx.Project() + "-" + ctx.Stack()
	if errs := validation.IsValidLabelValue(instance); len(errs) > 0 {
		return nil, fmt.Errorf("the stack name %q makes the label value %q invalid (%s): use a shorter stack name",
			ctx.Stack(), instance, strings.Join(errs, "; "))
	}

	// A cluster without a configured VPC goes to the region's default one, which an
	// account may have deleted: refuse here rather than fail in the cluster's creation.
	if cfg.Mode == config.ModeEKS && cfg.VPCID == "" {
		found, err := cluster.HasDefaultVPC(ctx)
		if err != nil {
			return nil, fmt.Errorf("looking up the region's default VPC (%s:vpcId is unset): %w", config.Project, err)
		}
		if !found {
			return nil, fmt.Errorf("%s:vpcId is unset and the region has no default VPC to put the cluster in: "+
				"set %[1]s:vpcId, and %[1]s:privateSubnetIds and/or %[1]s:publicSubnetIds (comma-separated, in at least two availability zones)",
				config.Project)
		}
	}

	// The app's image: as configured, or built from this repository into ECR. First
	// of what registers, because it reads and checks the build inputs before it does.
	img, err := image.New(ctx, "counter", image.Args{
		Configured:   cfg.AppImage,
		RepoRoot:     root,
		InstanceType: cfg.NodeInstanceType,
	})
	if err != nil {
		return nil, err
	}

	// The cluster, and the storage the database volume lives on.
	var (
		provider     *kubernetes.Provider
		kube         kubeclient.Func
		storageClass pulumi.StringPtrInput
		volumeDeps   []pulumi.Resource
		// snapshotClass is the final snapshot's VolumeSnapshotClass ("": the default).
		snapshotClass string
		// namespaceDeps must outlive the namespace: what deleting its objects needs.
		namespaceDeps []pulumi.Resource
	)
	switch cfg.Mode {
	case config.ModeEKS:
		eks, err := cluster.NewEKS(ctx, "cluster", &cluster.EKSArgs{
			KubernetesVersion: cfg.KubernetesVersion.String(),
			InstanceType:      cfg.NodeInstanceType,
			MinSize:           cfg.NodeMinSize,
			DesiredSize:       cfg.NodeDesiredSize,
			MaxSize:           cfg.NodeMaxSize,
			VPCID:             cfg.VPCID,
			PublicSubnetIDs:   cfg.PublicSubnetIDs,
			PrivateSubnetIDs:  cfg.PrivateSubnetIDs,
			Profile:           cfg.AWSProfile,
		})
		if err != nil {
			return nil, err
		}
		ebs, err := storage.NewEBS(ctx, "storage", &storage.Args{
			ClusterName:     eks.Name,
			OIDCProviderARN: eks.OIDCProviderARN,
			OIDCIssuer:      eks.OIDCIssuer,
			Instance:        instance,
			Nodes:           eks.Nodes,
		}, pulumi.Providers(eks.Provider))
		if err != nil {
			return nil, err
		}
		provider, kube, snapshotClass = eks.Provider, kubeclient.FromOutput(eks.Kubeconfig), storage.SnapshotClassName
		storageClass = ebs.ClassName.ToStringPtrOutput()
		volumeDeps = []pulumi.Resource{ebs.Addon, ebs.StorageClass, ebs.SnapshotAddon, ebs.SnapshotClass}
		// The final VolumeSnapshot goes with the namespace, once the snapshot controller
		// has removed its finalizer.
		namespaceDeps = []pulumi.Resource{ebs.Addon, ebs.SnapshotAddon}
		out.Kubeconfig = eks.Kubeconfig
	case config.ModeExisting:
		existing, err := cluster.NewExisting(ctx, "cluster", &cluster.ExistingArgs{Kubeconfig: cfg.Kubeconfig})
		if err != nil {
			return nil, err
		}
		provider, kube, snapshotClass = existing.Provider, kubeclient.FromConfig(cfg.Kubeconfig), cfg.SnapshotClassName
		if cfg.StorageClassName != "" {
			storageClass = pulumi.StringPtr(cfg.StorageClassName)
		}
	}

	ns, err := newNamespace(ctx, cfg.Namespace, provider, namespaceDeps)
	if err != nil {
		return nil, err
	}
	namespace := ns.Metadata.Name().Elem()

	// The database.
	var restoreArgs *database.Restore
	if from != nil {
		restoreArgs = &database.Restore{Driver: from.Driver, SnapshotHandle: from.SnapshotHandle}
	}
	sizing := database.DefaultSizing
	sizing.MaxConnections = config.MySQLMaxConnections
	// The metrics sidecar, and the PodMonitor target it makes; without it nothing
	// serves MySQL's metrics, so there is nothing to scrape (nil).
	exporterImage, mysqlMetrics := "", (*monitoring.Target)(nil)
	if cfg.MySQLExporter {
		exporterImage = cfg.MySQLExporterImage
		mysqlMetrics = &monitoring.Target{Pods: database.Labels(instance, cfg.MySQLVersion).Selector(), Port: database.ExporterPortName}
	}
	db, err := database.New(ctx, databaseName, &database.Args{
		Namespace:            namespace,
		Instance:             instance,
		Version:              cfg.MySQLVersion,
		Image:                cfg.MySQLImage,
		StorageClassName:     storageClass,
		StorageSize:          cfg.MySQLStorageSize.String(),
		ExporterImage:        exporterImage,
		Sizing:               sizing,
		RetainVolumes:        cfg.RetainVolumes,
		RetainVolumesSetting: config.Project + ":retainVolumes",
		ReadyTimeout:         cfg.MySQLReadyTimeout,
		Volumes: clusterVolumes{
			kube: kube, timeout: cfg.VolumeCleanupTimeout,
			finalSnapshot: cfg.FinalSnapshot, snapshotClass: snapshotClass,
		},
		Clients: counterapp.Labels(instance).Selector(),
		Storage: volumeDeps,
		Restore: restoreArgs,
	}, pulumi.Providers(provider))
	if err != nil {
		return nil, err
	}

	// The app. It depends on the database so it starts after MySQL is ready and is
	// deleted before it.
	app, err := counterapp.New(ctx, "counter", &counterapp.Args{
		Namespace:         namespace,
		Instance:          instance,
		Image:             img.Ref,
		Replicas:          cfg.AppReplicas,
		ServiceType:       cfg.ServiceType,
		DBMaxConns:        config.AppDBConns,
		RequestTimeout:    cfg.RequestTimeout,
		MySQLHost:         db.Host,
		MySQLPort:         database.Port,
		DatabasePods:      database.Labels(instance, cfg.MySQLVersion).Selector(),
		CredentialsSecret: db.SecretName,
		UserKey:           database.SecretKeyAppUser,
		PasswordKey:       database.SecretKeyAppPassword,
		// A password rotation rolls the app after MySQL (it depends on the StatefulSet).
		CredentialsVersion:    db.CredentialsVersion,
		CredentialsAnnotation: database.CredentialsAnnotation,
	}, pulumi.Providers(provider), pulumi.DependsOn([]pulumi.Resource{db.StatefulSet}))
	if err != nil {
		return nil, err
	}

	if monitored {
		if _, err := monitoring.New(ctx, "monitoring", &monitoring.Args{
			Namespace:     namespace,
			Labels:        labels.App{Name: "counter-mysql", Instance: instance, Component: "monitoring"},
			Extra:         cfg.MonitoringLabels,
			App:           monitoring.Target{Pods: counterapp.Labels(instance).Selector(), Port: counterapp.PortName},
			MySQL:         mysqlMetrics,
			NamespaceName: cfg.Namespace,
		}, pulumi.Providers(provider)); err != nil {
			return nil, err
		}
	}

	out.Namespace = namespace
	out.AppURL = app.URL
	out.MySQLHost = db.Host
	out.MySQLVersion = pulumi.String(cfg.MySQLVersion.String()).ToStringOutput()
	out.AppImage = img.Ref
	return out, nil
}

// clusterVolumes does the database's volume work through the cluster's API.
type clusterVolumes struct {
	kube kubeclient.Func
	// timeout bounds the wait for the final snapshot, then for deleted volumes to be gone.
	timeout time.Duration
	// finalSnapshot and snapshotClass ("": the cluster's default) are this run's settings:
	// the destroying run's decide.
	finalSnapshot bool
	snapshotClass string
}

func (v clusterVolumes) Adopt(ctx context.Context, log *slog.Logger, namespace string, claims []string) error {
	client, err := v.kube()
	if err != nil {
		return err
	}
	_, err = cleanup.AdoptVolumes(ctx, client.Kube, namespace, claims, log)
	return err
}

func (v clusterVolumes) Keep(ctx context.Context, log *slog.Logger, namespace, selector string) error {
	client, err := v.kube()
	if err != nil {
		return err
	}
	return cleanup.KeepVolumes(ctx, client.Kube, cleanup.Options{Namespace: namespace, Selector: selector, Logger: log})
}

func (v clusterVolumes) Release(ctx context.Context, log *slog.Logger, namespace, selector string, retain bool) error {
	client, err := v.kube()
	if err != nil {
		return err
	}
	return cleanup.DeleteVolumes(ctx, client.Kube, cleanup.Options{
		Namespace: namespace, Selector: selector, Retain: retain, Timeout: v.timeout, Logger: log,
		FinalSnapshot: v.finalSnapshot, Snapshots: client.Snapshots, SnapshotClass: v.snapshotClass,
		FinalSnapshotSetting: config.Project + ":finalSnapshot",
	})
}
