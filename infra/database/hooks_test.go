package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
		// A registry's port and a digest are not the tag.
		{inputs("localhost:5000/mysql:8.4.3@sha256:" + strings.Repeat("0", 64)), inputs("mysql:8.4.2"), "8.4.3 -> 8.4.2 is a downgrade"},
		{inputs("mysql:8.4"), inputs("localhost:5000/mysql:8.0@sha256:" + strings.Repeat("0", 64)), "8.4 -> 8.0 is a downgrade"},
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

// deleted is a StatefulSet's state as its before-delete hook receives it.
func deleted(namespace string) resource.PropertyMap {
	return resource.NewPropertyMapFromMap(map[string]any{
		"metadata": map[string]any{"name": StatefulSetName, "namespace": namespace},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{
			"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "counter-mysql-dev",
		}}},
	})
}

// volumesState is the volumes ConfigMap's state as its before-delete hook receives it.
func volumesState(namespace string) resource.PropertyMap {
	return resource.NewPropertyMapFromMap(map[string]any{
		"metadata": map[string]any{"name": VolumesConfigMapName, "namespace": namespace},
		"data":     map[string]any{volumesKeySelector: selector},
	})
}

const selector = "app.kubernetes.io/instance=counter-mysql-dev,app.kubernetes.io/name=mysql"

// fakeVolumes records the calls the hooks make.
type fakeVolumes struct {
	calls []string
	err   error
}

func (f *fakeVolumes) Adopt(_ context.Context, _ *slog.Logger, ns string, claims []string) error {
	f.calls = append(f.calls, fmt.Sprint("adopt ", ns, " ", claims))
	return f.err
}

func (f *fakeVolumes) Keep(_ context.Context, _ *slog.Logger, ns, sel string) error {
	f.calls = append(f.calls, fmt.Sprint("keep ", ns, " ", sel))
	return f.err
}

func (f *fakeVolumes) Release(_ context.Context, _ *slog.Logger, ns, sel string, retain bool) error {
	f.calls = append(f.calls, fmt.Sprint("release ", ns, " ", sel, " retain=", retain))
	return f.err
}

func TestVolumeHooks(t *testing.T) {
	tests := []struct {
		name      string
		hook      func(*Args, *slog.Logger) pulumi.ResourceHookFunction
		args      pulumi.ResourceHookArgs
		retain    bool
		volumeErr error
		want      []string // the calls to Volumes
		wantErr   string
	}{
		{name: "release deletes the claims the ConfigMap names, in its namespace", hook: releaseVolumes,
			args: pulumi.ResourceHookArgs{OldOutputs: volumesState("old-ns")},
			want: []string{"release old-ns " + selector + " retain=false"}},
		{name: "release falls back to the old inputs", hook: releaseVolumes,
			args: pulumi.ResourceHookArgs{OldOutputs: resource.PropertyMap{}, OldInputs: volumesState("counter")},
			want: []string{"release counter " + selector + " retain=false"}},
		{name: "release passes the current retainVolumes on", hook: releaseVolumes, retain: true,
			args: pulumi.ResourceHookArgs{OldOutputs: volumesState("counter")},
			want: []string{"release counter " + selector + " retain=true"}},
		{name: "release with no state to go by is an error, not a guess", hook: releaseVolumes,
			wantErr: "no namespace and claimSelector"},
		{name: "release failure is reported with what to do", hook: releaseVolumes, volumeErr: errors.New("pv-123 still Released"),
			args:    pulumi.ResourceHookArgs{OldOutputs: volumesState("counter")},
			want:    []string{"release counter " + selector + " retain=false"},
			wantErr: "set project:retainVolumes to keep them; run the destroy again once fixed): pv-123 still Released"},
		{name: "keep does nothing unless retainVolumes is set now", hook: keepVolumes,
			args: pulumi.ResourceHookArgs{OldOutputs: deleted("counter")}},
		{name: "keep keeps the deleted StatefulSet's claims", hook: keepVolumes, retain: true,
			args: pulumi.ResourceHookArgs{OldOutputs: deleted("old-ns")},
			want: []string{"keep old-ns " + selector}},
		{name: "keep with no state to go by is an error", hook: keepVolumes, retain: true,
			wantErr: "no namespace and selector"},
		{name: "adopt names the claim the new StatefulSet will create", hook: adoptVolumes,
			args: pulumi.ResourceHookArgs{NewInputs: deleted("counter")},
			want: []string{"adopt counter [data-mysql-0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &fakeVolumes{err: tt.volumeErr}
			err := tt.hook(&Args{RetainVolumes: tt.retain, RetainVolumesSetting: "project:retainVolumes", Volumes: v}, slog.New(slog.DiscardHandler))(&tt.args)
			if !slices.Equal(v.calls, tt.want) {
				t.Errorf("Volumes calls = %q, want %q", v.calls, tt.want)
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
