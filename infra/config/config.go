// Package config reads the stack configuration into one typed value and validates all of
// it before the program registers any resource, so a bad setting costs nothing.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	appconfig "github.com/counter-mysql/counter-mysql/app/config"
	"github.com/counter-mysql/counter-mysql/infra/eksversion"
	"github.com/counter-mysql/counter-mysql/infra/mysqlversion"
)

// Project is the Pulumi project name, the namespace of every key below.
const Project = "counter-mysql"

// Mode says where the database and app run.
type Mode string

const (
	// ModeEKS creates an EKS cluster, the EBS CSI driver and a gp3 StorageClass.
	ModeEKS Mode = "eks"
	// ModeExisting deploys into a cluster reached through a kubeconfig and creates no AWS resources.
	ModeExisting Mode = "existing"
)

// Monitoring says whether the stack creates Prometheus Operator objects (PodMonitors, a
// PrometheusRule) and the Grafana dashboard's ConfigMap.
type Monitoring string

const (
	// MonitoringAuto creates them where the cluster serves monitoring.coreos.com/v1,
	// decided at preview.
	MonitoringAuto Monitoring = "auto"
	// MonitoringOn creates them and refuses a cluster that does not serve the API.
	MonitoringOn Monitoring = "on"
	// MonitoringOff creates none.
	MonitoringOff Monitoring = "off"
)

// Service types the counter Service may have.
const (
	ServiceClusterIP    = string(corev1.ServiceTypeClusterIP)
	ServiceLoadBalancer = string(corev1.ServiceTypeLoadBalancer)
)

// The MySQL connection budget: each app replica's pool holds at most AppDBConns
// connections (the coalescer keeps one statement in flight; the rest serve readiness
// checks and start-up), the metrics exporter at most ExporterDBConns (its account's
// MAX_USER_CONNECTIONS, database.ExporterMaxConnections), and MaxAppReplicas of the app's
// with the exporter's leave MySQL's MySQLMaxConnections room for administration.
const (
	MySQLMaxConnections = 100
	AppDBConns          = 4
	MaxAppReplicas      = 20
	ExporterDBConns     = 3
)

// Config is the whole validated stack configuration.
type Config struct {
	Mode Mode
	// Kubeconfig (existing mode) is a path or the file's contents; empty means the ambient one.
	Kubeconfig string
	// StorageClassName (existing mode) names the class for the MySQL volume; empty means the cluster default.
	StorageClassName string

	// KubernetesVersion has the right form; whether EKS offers it depends on the day
	// (eksversion.Check), so the program checks that, not Parse.
	KubernetesVersion eksversion.Version
	NodeInstanceType  string
	NodeMinSize       int
	NodeDesiredSize   int
	NodeMaxSize       int
	// VPCID and its subnets (mode eks) place the cluster; VPCID "" means the account's
	// default VPC. Nodes run in the private subnets when there are any, else the public ones.
	VPCID            string
	PublicSubnetIDs  []string
	PrivateSubnetIDs []string

	// MySQLVersion is the MySQL the stack deploys: mysqlVersion, or mysqlImage's tag (a
	// patch of mysqlVersion's series) when that is set.
	MySQLVersion mysqlversion.Version
	// MySQLImage is where MySQL is pulled from, as configured; "" means the official
	// image of MySQLVersion.
	MySQLImage       string
	MySQLStorageSize resource.Quantity
	// MySQLReadyTimeout bounds how long an up waits for MySQL to be Ready on its new spec.
	MySQLReadyTimeout time.Duration
	// MySQLExporter runs mysqld_exporter beside MySQL, from MySQLExporterImage.
	MySQLExporter      bool
	MySQLExporterImage string
	Namespace          string

	AppImage    string
	AppReplicas int
	ServiceType string
	// RequestTimeout is the app's REQUEST_TIMEOUT; 0 (unset) leaves the app's default.
	RequestTimeout time.Duration

	Monitoring Monitoring
	// MonitoringLabels go on the monitoring objects, so a Prometheus that selects them by
	// label (kube-prometheus-stack: release=<its release>) picks them up.
	MonitoringLabels map[string]string

	RetainVolumes        bool
	VolumeCleanupTimeout time.Duration
	// FinalSnapshot takes a VolumeSnapshot of the MySQL volume before a destroy deletes it.
	FinalSnapshot bool
	// SnapshotClassName (existing mode) names the VolumeSnapshotClass of the final
	// snapshot; empty means the cluster's default class.
	SnapshotClassName string
	// RestoreFromSnapshot makes a new stack's MySQL volume start from a snapshot: an EBS
	// snapshot id (snap-…) or, in existing mode, the name of a VolumeSnapshotContent or of
	// a VolumeSnapshot in the stack's namespace. Empty: a new, empty volume. Package
	// restore finds it and checks it can be restored.
	RestoreFromSnapshot string

	// AWSProfile is the AWS provider's aws:profile ("" when unset), which every EKS
	// kubeconfig names so `aws eks get-token` uses the same credentials.
	AWSProfile string
}

