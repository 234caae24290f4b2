// Package database runs one durable MySQL server in Kubernetes: a StatefulSet with one
// replica and its own volume, a headless Service that gives the pod a stable DNS name,
// generated credentials, a least-privilege application user, an optional metrics sidecar
// (mysqld_exporter) with an account of its own, and a NetworkPolicy that admits only the
// counter app to MySQL and scrapers to the metrics.
//
// There is deliberately no PodDisruptionBudget: with one replica any budget either allows
// the eviction anyway or blocks every node drain (and so cluster upgrades) forever. A drain
// costs one graceful restart, the same as the delete-the-pod drill.
package database

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/counter-mysql/counter-mysql/app/schema"
	"github.com/counter-mysql/counter-mysql/infra/enginelog"
	"github.com/counter-mysql/counter-mysql/infra/labels"
	"github.com/counter-mysql/counter-mysql/infra/mysqlversion"
	"github.com/counter-mysql/counter-mysql/infra/ownership"
	"github.com/counter-mysql/counter-mysql/infra/podsecurity"
)

// Type is the component's type token.
const Type = "counter-mysql:database:MySQL"

// Names other objects and people rely on; everything else is auto-named.
const (
	// ServiceName is the headless Service; the StatefulSet's serviceName must equal it.
	ServiceName = "mysql"
	// StatefulSetName makes the pod mysql-0 and its volume claim data-mysql-0.
	StatefulSetName = "mysql"
	// SecretName holds the passwords (keys below).
	SecretName = "mysql-credentials"
	// Port is the MySQL protocol port.
	Port = 3306
	// AppUser is the application's MySQL account.
	AppUser = "counter"
	// uid and gid of the mysql user in the official image. kube-score wants ids above
	// 10000, clear of host users; accepted (infra/kubescore/accepted.txt): the image's
	// files and every existing data volume belong to 999, and mysqld creates its data
	// directories 0700, so another uid would lose access to the data of deployed stacks.
	// The pod is non-root with no capabilities (Pod Security restricted), so sharing a
	// host user's id grants it nothing.
	mysqlUID      = 999
	containerName = "mysql"
	volumeName    = "data"
	// volumesKeySelector holds the claims' label selector in the volumes ConfigMap.
	volumesKeySelector = "claimSelector"
	// RestoreSnapshotName is the VolumeSnapshot the claim starts from (Args.Restore).
	RestoreSnapshotName = StatefulSetName + "-restore"
	// ClaimName is the data volume's claim, made by the StatefulSet from its template.
	ClaimName = volumeName + "-" + StatefulSetName + "-0"
)

// Keys of the credentials Secret.
const (
	SecretKeyRootPassword = "root-password"
	SecretKeyAppUser      = "app-user"
	SecretKeyAppPassword  = "app-password"
	// SecretKeyExporterPassword is ExporterUser's password.
	SecretKeyExporterPassword = "exporter-password"
)

// The metrics sidecar (Args.ExporterImage).
const (
	// ExporterUser is the metrics sidecar's MySQL account. It exists whether or not the
	// sidecar runs (Args.ExporterImage), so turning the sidecar on or off never needs an
	// account change; it can log in only from the pod's own loopback (exporterHost).
	ExporterUser = "exporter"
	// ExporterPort is where the metrics sidecar serves /metrics, on the container port
	// named ExporterPortName, which a PodMonitor scrapes.
	ExporterPort     = 9104
	ExporterPortName = "metrics"
	// ExporterMaxConnections is the exporter account's MAX_USER_CONNECTIONS: mysqld_exporter
	// opens one connection per scrape, so this admits two scrapers at once (an HA
	// Prometheus pair) and one spare, and caps what a scrape storm can take from the app.
	ExporterMaxConnections = 3
	// exporterUID is nobody, the user the official mysqld_exporter image runs as.
	exporterUID           = 65534
	exporterContainerName = "metrics"
)

// VolumesConfigMapName is the ConfigMap that stands for the data volume's life cycle: the
// StatefulSet depends on it, so a destroy deletes it after the StatefulSet, and its
// before-delete hook deletes (or keeps) the volume. A hook that fails leaves it in the
// stack, so the next destroy runs the hook again instead of forgetting the volume.
const VolumesConfigMapName = "mysql-volumes"

