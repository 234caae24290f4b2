package enginelog

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// recorder is a pulumi.Log that keeps what it is given.
type recorder struct{ lines []string }

func (r *recorder) add(level, msg string) error {
	r.lines = append(r.lines, level+": "+msg)
	return nil
}
func (r *recorder) Debug(msg string, _ *pulumi.LogArgs) error { return r.add("debug", msg) }
func (r *recorder) Info(msg string, _ *pulumi.LogArgs) error  { return r.add("info", msg) }
func (r *recorder) Warn(msg string, _ *pulumi.LogArgs) error  { return r.add("warn", msg) }
func (r *recorder) Error(msg string, _ *pulumi.LogArgs) error { return r.add("error", msg) }

func TestRecordsReachTheEngineLog(t *testing.T) {
	var r recorder
	log := New(&r).With("namespace", "counter")
	log.Debug("dropped")
	log.Info("deleted PersistentVolumeClaim", "claim", "data-mysql-0", "volumes", []string{"pv-1", "pv-2"})
	log.WithGroup("wait").Warn("slow", "timeout", "10m0s", "why", "the driver is busy")
	log.Error("failed", "err", errors.New("boom"), slog.Group("pv", "name", "pv-1"))
	want := []string{
		"info: deleted PersistentVolumeClaim namespace=counter claim=data-mysql-0 volumes=\"[pv-1 pv-2]\"",
		"warn: slow namespace=counter wait.timeout=10m0s wait.why=\"the driver is busy\"",
		"error: failed namespace=counter err=boom pv.name=pv-1",
	}
	if len(r.lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%q", len(r.lines), len(want), r.lines)
	}
	for i := range want {
		if r.lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, r.lines[i], want[i])
		}
	}
}