// Defaults are the values used for unset keys. Pulumi.yaml declares the same defaults for
// the CLI; a test keeps the two equal because mocks and `pulumi config` never apply them.
var Defaults = map[string]string{
	"mode":                 string(ModeEKS),
	"kubernetesVersion":    eksversion.Default,
	"nodeInstanceType":     "t3.medium",
	"nodeMinSize":          "2",
	"nodeDesiredSize":      "2",
	"nodeMaxSize":          "4",
	"mysqlVersion":         "8.4",
	"mysqlStorageSize":     "20Gi",
	"mysqlReadyTimeout":    "15m",
	"mysqlExporter":        "true",
	"mysqlExporterImage":   "prom/mysqld-exporter:v0.17.2",
	"namespace":            "counter",
	"appReplicas":          "3",
	"serviceType":          ServiceClusterIP,
	"requestTimeout":       "",
	"monitoring":           string(MonitoringAuto),
	"monitoringLabels":     "",
	"retainVolumes":        "false",
	"volumeCleanupTimeout": "10m",
	"finalSnapshot":        "true",
}

// Keys is every key the program reads, in the order the README documents them.
var Keys = []string{
	"mode", "kubeconfig", "storageClassName",
	"kubernetesVersion", "nodeInstanceType", "nodeMinSize", "nodeDesiredSize", "nodeMaxSize",
	"vpcId", "publicSubnetIds", "privateSubnetIds",
	"mysqlVersion", "mysqlImage", "mysqlStorageSize", "mysqlReadyTimeout", "mysqlExporter", "mysqlExporterImage", "namespace",
	"appImage", "appReplicas", "serviceType", "requestTimeout",
	"monitoring", "monitoringLabels",
	"retainVolumes", "volumeCleanupTimeout", "finalSnapshot", "snapshotClassName", "restoreFromSnapshot",
}

// Load reads and validates the stack's configuration.
func Load(ctx *pulumi.Context) (Config, error) {
	present, err := projectKeys(os.Getenv(pulumi.EnvConfig))
	if err != nil {
		return Config{}, err
	}
	c, err := Parse(pulumiconfig.New(ctx, Project).Get, present...)
	c.AWSProfile = pulumiconfig.Get(ctx, "aws:profile")
	return c, err
}