// Args configures the database. Everything it needs comes in here; the stack reads and
// checks the configuration.
type Args struct {
	// Namespace is where the objects go: the stack creates it and shares it with the app.
	// An output of the namespace, so that every object waits for it.
	Namespace pulumi.StringInput
	// Instance is the stack's app.kubernetes.io/instance label.
	Instance string
	// Version is the MySQL that runs, for the labels; Image's tag must say it.
	Version mysqlversion.Version
	// Image is where MySQL is pulled from (a mirror, a private registry); "" means the
	// official image of Version.
	Image string
	// StorageClassName is the class of the data volume; nil means the cluster default.
	StorageClassName pulumi.StringPtrInput
	// StorageSize is a Kubernetes quantity, e.g. "20Gi".
	StorageSize string
	// ExporterImage is the metrics sidecar's image, mysqld_exporter v0.15 or later (its
	// flags and password variable); "" runs no sidecar.
	ExporterImage string
	// Sizing is the server's CPU, memory and connection limit (DefaultSizing, with the
	// stack's connection budget).
	Sizing Sizing
	// RetainVolumes keeps the data volume when the stack is destroyed. The value of the
	// program run that deletes decides (the user's latest word), not the last up's.
	RetainVolumes bool
	// RetainVolumesSetting is the stack setting behind RetainVolumes
	// (counter-mysql:retainVolumes), named in messages that tell the user to change it.
	RetainVolumesSetting string
	// Volumes acts on the data volume through the cluster's API, from resource hooks.
	Volumes Volumes
	// Clients are the pod labels that may connect to MySQL.
	Clients map[string]string
	// Storage must outlive the volume clean-up (the CSI driver deletes the volume), so the
	// volumes ConfigMap depends on it and Pulumi deletes that first.
	Storage []pulumi.Resource
	// Restore, if set, is the snapshot the data volume starts from when it is created.
	Restore *Restore
	// ReadyTimeout bounds how long an up waits for MySQL to be Ready on the StatefulSet's
	// current spec before it fails.
	ReadyTimeout time.Duration
}

// Restore is a snapshot for the data volume to start from, found and checked by package
// restore. A claim can only start from a VolumeSnapshot in its own namespace, so the
// database registers one there (RestoreSnapshotName), pre-provisioned: bound to a
// VolumeSnapshotContent of its own for the same snapshot, with deletionPolicy Retain, so
// no destroy of this stack ever deletes the snapshot it came from. Like the rest of the
// claim template it is read only when the claim is created.
type Restore struct {
	// Driver is the CSI driver that holds the snapshot; it must be the one that provisions
	// the volume (the StorageClass's).
	Driver string
	// SnapshotHandle is the driver's id of the snapshot, e.g. an EBS snapshot id.
	SnapshotHandle string
}

// Sizing is the MySQL server's resources and what follows from them, in one place.
type Sizing struct {
	// CPURequest and CPULimit are Kubernetes quantities.
	CPURequest, CPULimit string
	// MemoryMiB is the memory request and limit (equal: the pod is never the first to be
	// evicted for memory). The InnoDB buffer pool gets half; the rest covers per-connection
	// buffers and the server itself, so the OOM killer stays away.
	MemoryMiB int
	// MaxConnections is MySQL's max_connections.
	MaxConnections int
}

// DefaultSizing fits beside the app on the default node type; the stack sets
// MaxConnections from its connection budget.
var DefaultSizing = Sizing{CPURequest: "250m", CPULimit: "1", MemoryMiB: 1024}

func (s Sizing) bufferPoolMiB() int { return s.MemoryMiB / 2 }

// check refuses a sizing MySQL could not start with.
func (s Sizing) check() error {
	if s.MemoryMiB < 256 || s.MaxConnections < 1 || s.CPURequest == "" || s.CPULimit == "" {
		return fmt.Errorf("database: Args.Sizing %+v: set CPURequest, CPULimit, MemoryMiB (at least 256) and MaxConnections (at least 1), e.g. from DefaultSizing", s)
	}
	return nil
}

// Volumes is what the database's hooks need done to its volumes; package cleanup does it.
// Each method is idempotent, and log is where to say what it does (the CLI's output).
type Volumes interface {
	// Adopt re-binds volumes kept by an earlier stack for the named claims in namespace,
	// so the claims about to be created bind them instead of new ones.
	Adopt(ctx context.Context, log *slog.Logger, namespace string, claims []string) error
	// Keep makes the volumes of the claims that selector matches outlive the claims and
	// the namespace.
	Keep(ctx context.Context, log *slog.Logger, namespace, selector string) error
	// Release deletes those claims and waits, bounded, until their volumes are gone; with
	// retain it keeps them instead and says what that costs and how to delete them.
	Release(ctx context.Context, log *slog.Logger, namespace, selector string, retain bool) error
}

