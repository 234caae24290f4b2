package stack

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/mysqlversion"
	"github.com/counter-mysql/counter-mysql/infra/restore"
)

// Some changes cannot be applied to a running database: a MySQL downgrade or a skipped
// release, and a smaller volume. They are refused against what the last successful up
// exported (outputs mysqlVersion and mysqlStorageSize), read through a reference to this
// very stack before anything else is registered: so `pulumi preview`, `pulumi up` and
// `pulumi up --skip-preview` all stop with one message and nothing changed. (The
// StatefulSet's version guard hook stays, for a deployment whose last up failed half-way
// and so exported nothing newer.)

// Deployed is what the last successful up exported; empty fields were not exported (a new
// stack, or one deployed before the output existed).
type Deployed struct {
	MySQLVersion     string
	MySQLStorageSize string
	// RestoredFrom is the snapshot the stack's volume started from (output
	// restoredFromSnapshot); zero if it started empty.
	RestoredFrom restore.Source
}

// restoredOutput is the output that records what the volume was restored from.
const restoredOutput = "restoredFromSnapshot"

// readDeployed reads the stack's own outputs.
func readDeployed(ctx *pulumi.Context) (Deployed, error) {
	name := fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), ctx.Stack())
	ref, err := pulumi.NewStackReference(ctx, "deployed", &pulumi.StackReferenceArgs{Name: pulumi.String(name)})
	if err != nil {
		return Deployed{}, err
	}
	var d Deployed
	for key, field := range map[string]*string{"mysqlVersion": &d.MySQLVersion, "mysqlStorageSize": &d.MySQLStorageSize} {
		out, err := ref.GetOutputDetails(key)
		if err != nil {
			return Deployed{}, fmt.Errorf("reading output %s of the deployed stack %s: %w", key, name, err)
		}
		if s, ok := out.Value.(string); ok {
			*field = s
		}
	}
	out, err := ref.GetOutputDetails(restoredOutput)
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
