package database

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/counter-mysql/counter-mysql/infra/mysqlversion"
)

// The data volume's life cycle, in hooks because only the program knows the user's
// current retainVolumes and only the deployment knows when a step happens:
//   - adoptVolumes, before the StatefulSet is created: a volume an earlier stack kept for
//     the claim about to be created is bound to it, so the data comes back;
//   - keepVolumes, before the StatefulSet is deleted: with retainVolumes, its volumes are
//     made to outlive their claims (the last up's claim policy may be Delete, and the
//     namespace's deletion takes the claims anyway);
//   - releaseVolumes, before the volumes ConfigMap is deleted, which is after the
//     StatefulSet and before the storage (the CSI driver): the claims are deleted and the
//     volumes waited for, or kept. If it fails, the ConfigMap stays in the stack and the
//     next destroy runs it again.
// The claims are found from the deleted objects' own state, not from today's config, so a
// StatefulSet deleted because it moved never takes its successor's volume along.

// hooks are the database's resource hooks, registered once per program run.
type hooks struct {
	adopt, keep, release, versionGuard *pulumi.ResourceHook
}

// Suffixes of the hook names, after the component's name. A deployed stack's state refers
// to its resources' hooks by name, so these must never change.
const (
	volumeAdoptHook   = "-volume-adopt"
	volumeKeepHook    = "-volume-keep"
	volumeReleaseHook = "-volume-release"
	versionGuardHook  = "-version-guard"
)

func registerHooks(ctx *pulumi.Context, component string, args *Args, log *slog.Logger) (*hooks, error) {
	var h hooks
	for _, r := range []struct {
		into **pulumi.ResourceHook
		name string // suffix
		fn   pulumi.ResourceHookFunction
		opts *pulumi.ResourceHookOptions
	}{
		{&h.adopt, volumeAdoptHook, adoptVolumes(args, log), nil},
		{&h.keep, volumeKeepHook, keepVolumes(args, log), nil},
		{&h.release, volumeReleaseHook, releaseVolumes(args, log), nil},
		// Also at preview, so a refused upgrade shows before anything is planned.
		{&h.versionGuard, versionGuardHook, guardVersion, &pulumi.ResourceHookOptions{OnDryRun: true}},
	} {
		hook, err := ctx.RegisterResourceHook(component+r.name, r.fn, r.opts)
		if err != nil {
			return nil, err
		}
		*r.into = hook
	}
	return &h, nil
}

func adoptVolumes(args *Args, log *slog.Logger) pulumi.ResourceHookFunction {
	return func(hook *pulumi.ResourceHookArgs) error {
		obj := resource.NewObjectProperty(hook.NewInputs)
		ns, name := get(obj, "metadata", "namespace"), get(obj, "metadata", "name")
		if !ns.IsString() || !name.IsString() {
			return fmt.Errorf("re-using kept MySQL volumes: no namespace and name in the new StatefulSet's inputs (%s)", hook.URN)
		}
		claims := []string{fmt.Sprintf("%s-%s-0", volumeName, name.StringValue())}
		if err := args.Volumes.Adopt(context.Background(), log, ns.StringValue(), claims); err != nil {
			return fmt.Errorf("re-using kept MySQL volumes in namespace %s: %w", ns.StringValue(), err)
		}
		return nil
	}
}

func keepVolumes(args *Args, log *slog.Logger) pulumi.ResourceHookFunction {
	return func(hook *pulumi.ResourceHookArgs) error {
		if !args.RetainVolumes {
			return nil
		}
		namespace, selector, err := claimsOf(hook.OldOutputs, hook.OldInputs)
		if err != nil {
			return fmt.Errorf("keeping the MySQL volumes of %s: %w", hook.URN, err)
		}
		if err := args.Volumes.Keep(context.Background(), log, namespace, selector); err != nil {
			return fmt.Errorf("keeping the MySQL volumes in namespace %s (retainVolumes): %w", namespace, err)
		}
		return nil
	}
}

func releaseVolumes(args *Args, log *slog.Logger) pulumi.ResourceHookFunction {
	return func(hook *pulumi.ResourceHookArgs) error {
		var namespace, selector string
		for _, state := range []resource.PropertyMap{hook.OldOutputs, hook.OldInputs} {
			obj := resource.NewObjectProperty(state)
			ns, sel := get(obj, "metadata", "namespace"), get(obj, "data", volumesKeySelector)
			if ns.IsString() && sel.IsString() && ns.StringValue() != "" && sel.StringValue() != "" {
				namespace, selector = ns.StringValue(), sel.StringValue()
				break
			}
		}
		if selector == "" {
			return fmt.Errorf("deleting the MySQL volumes: no namespace and %s in the state of %s", volumesKeySelector, hook.URN)
		}
		if err := args.Volumes.Release(context.Background(), log, namespace, selector, args.RetainVolumes); err != nil {
			return fmt.Errorf("deleting the MySQL volumes in namespace %s (set %s to keep them; run the destroy again once fixed): %w",
				namespace, args.RetainVolumesSetting, err)
		}
		return nil
	}
}

// claimsOf finds the namespace and the claims' label selector (the StatefulSet selector's
// matchLabels) in the first of the given states that has both.
func claimsOf(states ...resource.PropertyMap) (namespace, selector string, err error) {
	for _, state := range states {
		obj := resource.NewObjectProperty(state)
		ns := get(obj, "metadata", "namespace")
		match := get(obj, "spec", "selector", "matchLabels")
		if !ns.IsString() || ns.StringValue() == "" || !match.IsObject() {
			continue
		}
		set := map[string]string{}
		for k, v := range match.ObjectValue() {
			if v = plain(v); v.IsString() {
				set[string(k)] = v.StringValue()
			}
		}
		if len(set) > 0 {
			return ns.StringValue(), k8slabels.SelectorFromSet(set).String(), nil
		}
	}
	return "", "", fmt.Errorf("no namespace and selector in the deleted StatefulSet's state")
}

// guardVersion is the StatefulSet's before-update hook, run at preview too: it refuses a
// MySQL version change that MySQL cannot do in place, before anything is touched.
func guardVersion(hook *pulumi.ResourceHookArgs) error {
	old, err := mysqlImageVersion(hook.OldInputs)
	if err != nil {
		return nil // nothing to compare: the deployed StatefulSet has no version we know
	}
	next, err := mysqlImageVersion(hook.NewInputs)
	if err != nil {
		return nil // not known yet at preview; checked again at update
	}
	return mysqlversion.CheckUpgrade(old, next)
}

// mysqlImageVersion reads spec.template.spec.containers[name=mysql].image.
func mysqlImageVersion(inputs resource.PropertyMap) (mysqlversion.Version, error) {
	containers := get(resource.NewObjectProperty(inputs), "spec", "template", "spec", "containers")
	if !containers.IsArray() {
		return mysqlversion.Version{}, fmt.Errorf("no containers in the inputs")
	}
	for _, c := range containers.ArrayValue() {
		if name := get(c, "name"); name.IsString() && name.StringValue() == containerName {
			if image := get(c, "image"); image.IsString() {
				return mysqlversion.FromImage(image.StringValue())
			}
		}
	}
	return mysqlversion.Version{}, fmt.Errorf("no %s container image in the inputs", containerName)
}

// get walks object keys, seeing through secret and known output wrappers; it returns a
// null value when any step is missing or unknown.
func get(v resource.PropertyValue, path ...string) resource.PropertyValue {
	for _, key := range path {
		v = plain(v)
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(key)]
	}
	return plain(v)
}

func plain(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput() && v.OutputValue().Known:
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}