// MySQL is the database and the objects around it.
type MySQL struct {
	pulumi.ResourceState

	Secret      *corev1.Secret
	Service     *corev1.Service
	StatefulSet *appsv1.StatefulSet

	// SecretName resolves once the credentials exist.
	SecretName pulumi.StringOutput
	// CredentialsVersion changes whenever a password does (a SHA-256 of them, never the
	// passwords): as a pod template annotation it rolls the pods that read the Secret.
	CredentialsVersion pulumi.StringOutput
	// Host is the pod's stable DNS name, mysql-0.mysql.<namespace>.svc.cluster.local.
	Host pulumi.StringOutput
}

// Labels are the database pods' labels.
func Labels(instance string, v mysqlversion.Version) labels.App {
	return labels.App{Name: "mysql", Instance: instance, Component: "database", Version: v.String()}
}

// New creates the database in args.Namespace. Its resource hooks are named after it
// (name-volume-adopt, ...), so two databases in one program do not clash.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*MySQL, error) {
	if err := args.Sizing.check(); err != nil {
		return nil, err
	}
	// The version guard reads the version back from the deployed image's tag.
	if v, err := mysqlversion.FromImage(args.image()); err != nil || v != args.Version {
		return nil, fmt.Errorf("database: Args.Image %q is not tagged with Args.Version %s: tag it so, or leave it empty for the official image", args.Image, args.Version)
	}
	if args.ReadyTimeout <= 0 {
		return nil, fmt.Errorf("database: Args.ReadyTimeout is %s: set how long an up may wait for MySQL to be Ready", args.ReadyTimeout)
	}
	m := &MySQL{}
	if err := ctx.RegisterComponentResource(Type, name, m, opts...); err != nil {
		return nil, err
	}
	b := &builder{ctx: ctx, name: name, args: args, parent: m, app: Labels(args.Instance, args.Version)}
	var err error
	if m.Secret, m.CredentialsVersion, err = b.credentials(); err != nil {
		return nil, err
	}
	m.SecretName = m.Secret.Metadata.Name().Elem()
	files, err := b.serverFiles()
	if err != nil {
		return nil, err
	}
	if m.Service, err = b.service(); err != nil {
		return nil, err
	}
	if err := b.networkPolicy(); err != nil {
		return nil, err
	}
	// Hooks run inside the deployment, where only the engine's log reaches the user.
	hooks, err := registerHooks(ctx, name, args, enginelog.New(ctx.Log))
	if err != nil {
		return nil, err
	}
	volumes, err := b.volumesConfigMap(hooks.release)
	if err != nil {
		return nil, err
	}
	source, err := b.restoreSource()
	if err != nil {
		return nil, err
	}
	if m.StatefulSet, err = b.statefulSet(m, files, volumes, source, hooks); err != nil {
		return nil, err
	}
	if err := b.claimSize(m.StatefulSet); err != nil {
		return nil, err
	}
	m.Host = pulumi.Sprintf("%s-0.%s.%s.svc.cluster.local", m.StatefulSet.Metadata.Name().Elem(), m.Service.Metadata.Name().Elem(), args.Namespace)

	err = ctx.RegisterResourceOutputs(m, pulumi.Map{
		"host":   m.Host,
		"secret": m.SecretName,
	})
	return m, err
}

// builder makes the component's objects, one method each, in the order New needs them.
type builder struct {
	ctx    *pulumi.Context
	name   string
	args   *Args
	parent pulumi.Resource
	app    labels.App
}

// meta is an object's metadata in the namespace, with the workload's labels; "" leaves the
// name to Pulumi's auto-naming.
func (b *builder) meta(name string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{
		Name: pulumi.StringPtrFromPtr(optional(name)), Namespace: b.args.Namespace, Labels: pulumi.ToStringMap(b.app.All()), Annotations: ownership.Annotations(nil),
	}
}

// serverFiles are the ConfigMaps the pod mounts: the server configuration and the script
// that creates the accounts on first start.
type serverFiles struct{ config, initdb pulumi.StringOutput }

func (b *builder) serverFiles() (serverFiles, error) {
	settings, err := corev1.NewConfigMap(b.ctx, b.name+"-config", &corev1.ConfigMapArgs{
		Metadata: b.meta(""),
		Data:     pulumi.StringMap{"counter.cnf": pulumi.String(myCnf(b.args.Sizing))},
	}, pulumi.Parent(b.parent))
	if err != nil {
		return serverFiles{}, err
	}
	initdb, err := corev1.NewConfigMap(b.ctx, b.name+"-initdb", &corev1.ConfigMapArgs{
		Metadata: b.meta(""),
		Data:     pulumi.StringMap{initScriptName: pulumi.String(createAccounts())},
	}, pulumi.Parent(b.parent))
	if err != nil {
		return serverFiles{}, err
	}
	return serverFiles{config: settings.Metadata.Name().Elem(), initdb: initdb.Metadata.Name().Elem()}, nil
}

