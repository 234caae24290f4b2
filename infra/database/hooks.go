package database

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/counter-mysql/counter-mysql/infra/mysqlversion"
)

// deleteVolumes returns the StatefulSet's after-delete hook: it deletes the deleted
// StatefulSet's PersistentVolumeClaims and waits until their volumes are gone, while the
// EBS CSI driver that must delete the EBS volumes still runs (the StatefulSet depends on
// it, so Pulumi deletes the driver later, and not at all once this hook has failed: CLIs
// before pulumi/pulumi#22935 only warned, hence the CLI version in the README). The claims are found from the deleted object's
// own namespace and selector, not from today's config, so a StatefulSet deleted because
// it moved never takes its successor's volume along. Keeping them (retainVolumes) is
// DeleteVolumes' decision, so the user is told what was kept and how to remove it.
func deleteVolumes(args *Args) pulumi.ResourceHookFunction {
	return func(hook *pulumi.ResourceHookArgs) error {
		namespace, selector, err := claimsOf(hook.OldOutputs, hook.OldInputs)
		if err != nil {
			return fmt.Errorf("deleting the MySQL volumes of %s: %w", hook.URN, err)
		}
		if err := args.DeleteVolumes(context.Background(), namespace, selector, args.RetainVolumes); err != nil {
			return fmt.Errorf("deleting the MySQL volumes in namespace %s (set counter-mysql:retainVolumes to keep them): %w",
				namespace, err)
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
