package database_test

import (
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
)

// TestNodeTestIsThePod: the node tier runs what NodeTest returns, so it must be what the
// StatefulSet's pod runs: command, environment, probes, the ConfigMaps' files where they
// are mounted, and the writable mounts.
func TestNodeTestIsThePod(t *testing.T) {
	_, objs := render(t, nil)
	node := database.NodeTest(args(t).Sizing, "root-pw", "app-pw", "exporter-pw")
	pod := pulumitest.Field(objs.get(t, "StatefulSet/mysql"), "spec", "template", "spec")
	container := pulumitest.Field(pod, "containers", "0").(map[string]any)

	strs := func(v any) []string {
		var out []string
		for _, s := range v.([]any) {
			out = append(out, s.(string))
		}
		return out
	}
	if got := strs(container["command"]); !slices.Equal(got, node.Command) {
		t.Errorf("command:\n%q\nNodeTest:\n%q", got, node.Command)
	}
	for probe, name := range map[string]string{"startupProbe": "startup", "livenessProbe": "liveness", "readinessProbe": "readiness"} {
		if got := strs(pulumitest.Field(container, probe, "exec", "command")); !slices.Equal(got, node.Probes[name]) {
			t.Errorf("%s: %q, NodeTest %q", probe, got, node.Probes[name])
		}
	}
	var env []string
	for _, e := range container["env"].([]any) {
		e := e.(map[string]any)
		value, _ := e["value"].(string)
		if key, ok := pulumitest.Field(e, "valueFrom", "secretKeyRef", "key").(string); ok {
			value = map[string]string{
				database.SecretKeyRootPassword: "root-pw", database.SecretKeyAppUser: database.AppUser,
				database.SecretKeyAppPassword: "app-pw", database.SecretKeyExporterPassword: "exporter-pw",
			}[key]
		}
		env = append(env, e["name"].(string)+"="+value)
	}
	if !slices.Equal(env, node.Env) {
		t.Errorf("env:\n%q\nNodeTest:\n%q", env, node.Env)
	}

	// Volume name -> ConfigMap data, for the mounted files.
	data := map[string]map[string]any{}
	for _, v := range pod.(map[string]any)["volumes"].([]any) {
		v := v.(map[string]any)
		if cm, ok := pulumitest.Field(v, "configMap", "name").(string); ok {
			for key, obj := range objs {
				if pulumitest.Field(obj, "metadata", "name") == cm && strings.HasPrefix(key, "ConfigMap/") {
					data[v["name"].(string)], _ = obj["data"].(map[string]any)
				}
			}
		}
	}
	var writable []string
	files := map[string]string{}
	for _, m := range container["volumeMounts"].([]any) {
		m := m.(map[string]any)
		if ro, _ := m["readOnly"].(bool); !ro {
			writable = append(writable, m["mountPath"].(string))
			continue
		}
		for name, content := range data[m["name"].(string)] {
			files[path.Join(m["mountPath"].(string), name)] = content.(string)
		}
	}
	slices.Sort(writable)
	want := slices.Sorted(slices.Values(node.Writable))
	if !slices.Equal(writable, want) {
		t.Errorf("writable mounts %q, NodeTest %q", writable, want)
	}
	if len(files) != len(node.Files) {
		t.Errorf("mounted files %d, NodeTest %d", len(files), len(node.Files))
	}
	for p, content := range node.Files {
		if files[p] != content {
			t.Errorf("%s: pod has\n%s\nNodeTest has\n%s", p, files[p], content)
		}
	}
}