// service is headless: the name resolves to the pod itself, and only once it is ready.
func (b *builder) service() (*corev1.Service, error) {
	return corev1.NewService(b.ctx, b.name, &corev1.ServiceArgs{
		Metadata: b.meta(ServiceName),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP:                pulumi.String("None"),
			PublishNotReadyAddresses: pulumi.Bool(false),
			Selector:                 pulumi.ToStringMap(b.app.Selector()),
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String("mysql"), Port: pulumi.Int(Port), TargetPort: pulumi.String("mysql"),
			}},
		},
	}, pulumi.Parent(b.parent))
}

func (b *builder) networkPolicy() error {
	_, err := networkingv1.NewNetworkPolicy(b.ctx, b.name, &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta(""),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(b.app.Selector())},
			// Egress too, with no rule: MySQL resolves no names (skip-name-resolve) and
			// calls nothing, so it may reach nothing.
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
			Ingress:     b.ingress(),
		},
	}, pulumi.Parent(b.parent))
	return err
}

// volumesConfigMap stands for the data volume's life cycle (VolumesConfigMapName).
func (b *builder) volumesConfigMap(release *pulumi.ResourceHook) (*corev1.ConfigMap, error) {
	selector := k8slabels.SelectorFromSet(b.app.Selector()).String()
	return corev1.NewConfigMap(b.ctx, b.name+"-volumes", &corev1.ConfigMapArgs{
		Metadata: b.meta(VolumesConfigMapName),
		Data: pulumi.StringMap{
			volumesKeySelector: pulumi.String(selector),
			"README": pulumi.String("pulumi destroy deletes this ConfigMap after the MySQL StatefulSet. Before that, it deletes " +
				"the claims labelled " + selector + " and waits until their volumes are gone or, with " +
				b.args.RetainVolumesSetting + ", keeps the volumes."),
		},
	},
		pulumi.Parent(b.parent),
		// The volume's deletion needs the CSI driver, so the storage outlives this.
		pulumi.DependsOn(b.args.Storage),
		pulumi.ResourceHooks(&pulumi.ResourceHookBinding{BeforeDelete: []*pulumi.ResourceHook{release}}),
	)
}

// restoreSource registers the VolumeSnapshot the claim starts from (Args.Restore), or
// returns nil without a restore.
func (b *builder) restoreSource() (*apiextensions.CustomResource, error) {
	r := b.args.Restore
	if r == nil {
		return nil, nil
	}
	if r.Driver == "" || r.SnapshotHandle == "" {
		return nil, fmt.Errorf("database: Args.Restore %+v: set both Driver and SnapshotHandle", *r)
	}
	// Cluster-scoped and auto-named: two stacks in one cluster may restore the same snapshot.
	content, err := apiextensions.NewCustomResource(b.ctx, b.name+"-restore", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(snapshotAPIVersion),
		Kind:       pulumi.String("VolumeSnapshotContent"),
		Metadata:   &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(b.app.All()), Annotations: ownership.Annotations(nil)},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			// Retain: deleting this object (this stack's destroy) leaves the snapshot.
			"deletionPolicy": pulumi.String("Retain"),
			"driver":         pulumi.String(r.Driver),
			"source":         pulumi.Map{"snapshotHandle": pulumi.String(r.SnapshotHandle)},
			"volumeSnapshotRef": pulumi.Map{
				"name": pulumi.String(RestoreSnapshotName), "namespace": b.args.Namespace,
			},
		}},
	},
		pulumi.Parent(b.parent),
		pulumi.DependsOn(b.args.Storage), // the CRDs may come with the storage
		// Both specs are immutable: another snapshot (an up that failed before the stack was
		// first deployed, then a new value) replaces them.
		pulumi.ReplaceOnChanges([]string{"spec"}))
	if err != nil {
		return nil, err
	}
	meta := b.meta(RestoreSnapshotName)
	// The up waits until the snapshot controller has checked the snapshot exists, so a
	// wrong handle fails here, naming this object, instead of leaving MySQL's pod pending.
	meta.Annotations = ownership.Annotations(pulumi.StringMap{waitForAnnotation: pulumi.String("jsonpath={.status.readyToUse}=true")})
	return apiextensions.NewCustomResource(b.ctx, b.name+"-restore", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(snapshotAPIVersion),
		Kind:       pulumi.String("VolumeSnapshot"),
		Metadata:   meta,
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"source": pulumi.Map{"volumeSnapshotContentName": content.Metadata.Name()},
		}},
	},
		pulumi.Parent(b.parent), pulumi.DependsOn(b.args.Storage),
		// Its name is fixed (the claim template names it), so the old one goes first.
		pulumi.ReplaceOnChanges([]string{"spec"}), pulumi.DeleteBeforeReplace(true))
}

