package database

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/counter-mysql/counter-mysql/infra/mysqlversion"
)

// deleteVolumes returns the StatefulSet's after-delete hook: it deletes the StatefulSet's
// PersistentVolumeClaims and waits until their volumes are gone, while the EBS CSI driver
// that must delete the EBS volumes still runs (the StatefulSet depends on it, so Pulumi
// deletes the driver later). With RetainVolumes set it keeps them.
func deleteVolumes(args *Args, selector map[string]string) pulumi.ResourceHookFunction {
	return func(*pulumi.ResourceHookArgs) error {
		if args.RetainVolumes {
			return nil
		}
		if err := args.DeleteVolumes(context.Background(), k8slabels.SelectorFromSet(selector).String()); err != nil {
			return fmt.Errorf("deleting the MySQL volumes in namespace %s (set %s:retainVolumes to keep them): %w",
				args.Namespace, "counter-mysql", err)
		}
		return nil
	}
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
