package database

import (
	"context"
	"errors"
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

func TestDeleteVolumesHook(t *testing.T) {
	selector := map[string]string{"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "counter-mysql-dev"}
	tests := []struct {
		name      string
		retain    bool
		deleteErr error
		wantCalls int
		wantErr   string
	}{
		{name: "deletes", wantCalls: 1},
		{name: "retain deletes nothing", retain: true, wantCalls: 0},
		{name: "failure is reported", deleteErr: errors.New("pv-123 still Released"), wantCalls: 1, wantErr: "pv-123 still Released"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var selectors []string
			args := &Args{Namespace: "counter", RetainVolumes: tt.retain, DeleteVolumes: func(_ context.Context, sel string) error {
				selectors = append(selectors, sel)
				return tt.deleteErr
			}}
			err := deleteVolumes(args, selector)(&pulumi.ResourceHookArgs{Name: StatefulSetName})
			if len(selectors) != tt.wantCalls {
				t.Fatalf("DeleteVolumes called %d times, want %d", len(selectors), tt.wantCalls)
			}
			if tt.wantCalls > 0 && selectors[0] != "app.kubernetes.io/instance=counter-mysql-dev,app.kubernetes.io/name=mysql" {
				t.Errorf("selector = %q", selectors[0])
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