// ingress admits the counter pods on the MySQL port and, with the metrics sidecar, any pod
// of any namespace on its port: where Prometheus runs is the cluster's business. All other
// ingress is denied. The sidecar reaches MySQL over the pod's loopback, which no
// NetworkPolicy filters.
func (b *builder) ingress() networkingv1.NetworkPolicyIngressRuleArray {
	tcp := func(port int) networkingv1.NetworkPolicyPortArray {
		return networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(port), Protocol: pulumi.String("TCP")}}
	}
	rules := networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
		From: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(b.args.Clients)},
		}},
		Ports: tcp(Port),
	}}
	if b.args.ExporterImage == "" {
		return rules
	}
	return append(rules, &networkingv1.NetworkPolicyIngressRuleArgs{
		// An empty namespace selector is every namespace (pods only, not outside addresses).
		From:  networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{}}},
		Ports: tcp(ExporterPort),
	})
}

// snapshotAPIVersion is the CSI snapshot API.
const snapshotAPIVersion = "snapshot.storage.k8s.io/v1"

// waitForAnnotation replaces the Kubernetes provider's own readiness check of an object
// with conditions of ours, each a kubectl-style JSONPath; the provider waits until the
// object's status has observed its latest spec (.status.observedGeneration) and every
// condition holds, up to the resource's custom timeout, reporting the object's warning
// events (FailedCreate, FailedScheduling, ...) as it waits.
const waitForAnnotation = "pulumi.com/waitFor"

// readyOnCurrentSpec is MySQL Ready on the StatefulSet's current spec: its one pod is of
// the update revision and Ready. The provider's own StatefulSet check can pass on a status
// that predates the update (it compares metadata.generation, never observedGeneration), so
// an up that the new pod never follows (admission denied, no node, a failing start) used
// to report success with MySQL down.
const readyOnCurrentSpec = `["jsonpath={.status.updatedReplicas}=1","jsonpath={.status.readyReplicas}=1"]`

func (b *builder) statefulSet(m *MySQL, files serverFiles, volumes *corev1.ConfigMap, source *apiextensions.CustomResource, hooks *hooks) (*appsv1.StatefulSet, error) {
	// The claim carries no version label: the claim template cannot change after creation
	// (IgnoreChanges below), so a version label there would go stale at the first upgrade.
	claimLabels := b.app
	claimLabels.Version = ""
	deps := []pulumi.Resource{volumes}
	var dataSource *corev1.TypedLocalObjectReferenceArgs
	if source != nil {
		deps = append(deps, source)
		dataSource = &corev1.TypedLocalObjectReferenceArgs{
			ApiGroup: pulumi.String("snapshot.storage.k8s.io"), Kind: pulumi.String("VolumeSnapshot"), Name: pulumi.String(RestoreSnapshotName),
		}
	}
	meta := b.meta(StatefulSetName)
	meta.Annotations = ownership.Annotations(pulumi.StringMap{waitForAnnotation: pulumi.String(readyOnCurrentSpec)})
	return appsv1.NewStatefulSet(b.ctx, b.name, &appsv1.StatefulSetArgs{
		Metadata: meta,
		Spec: &appsv1.StatefulSetSpecArgs{
			ServiceName: m.Service.Metadata.Name(),
			Replicas:    pulumi.Int(1),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(b.app.Selector())},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
				// Never deleted with the StatefulSet: in a destroy the hooks delete the claim
				// (and wait for the volume, saying so) or keep it, from the setting at that
				// time; a StatefulSet deleted any other way (kubectl) leaves the data alone.
				WhenDeleted: pulumi.String("Retain"),
				WhenScaled:  pulumi.String("Retain"),
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels: pulumi.ToStringMap(b.app.All()),
					// A new password restarts MySQL, whose start script applies it.
					Annotations: pulumi.StringMap{CredentialsAnnotation: m.CredentialsVersion},
				},
				Spec: podSpec(b.args, files, m.SecretName),
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{&corev1.PersistentVolumeClaimTypeArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(volumeName), Labels: pulumi.ToStringMap(claimLabels.All())},
				Spec: &corev1.PersistentVolumeClaimSpecArgs{
					AccessModes:      pulumi.StringArray{pulumi.String("ReadWriteOnce")},
					StorageClassName: b.args.StorageClassName,
					DataSource:       dataSource,
					Resources: &corev1.VolumeResourceRequirementsArgs{
						Requests: pulumi.StringMap{"storage": pulumi.String(b.args.StorageSize)},
					},
				},
			}},
		},
	},
		pulumi.Parent(b.parent),
		// Deleted before the volumes ConfigMap, whose hook deletes the claims once no pod
		// uses them (and before the storage, which that ConfigMap depends on); created
		// after the snapshot the claim starts from.
		pulumi.DependsOn(deps),
		// Claim templates are immutable: a change would replace the StatefulSet and so
		// delete its volume. A new size is applied to the claim itself (claimSize).
		pulumi.IgnoreChanges([]string{"spec.volumeClaimTemplates"}),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: b.args.ReadyTimeout.String(), Update: b.args.ReadyTimeout.String()}),
		pulumi.ResourceHooks(&pulumi.ResourceHookBinding{
			BeforeCreate: []*pulumi.ResourceHook{hooks.adopt},
			BeforeUpdate: []*pulumi.ResourceHook{hooks.versionGuard},
			BeforeDelete: []*pulumi.ResourceHook{hooks.keep},
		}),
	)
}

