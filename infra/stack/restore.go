package stack

import (
	"context"
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/kubeclient"
	"github.com/counter-mysql/counter-mysql/infra/restore"
	"github.com/counter-mysql/counter-mysql/infra/storage"
)

// restoreSource is what the MySQL volume starts from (nil: empty), decided before any
// resource is registered (package restore): for a deployed stack, what it started from.
func restoreSource(ctx *pulumi.Context, cfg config.Config, d Deployed) (*restore.Source, error) {
	r := restore.Request{
		Setting: config.Project + ":restoreFromSnapshot", Value: cfg.RestoreFromSnapshot,
		Size: cfg.MySQLStorageSize, SizeSetting: config.Project + ":mysqlStorageSize",
	}
	var deployed *restore.Source
	if d.MySQLVersion != "" { // every successful up exports it
		deployed = &d.RestoredFrom
	}
	return restore.Decide(r, deployed, func() (restore.Source, error) {
		if cfg.Mode == config.ModeEKS {
			return restore.FromEBS(ctx, r, storage.Driver)
		}
		clients, err := kubeclient.FromConfig(cfg.Kubeconfig)()
		if err != nil {
			return restore.Source{}, fmt.Errorf("%s: reaching the cluster (%s:kubeconfig) to find the snapshot: %w", r.Setting, config.Project, err)
		}
		lookup, cancel := context.WithTimeout(ctx.Context(), time.Minute)
		defer cancel()
		return restore.FromCluster(lookup, restore.Cluster{
			Kube: clients.Kube, Snapshots: clients.Snapshots, Namespace: cfg.Namespace, Claim: database.ClaimName,
			StorageClass: cfg.StorageClassName, SnapshotName: database.RestoreSnapshotName,
		}, r)
	})
}
