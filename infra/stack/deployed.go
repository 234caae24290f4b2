package stack

import (
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/eksversion"
	"github.com/counter-mysql/counter-mysql/infra/mysqlversion"
	"github.com/counter-mysql/counter-mysql/infra/restore"
)

// Some changes cannot be applied to a running database: a MySQL downgrade or a skipped
// release, and a smaller volume; nor to a running EKS cluster: a Kubernetes downgrade or
// a skipped minor. They are refused against what the last successful up exported
// (outputs mysqlVersion, mysqlStorageSize and kubernetesVersion), read through a reference to this
// very stack before anything else is registered: so `pulumi preview`, `pulumi up` and
// `pulumi up --skip-preview` all stop with one message and nothing changed. (The
// StatefulSet's version guard hook stays, for a deployment whose last up failed half-way
// and so exported nothing newer.)

// Deployed is what the last successful up exported; empty fields were not exported (a new
// stack, or one deployed before the output existed).
type Deployed struct {
	MySQLVersion     string
	MySQLStorageSize string
	// KubernetesVersion is the EKS cluster's minor version (output kubernetesVersion).
	KubernetesVersion string
	// Kubeconfig reaches the EKS cluster the last up created (output kubeconfig, a secret).
	Kubeconfig string
	// RestoredFrom is the snapshot the stack's volume started from (output
	// restoredFromSnapshot); zero if it started empty.
	RestoredFrom restore.Source
}

// restoredOutput is the output that records what the volume was restored from.
const restoredOutput = "restoredFromSnapshot"

// kubernetesVersionOutput records the EKS cluster's version (mode eks only).
const kubernetesVersionOutput = "kubernetesVersion"

// readDeployed reads the stack's own outputs.
func readDeployed(ctx *pulumi.Context) (Deployed, error) {
	name := fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), ctx.Stack())
	ref, err := pulumi.NewStackReference(ctx, "deployed", &pulumi.StackReferenceArgs{Name: pulumi.String(name)})
	if err != nil {
		return Deployed{}, err
	}
	var d Deployed
	for key, field := range map[string]*string{
		"mysqlVersion": &d.MySQLVersion, "mysqlStorageSize": &d.MySQLStorageSize, kubernetesVersionOutput: &d.KubernetesVersion,
	} {
		out, err := ref.GetOutputDetails(key)
		if err != nil {
			return Deployed{}, fmt.Errorf("reading output %s of the deployed stack %s: %w", key, name, err)
		}
		if s, ok := out.Value.(string); ok {
			*field = s
		}
	}
	out, err := ref.GetOutputDetails("kubeconfig")
	if err != nil {
		return Deployed{}, fmt.Errorf("reading output kubeconfig of the deployed stack %s: %w", name, err)
	}
	d.Kubeconfig, _ = out.SecretValue.(string)
	out, err = ref.GetOutputDetails(restoredOutput)
	if err != nil {
		return Deployed{}, fmt.Errorf("reading output %s of the deployed stack %s: %w", restoredOutput, name, err)
	}
	if m, ok := out.Value.(map[string]any); ok {
		d.RestoredFrom.From, _ = m["source"].(string)
		d.RestoredFrom.Driver, _ = m["driver"].(string)
		d.RestoredFrom.SnapshotHandle, _ = m["snapshotHandle"].(string)
	}
	return d, nil
}

// CheckDeployed refuses a configuration the deployed database cannot be changed to,
// naming the key and the fix.
func CheckDeployed(cfg config.Config, d Deployed) error {
	if d.MySQLVersion != "" {
		if old, err := mysqlversion.Parse(d.MySQLVersion); err == nil {
			if err := mysqlversion.CheckUpgrade(old, cfg.MySQLVersion); err != nil {
				if cfg.MySQLImage != "" {
					err = fmt.Errorf("%w (%s is the tag of %s:mysqlImage %q)", err, cfg.MySQLVersion, config.Project, cfg.MySQLImage)
				}
				return fmt.Errorf("refused before any change: %w", err)
			}
		}
	}
	if d.KubernetesVersion != "" && cfg.Mode == config.ModeEKS {
		if old, err := eksversion.Parse(d.KubernetesVersion); err == nil {
			if err := eksversion.CheckUpgrade(old, cfg.KubernetesVersion); err != nil {
				return fmt.Errorf("refused before any change: %w", err)
			}
		}
	}
	if d.MySQLStorageSize != "" {
		if old, err := resource.ParseQuantity(d.MySQLStorageSize); err == nil && cfg.MySQLStorageSize.Cmp(old) < 0 {
			return fmt.Errorf("refused before any change: %s:mysqlStorageSize %s is smaller than the deployed volume's %s, "+
				"and a volume cannot shrink: set it back to %s or more (a smaller disk needs a dump restored into a new stack)",
				config.Project, cfg.MySQLStorageSize.String(), old.String(), old.String())
		}
	}
	return nil
}

// CheckKubernetesVersion refuses a version EKS does not offer on today and returns the
// warnings preview shows without refusing: the version costs extended support, or the
// deployed stack predates its kubernetesVersion output so the change cannot be checked.
func CheckKubernetesVersion(cfg config.Config, d Deployed, today time.Time) (warnings []string, err error) {
	warning, err := eksversion.Check(cfg.KubernetesVersion, today)
	if err != nil {
		return nil, fmt.Errorf("refused before any change: %w", err)
	}
	if warning != "" {
		warnings = append(warnings, warning)
	}
	if d.KubernetesVersion == "" && d.MySQLVersion != "" {
		warnings = append(warnings, fmt.Sprintf("the deployed stack predates its %s output, so this preview cannot check %s %s "+
			"against the cluster's version: EKS upgrades one minor at a time and never down; see the version it runs "+
			"(aws eks describe-cluster --name <cluster> --query cluster.version) and set %s to that or one above",
			kubernetesVersionOutput, eksversion.ConfigKey, cfg.KubernetesVersion, eksversion.ConfigKey))
	}
	return warnings, nil
}