// claimSize owns the size of the existing claim, so raising the storage size grows the
// volume in place (the StorageClass allows expansion; Kubernetes refuses to shrink).
// Retained on delete: deleting a patch gives up its fields, and once a resize has made it
// the only owner of the requested size, giving that up can be rejected and stop the
// destroy; the claim itself goes with the volume clean-up hook.
//
// The provider's readiness check of a claim waits for phase Pending on a
// WaitForFirstConsumer class (EKS mode's gp3, kind's default) and Bound otherwise. This
// patch comes after the StatefulSet, whose pod has bound the claim by then, so on such a
// class the wait could never end and every up timed out. skipAwait: the patch's only job
// is the requested size, which the API server has accepted (or refused) when the apply
// returns; the resize itself is the CSI driver's, and the StatefulSet's readiness already
// waits for the pod on this claim.
func (b *builder) claimSize(sts *appsv1.StatefulSet) error {
	_, err := corev1.NewPersistentVolumeClaimPatch(b.ctx, b.name+"-"+volumeName, &corev1.PersistentVolumeClaimPatchArgs{
		Metadata: &metav1.ObjectMetaPatchArgs{
			Name:        pulumi.Sprintf("%s-%s-0", volumeName, sts.Metadata.Name().Elem()),
			Namespace:   b.args.Namespace,
			Annotations: ownership.Annotations(pulumi.StringMap{"pulumi.com/skipAwait": pulumi.String("true")}),
		},
		Spec: &corev1.PersistentVolumeClaimSpecPatchArgs{
			Resources: &corev1.VolumeResourceRequirementsPatchArgs{
				Requests: pulumi.StringMap{"storage": pulumi.String(b.args.StorageSize)},
			},
		},
	}, pulumi.Parent(b.parent), pulumi.RetainOnDelete(true))
	return err
}

// initScriptName is the init script's file in the image's /docker-entrypoint-initdb.d.
const initScriptName = "create-accounts.sh"

// image is the container's image: Args.Image, or the official image of Args.Version.
func (a *Args) image() string {
	if a.Image != "" {
		return a.Image
	}
	return a.Version.Image()
}

// pullPolicy is Always for a series tag, which moves, and IfNotPresent for a pinned patch
// or a digest, which do not.
func pullPolicy(image string, v mysqlversion.Version) string {
	if _, _, digest := mysqlversion.SplitImage(image); v.Patch < 0 && digest == "" {
		return "Always"
	}
	return "IfNotPresent"
}

// optional turns "" into nil, leaving the name to Pulumi's auto-naming.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CredentialsAnnotation is the pod template annotation holding MySQL.CredentialsVersion.
const CredentialsAnnotation = "counter-mysql.io/credentials-version"

