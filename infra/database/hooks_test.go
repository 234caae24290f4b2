package database

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// inputs is a StatefulSet's inputs as a hook receives them.
func inputs(image string) resource.PropertyMap {
	return resource.NewPropertyMapFromMap(map[string]any{
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{
				map[string]any{"name": "sidecar", "image": "busybox:1"},
				map[string]any{"name": containerName, "image": image},
			},
		}}},
	})
}

func TestGuardVersion(t *testing.T) {
	tests := []struct {
		old, next resource.PropertyMap
		wantErr   string
	}{
		{inputs("mysql:8.4"), inputs("mysql:8.4.3"), ""},
		{inputs("mysql:8.0"), inputs("mysql:8.4"), ""},
		{inputs("mysql:8.4"), inputs("mysql:9.1"), ""},
		{inputs("mysql:8.4"), inputs("mysql:8.0"), "counter-mysql:mysqlVersion: 8.4 -> 8.0 is a downgrade"},
		{inputs("mysql:8.0.40"), inputs("mysql:9.2"), "upgrade to 8.4 first"},
		// Secrets and known outputs are seen through.
		{resource.PropertyMap{"spec": resource.MakeSecret(resource.NewObjectProperty(inputs("mysql:9.2")["spec"].ObjectValue()))}, inputs("mysql:9.1"), "9.2 -> 9.1 is a downgrade"},
		// Nothing to compare: allowed rather than blocking every update.
		{resource.PropertyMap{}, inputs("mysql:8.4"), ""},
		{inputs("mysql:8.4"), resource.PropertyMap{"spec": resource.MakeComputed(resource.NewStringProperty(""))}, ""},
		{inputs("mysql:lts"), inputs("mysql:8.4"), ""},
	}
	for i, tt := range tests {
		err := guardVersion(&pulumi.ResourceHookArgs{OldInputs: tt.old, NewInputs: tt.next})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("case %d: refused: %v", i, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("case %d: error = %v, want %q", i, err, tt.wantErr)
		}
	}
}

// deleted is a StatefulSet's state as the after-delete hook receives it.
func deleted(namespace string) resource.PropertyMap {
	return resource.NewPropertyMapFromMap(map[string]any{
		"metadata": map[string]any{"name": StatefulSetName, "namespace": namespace},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{
			"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "counter-mysql-dev",
		}}},
	})
}

func TestDeleteVolumesHook(t *testing.T) {
	const selector = "app.kubernetes.io/instance=counter-mysql-dev,app.kubernetes.io/name=mysql"
	tests := []struct {
		name          string
		old           pulumi.ResourceHookArgs
		deleteErr     error
		retain        bool
		wantNamespace string // "" when DeleteVolumes must not be called
		wantErr       string
	}{
		{name: "deletes the claims of the deleted StatefulSet",
			old: pulumi.ResourceHookArgs{OldOutputs: deleted("counter"), OldInputs: deleted("counter")}, wantNamespace: "counter"},
		{name: "uses the deleted object's namespace, not the configured one",
			old: pulumi.ResourceHookArgs{OldOutputs: deleted("old-ns")}, wantNamespace: "old-ns"},
		{name: "falls back to the old inputs",
			old: pulumi.ResourceHookArgs{OldOutputs: resource.PropertyMap{}, OldInputs: deleted("counter")}, wantNamespace: "counter"},
		{name: "no state to go by is an error, not a guess",
			old: pulumi.ResourceHookArgs{}, wantErr: "no namespace and selector"},
		{name: "retainVolumes is passed on: keeping is DeleteVolumes' decision", retain: true,
			old: pulumi.ResourceHookArgs{OldOutputs: deleted("counter")}, wantNamespace: "counter"},
		{name: "failure is reported", deleteErr: errors.New("pv-123 still Released"),
			old: pulumi.ResourceHookArgs{OldOutputs: deleted("counter")}, wantNamespace: "counter", wantErr: "pv-123 still Released"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			args := &Args{Namespace: "counter", RetainVolumes: tt.retain, DeleteVolumes: func(_ context.Context, ns, sel string, retain bool) error {
				calls = append(calls, fmt.Sprint(ns, " ", sel, " retain=", retain))
				return tt.deleteErr
			}}
			err := deleteVolumes(args)(&tt.old)
			var want []string
			if tt.wantNamespace != "" {
				want = []string{fmt.Sprint(tt.wantNamespace, " ", selector, " retain=", tt.retain)}
			}
			if !slices.Equal(calls, want) {
				t.Errorf("DeleteVolumes calls = %q, want %q", calls, want)
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
