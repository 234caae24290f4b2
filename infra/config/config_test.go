package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const testImage = "ghcr.io/counter-mysql/counter:test"

// getter serves values from a map the way pulumi config.Get does: "" when unset.
func getter(values map[string]string) func(string) string {
	return func(key string) string { return values[key] }
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse(getter(map[string]string{"appImage": testImage}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Mode", c.Mode, ModeEKS},
		{"KubernetesVersion", c.KubernetesVersion.String(), "1.36"},
		{"VPCID", c.VPCID, ""},
		{"Subnets", len(c.PublicSubnetIDs) + len(c.PrivateSubnetIDs), 0},
		{"NodeInstanceType", c.NodeInstanceType, "t3.medium"},
		{"Node sizes", [3]int{c.NodeMinSize, c.NodeDesiredSize, c.NodeMaxSize}, [3]int{2, 2, 4}},
		{"MySQLVersion", c.MySQLVersion.String(), "8.4"},
		{"MySQLImage", c.MySQLImage, ""},
		{"MySQLStorageSize", c.MySQLStorageSize.String(), "20Gi"},
		{"MySQLExporter", c.MySQLExporter, true},
		{"MySQLExporterImage", c.MySQLExporterImage, "prom/mysqld-exporter:v0.17.2"},
		{"Namespace", c.Namespace, "counter"},
		{"AppImage", c.AppImage, testImage},
		{"AppReplicas", c.AppReplicas, 3},
		{"ServiceType", c.ServiceType, ServiceClusterIP},
		{"RequestTimeout (unset: the app's own default)", c.RequestTimeout, time.Duration(0)},
		{"Monitoring", c.Monitoring, MonitoringAuto},
		{"MonitoringLabels", len(c.MonitoringLabels), 0},
		{"RetainVolumes", c.RetainVolumes, false},
		{"VolumeCleanupTimeout", c.VolumeCleanupTimeout, 10 * time.Minute},
		{"FinalSnapshot", c.FinalSnapshot, true},
		{"SnapshotClassName", c.SnapshotClassName, ""},
		{"RestoreFromSnapshot", c.RestoreFromSnapshot, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestParseAcceptsExistingMode(t *testing.T) {
	c, err := Parse(getter(map[string]string{
		"appImage": testImage, "mode": "existing", "kubeconfig": "/tmp/kc", "storageClassName": "standard",
		"retainVolumes": "true", "serviceType": "LoadBalancer", "mysqlVersion": "9.1.0",
		"finalSnapshot": "false", "snapshotClassName": "csi-aws-vsc",
		"monitoring": "on", "monitoringLabels": "release=kube-prometheus-stack, team=data",
		"requestTimeout": "10s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Monitoring != MonitoringOn || len(c.MonitoringLabels) != 2 || c.MonitoringLabels["release"] != "kube-prometheus-stack" || c.MonitoringLabels["team"] != "data" {
		t.Errorf("monitoring %q with labels %v, want on with release and team", c.Monitoring, c.MonitoringLabels)
	}
	if c.RequestTimeout != 10*time.Second {
		t.Errorf("requestTimeout 10s read as %s", c.RequestTimeout)
	}
	if c.Mode != ModeExisting || c.Kubeconfig != "/tmp/kc" || c.StorageClassName != "standard" ||
		!c.RetainVolumes || c.FinalSnapshot || c.SnapshotClassName != "csi-aws-vsc" || c.ServiceType != ServiceLoadBalancer || c.MySQLVersion.Image() != "mysql:9.1.0" {
		t.Errorf("unexpected config %+v", c)
	}
}

// TestParseRejects checks each bad value fails with a message naming its key and a fix.
func TestParseRejects(t *testing.T) {
	tests := []struct {
		key, value string
		want       string
	}{
		{"mode", "gke", `counter-mysql:mode "gke" is not allowed: use eks or existing`},
		{"kubeconfig", "/tmp/kc", "counter-mysql:kubeconfig is only used with mode existing"},
		{"storageClassName", "gp2", "counter-mysql:storageClassName is only used with mode existing"},
		{"kubernetesVersion", "1.33.1", `counter-mysql:kubernetesVersion "1.33.1" is not a Kubernetes minor version: use one such as "1.36"`},
		{"vpcId", "default", `counter-mysql:vpcId "default" is not valid: use a VPC id such as vpc-0123456789abcdef0`},
		{"vpcId", "vpc-0123456789abcdef0", "counter-mysql:vpcId vpc-0123456789abcdef0 needs subnets in at least two availability zones"},
		{"privateSubnetIds", "subnet-0123456789abcdef0", "counter-mysql:vpcId is unset, but subnets are configured: set counter-mysql:vpcId"},
		{"publicSubnetIds", "subnet-0123456789abcdef0, nat", `counter-mysql:publicSubnetIds "nat" is not a subnet id: use a comma-separated list`},
		{"nodeInstanceType", "big", `counter-mysql:nodeInstanceType "big" is not valid`},
		{"nodeMinSize", "0", `counter-mysql:nodeMinSize "0" is not valid: use a whole number >= 1`},
		{"nodeDesiredSize", "5", "counter-mysql:nodeDesiredSize 5 must lie between nodeMinSize (2) and nodeMaxSize (4)"},
		{"nodeMaxSize", "1", "counter-mysql:nodeDesiredSize 2 must lie between"},
		{"nodeMaxSize", "four", `counter-mysql:nodeMaxSize "four" is not valid`},
		{"mysqlVersion", "8.1", `counter-mysql:mysqlVersion "8.1" is not supported: use 8.0, 8.4 or 9.x (optionally with a patch, e.g. 8.4.3)`},
		{"mysqlVersion", "latest", `counter-mysql:mysqlVersion "latest" is not a MySQL version`},
		{"mysqlStorageSize", "20GB", `counter-mysql:mysqlStorageSize "20GB" is not valid: use a positive Kubernetes quantity`},
		{"mysqlStorageSize", "0", `counter-mysql:mysqlStorageSize "0" is not valid`},
		{"namespace", "Counter_NS", `counter-mysql:namespace "Counter_NS" is not a valid namespace name`},
		{"namespace", "kube-system", `counter-mysql:namespace "kube-system" belongs to the cluster`},
		{"namespace", "default", `counter-mysql:namespace "default" belongs to the cluster`},
		{"appImage", "Not An Image", `counter-mysql:appImage "Not An Image" is not an image reference`},
		{"mysqlExporter", "on", `counter-mysql:mysqlExporter "on" is not valid: use true or false`},
		{"mysqlExporterImage", "prom/mysqld-exporter:v0.17.2 ", `counter-mysql:mysqlExporterImage "prom/mysqld-exporter:v0.17.2 " is not an image reference: use registry/name:tag, e.g. registry.example.com/prom/mysqld-exporter:v0.17.2`},
		{"mysqlExporterImage", "registry.example.com/prom/mysqld-exporter", `counter-mysql:mysqlExporterImage "registry.example.com/prom/mysqld-exporter" is not pinned: give it a version tag or a digest`},
		{"mysqlExporterImage", "prom/mysqld-exporter:latest", `counter-mysql:mysqlExporterImage "prom/mysqld-exporter:latest" is not pinned`},
		{"appReplicas", "-1", `counter-mysql:appReplicas "-1" is not valid`},
		{"appReplicas", "21", `counter-mysql:appReplicas 21 is too many: use at most 20`},
		{"serviceType", "NodePort", `counter-mysql:serviceType "NodePort" is not allowed: use ClusterIP or LoadBalancer`},
		// The app's REQUEST_TIMEOUT range, so a value the app would refuse at start is refused at preview.
		{"requestTimeout", "5ms", "counter-mysql:requestTimeout 5ms is out of range: use a Go duration from 10ms to 1m0s"},
		{"requestTimeout", "2m", "counter-mysql:requestTimeout 2m0s is out of range"},
		{"requestTimeout", "2", `counter-mysql:requestTimeout "2" is not valid: use a positive Go duration`},
		{"requestTimeout", "-1s", `counter-mysql:requestTimeout "-1s" is not valid`},
		{"monitoring", "yes", `counter-mysql:monitoring "yes" is not allowed: use auto or on or off`},
		{"monitoringLabels", "release", `counter-mysql:monitoringLabels "release" is not a label: use name=value pairs`},
		{"monitoringLabels", "a=b,release=kube prometheus", `counter-mysql:monitoringLabels "release=kube prometheus" is not a label`},
		{"monitoringLabels", "-x=1", `counter-mysql:monitoringLabels "-x=1" is not a label`},
		{"retainVolumes", "yes please", `counter-mysql:retainVolumes "yes please" is not valid: use true or false`},
		{"volumeCleanupTimeout", "10", `counter-mysql:volumeCleanupTimeout "10" is not valid`},
		{"volumeCleanupTimeout", "-1m", `counter-mysql:volumeCleanupTimeout "-1m" is not valid`},
		{"finalSnapshot", "maybe", `counter-mysql:finalSnapshot "maybe" is not valid: use true or false`},
		{"mysqlReadyTimeout", "15s", "counter-mysql:mysqlReadyTimeout 15s is out of range: use a Go duration from 30s to 6h0m0s"},
		{"mysqlReadyTimeout", "1000h", "counter-mysql:mysqlReadyTimeout 1000h0m0s is out of range"},
		{"mysqlReadyTimeout", "soon", `counter-mysql:mysqlReadyTimeout "soon" is not valid`},
		// The EKS stack makes its own class.
		{"snapshotClassName", "csi-aws-vsc", "counter-mysql:snapshotClassName is only used with mode existing"},
		{"restoreFromSnapshot", "snap-12345", `counter-mysql:restoreFromSnapshot "snap-12345" is not an EBS snapshot id: use snap- and 8 or 17 hex digits`},
		{"restoreFromSnapshot", "Final_Snap", `counter-mysql:restoreFromSnapshot "Final_Snap" is neither an EBS snapshot id (snap-…) nor a valid object name`},
		// A new EKS cluster has no snapshot objects to name.
		{"restoreFromSnapshot", "snapcontent-1234", `counter-mysql:restoreFromSnapshot "snapcontent-1234" names a Kubernetes object, but mode eks creates a new cluster`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, err := Parse(getter(map[string]string{"appImage": testImage, tt.key: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// digest is a well-formed image digest.
const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestParseMySQLImage: mysqlImage's tag is the deployed version, which must be what
// mysqlVersion asks for; every other image is refused naming both keys and the fix.
func TestParseMySQLImage(t *testing.T) {
	const ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/mysql"
	tests := []struct {
		version, image string
		deployed       string // the deployed version, when accepted
		wantErr        string
	}{
		{"", ecr + ":8.4.3", "8.4.3", ""}, // mysqlVersion's default, 8.4
		{"8.4", ecr + ":8.4", "8.4", ""},
		{"8.4.3", "registry.example.com/mysql:8.4.3@" + digest, "8.4.3", ""},
		{"8.4", "localhost:5000/mysql:8.4.3", "8.4.3", ""},
		{"9.1", "localhost:5000/mysql:9.1.2", "9.1.2", ""},
		{"8.4", "reg/mysql:9.1", "", `counter-mysql:mysqlImage "reg/mysql:9.1" has MySQL 9.1 but counter-mysql:mysqlVersion is 8.4: ` +
			"set mysqlVersion to 9.1 as well, or use an image tagged 8.4 or 8.4.N"},
		{"8.4.3", "reg/mysql:8.4.2", "", `counter-mysql:mysqlImage "reg/mysql:8.4.2" has MySQL 8.4.2 but counter-mysql:mysqlVersion is 8.4.3: ` +
			"set mysqlVersion to 8.4.2 as well, or use an image tagged 8.4.3"},
		{"8.4.3", "reg/mysql:8.4", "", "set mysqlVersion to 8.4 as well, or use an image tagged 8.4.3"},
		{"8.4", "localhost:5000/mysql@" + digest, "", `counter-mysql:mysqlImage "localhost:5000/mysql@` + digest + `" has no tag, ` +
			"and a digest alone cannot say which MySQL it is: add the tag before the @digest, e.g. localhost:5000/mysql:8.4@" + digest},
		{"8.4", "localhost:5000/mysql", "", `counter-mysql:mysqlImage "localhost:5000/mysql" has no tag, so it cannot say which MySQL it is: ` +
			"add the MySQL version as its tag, e.g. localhost:5000/mysql:8.4"},
		{"8.4", "reg/mysql:lts", "", `counter-mysql:mysqlImage "reg/mysql:lts": its tag "lts" is not a MySQL version: use 8.0, 8.4 or 9.x`},
		{"8.4", "reg/mysql:8.1", "", `counter-mysql:mysqlImage "reg/mysql:8.1": its tag "8.1" is not supported`},
		{"8.4", "reg/MySQL:8.4", "", `counter-mysql:mysqlImage "reg/MySQL:8.4" is not an image reference: use registry/name:tag, e.g. registry.example.com/mysql:8.4.3`},
		{"8.4", "reg/mysql:8.4 ", "", `counter-mysql:mysqlImage "reg/mysql:8.4 " is not an image reference`},
		{"8.4", "reg/mysql:8.4@sha256:abc", "", `counter-mysql:mysqlImage "reg/mysql:8.4@sha256:abc" is not an image reference`},
		// A bad mysqlVersion is reported once, not again as a mismatch.
		{"8.1", "reg/mysql:8.4", "", `counter-mysql:mysqlVersion "8.1" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.version+" "+tt.image, func(t *testing.T) {
			c, err := Parse(getter(map[string]string{"appImage": testImage, "mysqlVersion": tt.version, "mysqlImage": tt.image}))
			if tt.wantErr == "" {
				if err != nil || c.MySQLVersion.String() != tt.deployed || c.MySQLImage != tt.image {
					t.Fatalf("version %q, image %q, err %v; want version %s and the image as given", c.MySQLVersion, c.MySQLImage, err, tt.deployed)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tt.wantErr)
			}
			if n := strings.Count(err.Error(), "\n"); n != 1 {
				t.Errorf("%d problems reported, want 1:\n%v", n, err)
			}
		})
	}
}

func TestParseAcceptsANetwork(t *testing.T) {
	c, err := Parse(getter(map[string]string{
		"vpcId":            "vpc-0123456789abcdef0",
		"privateSubnetIds": "subnet-0123456789abcdef0, subnet-0123456789abcdef1",
		"publicSubnetIds":  "subnet-89abcdef",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.VPCID != "vpc-0123456789abcdef0" || !slices.Equal(c.PrivateSubnetIDs, []string{"subnet-0123456789abcdef0", "subnet-0123456789abcdef1"}) ||
		!slices.Equal(c.PublicSubnetIDs, []string{"subnet-89abcdef"}) {
		t.Errorf("network = %q %q %q", c.VPCID, c.PrivateSubnetIDs, c.PublicSubnetIDs)
	}
	// The existing cluster's network is not the stack's to choose.
	_, err = Parse(getter(map[string]string{"mode": "existing", "appImage": testImage, "vpcId": "vpc-0123456789abcdef0"}))
	if want := "counter-mysql:vpcId is only used with mode eks"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestParseAcceptsRestoreSources(t *testing.T) {
	for _, tc := range []struct{ mode, value string }{
		{"eks", "snap-0123456789abcdef0"}, {"eks", "snap-89abcdef"},
		{"existing", "snap-0123456789abcdef0"}, {"existing", "snapcontent-7d2f5a3e-0c1b-4b6e-9a8f-1e2d3c4b5a69"},
	} {
		c, err := Parse(getter(map[string]string{"appImage": testImage, "mode": tc.mode, "restoreFromSnapshot": tc.value}))
		if err != nil || c.RestoreFromSnapshot != tc.value {
			t.Errorf("mode %s, restoreFromSnapshot %s: %q, %v", tc.mode, tc.value, c.RestoreFromSnapshot, err)
		}
	}
}

func TestParseRejectsABadSnapshotClassName(t *testing.T) {
	_, err := Parse(getter(map[string]string{"appImage": testImage, "mode": "existing", "snapshotClassName": "Not_A_Name"}))
	want := `counter-mysql:snapshotClassName "Not_A_Name" is not a valid object name`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v\nwant it to contain %q", err, want)
	}
}

func TestAppImageIsOptionalOnlyInEKSMode(t *testing.T) {
	c, err := Parse(getter(nil))
	if err != nil || c.AppImage != "" {
		t.Fatalf("eks mode without appImage: %+v, %v; want it accepted (the program builds the image)", c.AppImage, err)
	}
	_, err = Parse(getter(map[string]string{"mode": "existing"}))
	if err == nil || !strings.Contains(err.Error(), "counter-mysql:appImage is required with mode existing") {
		t.Fatalf("error = %v, want appImage to be required in existing mode", err)
	}
}

func TestParseListsEveryProblemAtOnce(t *testing.T) {
	_, err := Parse(getter(map[string]string{"mysqlVersion": "5.7", "namespace": "A", "appReplicas": "0", "mode": "existing"}))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, key := range []string{"mysqlVersion", "namespace", "appReplicas", "appImage"} {
		if !strings.Contains(err.Error(), "counter-mysql:"+key) {
			t.Errorf("error does not mention %s:\n%v", key, err)
		}
	}
}

// pulumiYAML is the part of Pulumi.yaml this package must agree with.
type pulumiYAML struct {
	Name   string `json:"name"`
	Config map[string]struct {
		Type        string `json:"type"`
		Default     any    `json:"default"`
		Description string `json:"description"`
	} `json:"config"`
}

func readYAML(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestPulumiYAMLMatchesDefaults keeps the CLI's defaults (Pulumi.yaml) and the program's
// (Defaults) from drifting, and makes sure every key the program reads is declared.
func TestPulumiYAMLMatchesDefaults(t *testing.T) {
	var project pulumiYAML
	readYAML(t, "Pulumi.yaml", &project)
	if project.Name != Project {
		t.Errorf("Pulumi.yaml name = %q, want %q", project.Name, Project)
	}
	for _, key := range Keys {
		decl, ok := project.Config[key]
		if !ok {
			t.Errorf("Pulumi.yaml does not declare %s", key)
			continue
		}
		if decl.Description == "" || decl.Type == "" {
			t.Errorf("Pulumi.yaml %s needs a type and a description", key)
		}
		// The CLI refuses a stack that leaves a key declared without a default unset
		// ("missing required configuration"), before the program runs.
		if decl.Default == nil {
			t.Errorf("Pulumi.yaml %s has no default, so the CLI requires every stack to set it: give it default: %q", key, Defaults[key])
			continue
		}
		yamlDefault := fmt.Sprint(decl.Default)
		if yamlDefault != Defaults[key] {
			t.Errorf("default of %s: Pulumi.yaml %q, Go %q", key, yamlDefault, Defaults[key])
		}
	}
	if len(project.Config) != len(Keys) {
		t.Errorf("Pulumi.yaml declares %d keys, the program reads %d", len(project.Config), len(Keys))
	}
}

// TestDevStackIsValid parses the committed dev stack the way the program would.
func TestDevStackIsValid(t *testing.T) {
	var stack struct {
		Config map[string]string `json:"config"`
	}
	readYAML(t, "Pulumi.dev.yaml", &stack)
	values := map[string]string{}
	for k, v := range stack.Config {
		if key, ok := strings.CutPrefix(k, Project+":"); ok {
			values[key] = v
		}
	}
	if len(values) == 0 {
		t.Fatal("Pulumi.dev.yaml sets no counter-mysql keys")
	}
	if _, err := Parse(getter(values)); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownKeysAreRefused: a mistyped key is refused naming the closest known one, rather
// than silently ignored while the default applies.
func TestUnknownKeysAreRefused(t *testing.T) {
	for key, want := range map[string]string{
		"mysqlversion": "did you mean counter-mysql:mysqlVersion?",
		"replicas":     "did you mean counter-mysql:appReplicas?",
		"retainVolume": "did you mean counter-mysql:retainVolumes?",
	} {
		_, err := Parse(getter(map[string]string{"appImage": testImage, key: "x"}), "appImage", key)
		if err == nil || !strings.Contains(err.Error(), "counter-mysql:"+key+" is not a setting") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error = %v, want it to say %q", key, err, want)
		}
	}
	if _, err := Parse(getter(map[string]string{"appImage": testImage}), Keys...); err != nil {
		t.Errorf("every known key refused: %v", err)
	}
}

func TestProjectKeys(t *testing.T) {
	keys, err := projectKeys(`{"counter-mysql:mysqlversion":"8.4","aws:region":"eu-west-1","counter-mysql:namespace":"x"}`)
	if err != nil || strings.Join(keys, ",") != "mysqlversion,namespace" {
		t.Errorf("projectKeys = %v, %v; want the project's keys only, sorted", keys, err)
	}
	if _, err := projectKeys("{not json"); err == nil {
		t.Error("a malformed PULUMI_CONFIG was accepted")
	}
}

// TestKeysAreWhatParseReads keeps the hand-kept Keys (the README's order, the unknown-key
// check) equal to the keys Parse actually reads, in every mode.
func TestKeysAreWhatParseReads(t *testing.T) {
	for _, mode := range []string{string(ModeEKS), string(ModeExisting)} {
		read := map[string]bool{}
		_, _ = Parse(func(key string) string {
			read[key] = true
			if key == "mode" {
				return mode
			}
			return ""
		})
		for _, k := range Keys {
			if !read[k] {
				t.Errorf("mode %s: Keys lists %q, which Parse never reads", mode, k)
			}
			delete(read, k)
		}
		for k := range read {
			t.Errorf("mode %s: Parse reads %q, which Keys lacks (a stack setting it would be refused as unknown)", mode, k)
		}
	}
}