// credentials generates the passwords into a Secret. They are alphanumeric so they are
// safe unquoted in shells and DSNs, and marked secret so they are encrypted in state and
// masked in logs and outputs. Rotate them by replacing the RandomPassword resources
// (docs/operating.md); the version it returns changes with them.
func (b *builder) credentials() (*corev1.Secret, pulumi.StringOutput, error) {
	password := func(suffix string) (pulumi.StringOutput, error) {
		p, err := random.NewRandomPassword(b.ctx, b.name+"-"+suffix, &random.RandomPasswordArgs{
			Length: pulumi.Int(32), Special: pulumi.Bool(false),
		}, pulumi.Parent(b.parent))
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		return pulumi.ToSecret(p.Result).(pulumi.StringOutput), nil
	}
	root, err := password("root-password")
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	app, err := password("app-password")
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	exporter, err := password("exporter-password")
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	version := pulumi.All(root, app, exporter).ApplyT(func(pw []any) string {
		sum := sha256.Sum256([]byte(pw[0].(string) + "\n" + pw[1].(string) + "\n" + pw[2].(string)))
		return hex.EncodeToString(sum[:16])
	}).(pulumi.StringOutput)
	secret, err := corev1.NewSecret(b.ctx, b.name+"-credentials", &corev1.SecretArgs{
		Metadata: b.meta(SecretName),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			SecretKeyRootPassword:     root,
			SecretKeyAppUser:          pulumi.String(AppUser),
			SecretKeyAppPassword:      app,
			SecretKeyExporterPassword: exporter,
		},
	}, pulumi.Parent(b.parent))
	return secret, version, err
}

// fromSecret is an environment variable set from a key of the credentials Secret.
func fromSecret(secret pulumi.StringOutput, env, key string) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{Name: pulumi.String(env), ValueFrom: &corev1.EnvVarSourceArgs{
		SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: secret, Key: pulumi.String(key)},
	}}
}

func podSpec(args *Args, files serverFiles, secret pulumi.StringOutput) *corev1.PodSpecArgs {
	exec := func(command string) *corev1.ExecActionArgs {
		return &corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"sh", "-c", command})}
	}
	emptyDir := func(name, limit string) *corev1.VolumeArgs {
		return &corev1.VolumeArgs{Name: pulumi.String(name), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(limit)}}
	}
	mount := func(name, path string, readOnly bool) *corev1.VolumeMountArgs {
		return &corev1.VolumeMountArgs{Name: pulumi.String(name), MountPath: pulumi.String(path), ReadOnly: pulumi.Bool(readOnly)}
	}
	memory := pulumi.String(fmt.Sprintf("%dMi", args.Sizing.MemoryMiB))
	var sidecars corev1.ContainerArray
	if args.ExporterImage != "" {
		sidecars = append(sidecars, exporterContainer(args.ExporterImage, secret))
	}
	return &corev1.PodSpecArgs{
		SecurityContext: podsecurity.Pod(mysqlUID),
		// The database needs no Kubernetes API access.
		AutomountServiceAccountToken: pulumi.Bool(false),
		// Long enough for InnoDB to flush the buffer pool and shut down cleanly.
		TerminationGracePeriodSeconds: pulumi.Int(120),
		Containers: append(corev1.ContainerArray{&corev1.ContainerArgs{
			Name:  pulumi.String(containerName),
			Image: pulumi.String(args.image()),
			// The image's entrypoint, behind startScript: accounts follow the Secret.
			Command: pulumi.ToStringArray(containerCommand()),
			Env: corev1.EnvVarArray{
				fromSecret(secret, "MYSQL_ROOT_PASSWORD", SecretKeyRootPassword),
				&corev1.EnvVarArgs{Name: pulumi.String("MYSQL_DATABASE"), Value: pulumi.String(schema.Database)},
				fromSecret(secret, envAppUser, SecretKeyAppUser),
				fromSecret(secret, envAppPassword, SecretKeyAppPassword),
				fromSecret(secret, envExporterPassword, SecretKeyExporterPassword),
			},
			Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
				Name: pulumi.String("mysql"), ContainerPort: pulumi.Int(Port),
			}},
			// First start initialises the data directory and upgrades run on start, so
			// allow up to 10 minutes before liveness takes over.
			StartupProbe: &corev1.ProbeArgs{
				Exec: exec(pingProbe("startup")), PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(5), FailureThreshold: pulumi.Int(60),
			},
			LivenessProbe: &corev1.ProbeArgs{
				Exec: exec(pingProbe("liveness")), PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(5), FailureThreshold: pulumi.Int(6),
			},
			ReadinessProbe: &corev1.ProbeArgs{
				Exec: exec(readyProbe), PeriodSeconds: pulumi.Int(5), TimeoutSeconds: pulumi.Int(3), FailureThreshold: pulumi.Int(3),
			},
			// A series tag (mysql:8.4) moves with each patch release: pulling it at every
			// start keeps a rescheduled pod from running an older cached patch than the data
			// directory has seen. A pinned patch or a digest never changes, so the cached
			// image is right.
			ImagePullPolicy: pulumi.String(pullPolicy(args.image(), args.Version)),
			// Ephemeral storage is /tmp (MySQL's temporary files; this workload's are tiny)
			// and the socket directory, bounded by their emptyDirs' limits, plus logs.
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String(args.Sizing.CPURequest), "memory": memory, "ephemeral-storage": pulumi.String("256Mi")},
				Limits:   pulumi.StringMap{"cpu": pulumi.String(args.Sizing.CPULimit), "memory": memory, "ephemeral-storage": pulumi.String("1Gi")},
			},
			SecurityContext: podsecurity.Container(),
			VolumeMounts: corev1.VolumeMountArray{
				mount(volumeName, volumeMount, false),
				mount("config", "/etc/mysql/conf.d", true),
				mount("initdb", "/docker-entrypoint-initdb.d", true),
				// The only other writable paths: the socket/pid directory and temp files.
				mount("run", "/var/run/mysqld", false),
				mount("tmp", "/tmp", false),
				mount("init", initDir, false),
			},
		}}, sidecars...),
		Volumes: corev1.VolumeArray{
			&corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: files.config}},
			&corev1.VolumeArgs{Name: pulumi.String("initdb"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: files.initdb}},
			emptyDir("run", "16Mi"),
			emptyDir("tmp", "768Mi"),
			// The accounts file, with the passwords: in memory only, never on a disk.
			&corev1.VolumeArgs{Name: pulumi.String("init"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{
				Medium: pulumi.String("Memory"), SizeLimit: pulumi.String("1Mi"),
			}},
		},
	}
}

