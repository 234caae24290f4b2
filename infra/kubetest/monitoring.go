package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
)

// PrometheusOperatorVersion is the release whose monitoring.coreos.com/v1 CRDs
// InstallMonitoringCRDs installs; it must match tools/promcrd/go.mod and build.sh (a test
// checks go.mod).
const PrometheusOperatorVersion = "v0.95.2"

// MonitoringCRDDir is where tools/promcrd/build.sh (`make monitoring-crds`) generates the
// Prometheus Operator's CRDs: ${XDG_CACHE_HOME:-$HOME/.cache}/counter-mysql/prometheus-operator-crds-v0.95.2.
func MonitoringCRDDir() string {
	return CacheDir("prometheus-operator-crds-" + PrometheusOperatorVersion)
}

// InstallMonitoringCRDs installs the Prometheus Operator's monitoring.coreos.com/v1 CRDs
// (PodMonitor, ServiceMonitor, PrometheusRule, Prometheus, ...) and waits until they are
// served. They are generated from the operator's API types, as upstream generates its
// release YAMLs, by `make monitoring-crds`.
func InstallMonitoringCRDs(ctx context.Context, cfg *rest.Config) error {
	files, err := monitoringCRDFiles()
	if err != nil {
		return err
	}
	return installCRDs(ctx, cfg, files)
}

// monitoringCRDFiles lists the generated CRDs, or says how to generate them. The stamp
// build.sh writes last tells a finished generation from an interrupted one.
func monitoringCRDFiles() ([]string, error) {
	dir := MonitoringCRDDir()
	files, _ := filepath.Glob(filepath.Join(dir, "monitoring.coreos.com_*.yaml"))
	if _, err := os.Stat(filepath.Join(dir, "versions")); err != nil || len(files) == 0 {
		return nil, fmt.Errorf("kubetest: the Prometheus Operator %s CRDs are not generated in %s: run `make monitoring-crds` (infra/kubetest/tools/promcrd/build.sh)", PrometheusOperatorVersion, dir)
	}
	return files, nil
}