// projectKeys are the keys of this project that the stack sets, from the configuration
// the language host hands the program (JSON in PULUMI_CONFIG, "project:key" -> value).
func projectKeys(env string) ([]string, error) {
	if env == "" {
		return nil, nil
	}
	var all map[string]string
	if err := json.Unmarshal([]byte(env), &all); err != nil {
		return nil, fmt.Errorf("reading the stack configuration (%s): %w", pulumi.EnvConfig, err)
	}
	var keys []string
	for k := range all {
		if key, ok := strings.CutPrefix(k, Project+":"); ok {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// Parse validates raw values from get ("" when unset) and returns one error that lists
// every bad key with its fix, so a user fixes the stack in one round. present are the keys
// the stack sets: one the program does not know (a typo) is refused, not silently ignored.
func Parse(get func(key string) string, present ...string) (Config, error) {
	p := parser{get: get}
	for _, key := range present {
		if !slices.Contains(Keys, key) {
			p.fail(key, "is not a setting of this program (a typo?): did you mean %s:%s? Remove it with pulumi config rm %s:%s",
				Project, closest(key), Project, key)
		}
	}
	c := Config{
		Mode:             Mode(p.oneOf("mode", string(ModeEKS), string(ModeExisting))),
		Kubeconfig:       get("kubeconfig"),
		StorageClassName: get("storageClassName"),

		KubernetesVersion: p.kubernetesVersion(),
		NodeInstanceType:  p.match("nodeInstanceType", instanceType, `an EC2 instance type such as "t3.medium"`),
		NodeMinSize:       p.positive("nodeMinSize"),
		NodeDesiredSize:   p.positive("nodeDesiredSize"),
		NodeMaxSize:       p.positive("nodeMaxSize"),
		VPCID:             p.optionalMatch("vpcId", vpcID, "a VPC id such as vpc-0123456789abcdef0 (aws ec2 describe-vpcs)"),
		PublicSubnetIDs:   p.subnetIDs("publicSubnetIds"),
		PrivateSubnetIDs:  p.subnetIDs("privateSubnetIds"),

		MySQLVersion:     p.mysqlVersion(),
		MySQLStorageSize: p.quantity("mysqlStorageSize"),
		// The startup probe alone allows a first start 10 minutes; the floor keeps a
		// typo (15s for 15m) from failing every up, the ceiling keeps a stuck up bounded.
		MySQLReadyTimeout:  p.durationIn("mysqlReadyTimeout", 30*time.Second, 6*time.Hour),
		MySQLExporter:      p.bool("mysqlExporter"),
		MySQLExporterImage: p.pinnedImage("mysqlExporterImage", "registry.example.com/prom/mysqld-exporter:v0.17.2"),
		Namespace:          p.dns1123Label("namespace"),

		AppImage:    p.image("appImage", "ghcr.io/you/counter:v1"),
		AppReplicas: p.positive("appReplicas"),
		ServiceType: p.oneOf("serviceType", ServiceClusterIP, ServiceLoadBalancer),
		// The app's own range, so what it would refuse at start is refused at preview.
		RequestTimeout: p.optionalDurationIn("requestTimeout", appconfig.MinRequestTimeout, appconfig.MaxRequestTimeout),

		Monitoring:       Monitoring(p.oneOf("monitoring", string(MonitoringAuto), string(MonitoringOn), string(MonitoringOff))),
		MonitoringLabels: p.labels("monitoringLabels"),

		RetainVolumes:        p.bool("retainVolumes"),
		VolumeCleanupTimeout: p.duration("volumeCleanupTimeout"),
		FinalSnapshot:        p.bool("finalSnapshot"),
		SnapshotClassName:    p.dns1123Subdomain("snapshotClassName"),
		RestoreFromSnapshot:  p.snapshotSource("restoreFromSnapshot"),
	}
	c.MySQLVersion, c.MySQLImage = p.mysqlImage(c.MySQLVersion)
	if c.NodeMinSize > 0 && c.NodeDesiredSize > 0 && c.NodeMaxSize > 0 &&
		(c.NodeMinSize > c.NodeDesiredSize || c.NodeDesiredSize > c.NodeMaxSize) {
		p.fail("nodeDesiredSize", "%d must lie between nodeMinSize (%d) and nodeMaxSize (%d): make nodeMinSize <= nodeDesiredSize <= nodeMaxSize",
			c.NodeDesiredSize, c.NodeMinSize, c.NodeMaxSize)
	}
	if c.AppReplicas > MaxAppReplicas {
		p.fail("appReplicas", "%d is too many: use at most %d (each replica may hold %d of MySQL's %d connections)",
			c.AppReplicas, MaxAppReplicas, AppDBConns, MySQLMaxConnections)
	}
	if c.Mode == ModeExisting && c.AppImage == "" {
		p.fail("appImage", "is required with mode existing, which creates no registry: build and load an image "+
			"(docker build -f app/Dockerfile -t counter:dev . && kind load docker-image counter:dev), then pulumi config set appImage counter:dev")
	}
	// Keys that only make sense in one mode are refused in the other, which avoids a
	// silent "why is my kubeconfig ignored".
	for _, only := range []struct {
		mode Mode
		keys []string
	}{
		{ModeExisting, []string{"kubeconfig", "storageClassName", "snapshotClassName"}},
		{ModeEKS, []string{"vpcId", "publicSubnetIds", "privateSubnetIds"}},
	} {
		for _, key := range only.keys {
			if c.Mode != "" && c.Mode != only.mode && get(key) != "" {
				p.fail(key, "is only used with mode %s: remove it, or set %s:mode to %s", only.mode, Project, only.mode)
			}
		}
	}
	if c.Mode == ModeEKS {
		p.network(c)
	}
	if c.Mode == ModeEKS && c.RestoreFromSnapshot != "" && !EBSSnapshotID.MatchString(c.RestoreFromSnapshot) {
		p.fail("restoreFromSnapshot", "%q names a Kubernetes object, but mode eks creates a new cluster, which has none: "+
			"use the EBS snapshot id (snap-…; a final snapshot's is its snapshotHandle, printed by the destroy)", c.RestoreFromSnapshot)
	}
	if len(p.errs) > 0 {
		return Config{}, p.err()
	}
	return c, nil
}

// EBSSnapshotID is the form of an EBS snapshot id: snap- and 8 or 17 hex digits.
var EBSSnapshotID = regexp.MustCompile(`^snap-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)

var (
	instanceType = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	// vpcID and subnetID are AWS's resource id forms: a prefix and 8 or 17 hex digits.
	vpcID    = regexp.MustCompile(`^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetID = regexp.MustCompile(`^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)
	// imageRef is the docker reference grammar, simplified: optional registry host[:port],
	// lower-case path components, optional tag and digest.
	imageRef = regexp.MustCompile(`^(?:[a-zA-Z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*` +
		`(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)
)

// closest is the known key most like key, case aside.
func closest(key string) string {
	best, bestDist := Keys[0], -1
	for _, k := range Keys {
		if d := levenshtein.Distance(strings.ToLower(key), strings.ToLower(k), nil); bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// parser collects one error per bad key instead of stopping at the first.
type parser struct {
	get  func(string) string
	errs []error
}

// err lists every problem, one per line.
func (p *parser) err() error {
	lines := make([]string, len(p.errs))
	for i, e := range p.errs {
		lines[i] = e.Error()
	}
	return errors.New("invalid stack configuration:\n  " + strings.Join(lines, "\n  "))
}

func (p *parser) fail(key, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s:%s %s", Project, key, fmt.Sprintf(format, args...)))
}

// value is the configured value, or the default when unset.
func (p *parser) value(key string) string {
	if v := p.get(key); v != "" {
		return v
	}
	return Defaults[key]
}

func (p *parser) oneOf(key string, allowed ...string) string {
	v := p.value(key)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(key, "%q is not allowed: use %s", v, strings.Join(allowed, " or "))
	return ""
}

func (p *parser) match(key string, re *regexp.Regexp, want string) string {
	v := p.value(key)
	if !re.MatchString(v) {
		p.fail(key, "%q is not valid: use %s", v, want)
	}
	return v
}

func (p *parser) positive(key string) int {
	v := p.value(key)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		p.fail(key, "%q is not valid: use a whole number >= 1", v)
		return 0
	}
	return n
}

// labels reads key=value pairs separated by commas, as kubectl label takes them.
func (p *parser) labels(key string) map[string]string {
	v := p.value(key)
	if v == "" {
		return nil
	}
	labels := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(val)...)
		if !ok || len(errs) > 0 {
			p.fail(key, "%q is not a label: use name=value pairs separated by commas, e.g. release=kube-prometheus-stack (%s)",
				pair, strings.Join(errs, "; "))
			continue
		}
		labels[k] = val
	}
	return labels
}

func (p *parser) bool(key string) bool {
	v := p.value(key)
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(key, "%q is not valid: use true or false", v)
	}
	return b
}

func (p *parser) duration(key string) time.Duration {
	v := p.value(key)
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(key, "%q is not valid: use a positive Go duration such as 10m or 90s", v)
	}
	return d
}

// durationIn is a duration within [lo, hi].
func (p *parser) durationIn(key string, lo, hi time.Duration) time.Duration {
	d := p.duration(key)
	if d > 0 && (d < lo || d > hi) {
		p.fail(key, "%s is out of range: use a Go duration from %s to %s", d, lo, hi)
	}
	return d
}

// optionalDurationIn is durationIn, or 0 when the key is unset.
func (p *parser) optionalDurationIn(key string, lo, hi time.Duration) time.Duration {
	if p.value(key) == "" {
		return 0
	}
	return p.durationIn(key, lo, hi)
}

func (p *parser) quantity(key string) resource.Quantity {
	v := p.value(key)
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() <= 0 {
		p.fail(key, "%q is not valid: use a positive Kubernetes quantity such as 20Gi", v)
	}
	return q
}

// systemNamespaces belong to the cluster: the stack creates its namespace and deletes it on
// destroy, with everything in it.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

func (p *parser) dns1123Label(key string) string {
	v := p.value(key)
	if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
		p.fail(key, "%q is not a valid namespace name (%s): use lower-case letters, digits and '-', e.g. counter", v, strings.Join(errs, "; "))
	}
	if slices.Contains(systemNamespaces, v) {
		p.fail(key, "%q belongs to the cluster: the stack creates its namespace and deletes it, with all it holds, on destroy; use a namespace of its own, e.g. counter", v)
	}
	return v
}

// dns1123Subdomain is an optional object name, such as a VolumeSnapshotClass's.
func (p *parser) dns1123Subdomain(key string) string {
	v := p.value(key)
	if errs := validation.IsDNS1123Subdomain(v); v != "" && len(errs) > 0 {
		p.fail(key, "%q is not a valid object name (%s): use the name of an existing one (kubectl get volumesnapshotclass), or leave it unset", v, strings.Join(errs, "; "))
	}
	return v
}

// snapshotSource is an optional EBS snapshot id or the name of a snapshot object.
func (p *parser) snapshotSource(key string) string {
	v := p.value(key)
	if v == "" || EBSSnapshotID.MatchString(v) {
		return v
	}
	if strings.HasPrefix(v, "snap-") {
		p.fail(key, "%q is not an EBS snapshot id: use snap- and 8 or 17 hex digits, as aws ec2 describe-snapshots shows", v)
	} else if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
		p.fail(key, "%q is neither an EBS snapshot id (snap-…) nor a valid object name (%s): use one of those (kubectl get volumesnapshotcontent), or leave it unset",
			v, strings.Join(errs, "; "))
	}
	return v
}

// image is an optional image reference; example is one for the message.
func (p *parser) image(key, example string) string {
	v := p.value(key)
	if v != "" && !imageRef.MatchString(v) {
		p.fail(key, "%q is not an image reference: use registry/name:tag, e.g. %s", v, example)
	}
	return v
}

// pinnedImage is an image reference with a tag other than latest, or a digest: a tag that
// moves would change what runs whenever a node pulls it.
func (p *parser) pinnedImage(key, example string) string {
	refused := len(p.errs)
	ref := p.image(key, example)
	if _, tag, digest := mysqlversion.SplitImage(ref); len(p.errs) == refused && digest == "" && (tag == "" || tag == "latest") {
		p.fail(key, "%q is not pinned: give it a version tag or a digest, e.g. %s", ref, example)
	}
	return ref
}

func (p *parser) optionalMatch(key string, re *regexp.Regexp, want string) string {
	if p.value(key) == "" {
		return ""
	}
	return p.match(key, re, want)
}

// subnetIDs is an optional comma-separated list of subnet ids.
func (p *parser) subnetIDs(key string) []string {
	v := p.value(key)
	if v == "" {
		return nil
	}
	var ids []string
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		if !subnetID.MatchString(id) {
			p.fail(key, "%q is not a subnet id: use a comma-separated list such as subnet-0123456789abcdef0,subnet-89abcdef (aws ec2 describe-subnets)", id)
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

// network checks that a configured VPC comes with subnets and the subnets with their VPC:
// pulumi-eks would otherwise mix the default VPC's subnets into another VPC's cluster.
func (p *parser) network(c Config) {
	subnets := len(c.PublicSubnetIDs) + len(c.PrivateSubnetIDs)
	switch {
	case c.VPCID == "" && subnets > 0:
		p.fail("vpcId", "is unset, but subnets are configured: set %s:vpcId to their VPC, or remove publicSubnetIds and privateSubnetIds to use the default VPC", Project)
	case c.VPCID != "" && subnets < 2:
		p.fail("vpcId", "%s needs subnets in at least two availability zones (EKS requires two): "+
			"set %s:privateSubnetIds (nodes) and/or %s:publicSubnetIds (load balancers; nodes too when there are no private ones), comma-separated",
			c.VPCID, Project, Project)
	}
}

func (p *parser) kubernetesVersion() eksversion.Version {
	v, err := eksversion.Parse(p.value("kubernetesVersion"))
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s %w", eksversion.ConfigKey, err))
	}
	return v
}

func (p *parser) mysqlVersion() mysqlversion.Version {
	v, err := mysqlversion.Parse(p.value("mysqlVersion"))
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s %w", mysqlversion.ConfigKey, err))
	}
	return v
}

// mysqlImage is the optional mysqlImage and the version it deploys: its tag, the only
// thing that says which MySQL an image is, which must be what mysqlVersion (configured)
// asks for.
func (p *parser) mysqlImage(configured mysqlversion.Version) (mysqlversion.Version, string) {
	const key = "mysqlImage"
	refused := len(p.errs)
	ref := p.image(key, "registry.example.com/mysql:8.4.3")
	if ref == "" || len(p.errs) > refused {
		return configured, ref
	}
	// configured is zero when mysqlVersion is invalid, which is reported already.
	known := configured != (mysqlversion.Version{})
	example := "8.4.3"
	if known {
		example = configured.String()
	}
	name, tag, digest := mysqlversion.SplitImage(ref)
	switch {
	case tag == "" && digest != "":
		p.fail(key, "%q has no tag, and a digest alone cannot say which MySQL it is: add the tag before the @digest, e.g. %s:%s@%s",
			ref, name, example, digest)
		return configured, ref
	case tag == "":
		p.fail(key, "%q has no tag, so it cannot say which MySQL it is: add the MySQL version as its tag, e.g. %s:%s", ref, name, example)
		return configured, ref
	}
	v, err := mysqlversion.Parse(tag)
	if err != nil {
		p.fail(key, "%q: its tag %v", ref, err)
		return configured, ref
	}
	if known && !configured.Admits(v) {
		tagged := configured.String()
		if configured.Patch < 0 {
			tagged += " or " + configured.String() + ".N"
		}
		p.fail(key, "%q has MySQL %s but %s is %s: set mysqlVersion to %s as well, or use an image tagged %s",
			ref, v, mysqlversion.ConfigKey, configured, v, tagged)
	}
	return v, ref
}