// exporterContainer is the metrics sidecar: mysqld_exporter reading MySQL's status as
// ExporterUser over the pod's loopback (127.0.0.1, not localhost: the exporter dials TCP),
// its password from the Secret in the variable it reads, never in an argument.
//
// It has no probes, on purpose. The pod is Ready only when all its containers are, and the
// headless Service publishes only ready pods (publishNotReadyAddresses false): the name
// the app connects to would vanish with any failing exporter probe, taking MySQL from the
// app for the sake of metrics. A container without probes is ready while it runs; whether
// the exporter works is for its scraper to see (the target's up, and mysql_up for MySQL).
// An exporter that exits still makes the pod NotReady until it runs again; an empty
// ExporterImage removes it.
func exporterContainer(image string, secret pulumi.StringOutput) *corev1.ContainerArgs {
	security := podsecurity.Container()
	// The pod runs as mysql; the exporter as the image's own nobody, owning nothing here.
	security.RunAsUser, security.RunAsGroup = pulumi.Int(exporterUID), pulumi.Int(exporterUID)
	return &corev1.ContainerArgs{
		Name:  pulumi.String(exporterContainerName),
		Image: pulumi.String(image),
		Args: pulumi.ToStringArray([]string{
			fmt.Sprintf("--mysqld.address=127.0.0.1:%d", Port),
			"--mysqld.username=" + ExporterUser,
			fmt.Sprintf("--web.listen-address=:%d", ExporterPort),
		}),
		Env: corev1.EnvVarArray{fromSecret(secret, "MYSQLD_EXPORTER_PASSWORD", SecretKeyExporterPassword)},
		Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
			Name: pulumi.String(ExporterPortName), ContainerPort: pulumi.Int(ExporterPort),
		}},
		// A pinned tag or digest (the stack checks): the cached image is right, and a
		// restart never waits on the registry while the pod, and so MySQL, is NotReady.
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		// It writes no files: ephemeral storage is its log, which the kubelet rotates at
		// 5 x 10Mi by default. Going over a limit evicts the whole pod, MySQL too, so the
		// limit is well above that. Going over the memory limit restarts the exporter (and
		// so makes the pod NotReady for that moment): ample for a process that keeps
		// nothing between scrapes.
		Resources: &corev1.ResourceRequirementsArgs{
			Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("64Mi"), "ephemeral-storage": pulumi.String("16Mi")},
			Limits:   pulumi.StringMap{"cpu": pulumi.String("200m"), "memory": pulumi.String("64Mi"), "ephemeral-storage": pulumi.String("128Mi")},
		},
		SecurityContext: security,
	}
}
