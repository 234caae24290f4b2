package monitoring

import "testing"

// The alerts select the jobs the Prometheus Operator names after the PodMonitors
// ("<namespace>/<name>"): a renamed PodMonitor would leave every alert silent.
func TestAlertsSelectThePodMonitorsJobs(t *testing.T) {
	a := AlertArgs("shop", true)
	if a.AppJob != "shop/"+AppMonitorName || a.MySQLJob != "shop/"+MySQLMonitorName {
		t.Errorf("alerts select jobs %q and %q, want shop/%s and shop/%s", a.AppJob, a.MySQLJob, AppMonitorName, MySQLMonitorName)
	}
	if a := AlertArgs("shop", false); a.MySQLJob != "" {
		t.Errorf("without the exporter the alerts select job %q, want none", a.MySQLJob)
	}
}
