package stack_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	appconfig "github.com/counter-mysql/counter-mysql/app/config"
	"github.com/counter-mysql/counter-mysql/app/server"
	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
	"github.com/counter-mysql/counter-mysql/infra/stack/stacktest"
)

// TestAppReadsWhatTheDeploymentSets is the contract between infra/counterapp and the app:
// the Deployment's environment, with the Secret's references resolved to test values, is
// fed to the app's own app/config.Load; its probes are asked of the app's own handler.
// A variable misspelt on either side shows up as a name the app never reads or as a
// default where the stack set a value.
func TestAppReadsWhatTheDeploymentSets(t *testing.T) {
	pod, env, cfg := appConfig(t, nil)
	container := pulumitest.Field(pod, "containers", "0")

	if cfg.MySQL == nil {
		t.Fatal("the app would run on its embedded store, not MySQL")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"MySQL address", cfg.MySQL.Addr, "mysql-0.mysql.counter.svc.cluster.local:3306"},
		{"MySQL user", cfg.MySQL.User, "counter-test"},
		{"MySQL password", cfg.MySQL.Passwd, "test-password"},
		{"database", cfg.MySQL.DBName, "counter"},
		{"mode", cfg.Mode, appconfig.ModeBatch},
		{"pool size (the stack's connection budget)", cfg.DBMaxConns, config.AppDBConns},
		{"shutdown delay", cfg.ShutdownDelay, 5 * time.Second},
		// requestTimeout unset: no REQUEST_TIMEOUT, so existing stacks see no diff.
		{"request timeout (the app's default)", cfg.RequestTimeout, appconfig.DefaultRequestTimeout},
		{"REQUEST_TIMEOUT set", env["REQUEST_TIMEOUT"] != "", false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	_, port, _ := net.SplitHostPort(cfg.ListenAddr)
	if want := fmt.Sprint(pulumitest.Field(container, "ports", "0", "containerPort")); port != want {
		t.Errorf("the app listens on port %s, the container port is %s", port, want)
	}
	grace, _ := pulumitest.Field(pod, "terminationGracePeriodSeconds").(int64)
	if need := cfg.ShutdownDelay + cfg.ShutdownTimeout; time.Duration(grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d does not cover SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT (%s): the kubelet kills the app mid-drain", grace, need)
	}

	// The probes' paths, asked of the app's own routes.
	handler := server.New(server.Deps{
		Log:            slog.New(slog.DiscardHandler),
		Counter:        nil,
		Metrics:        server.NewMetrics(),
		Ready:          func(context.Context) error { return nil },
		ShuttingDown:   func() bool { return false },
		RequestTimeout: time.Second,
	})
	for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
		path, _ := pulumitest.Field(container, probe, "httpGet", "path").(string)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if body, _ := io.ReadAll(rec.Body); rec.Code != http.StatusOK {
			t.Errorf("%s GET %q: the app answers %d %s", probe, path, rec.Code, body)
		}
		if p := pulumitest.Field(container, probe, "httpGet", "port"); p != "http" && fmt.Sprint(p) != port {
			t.Errorf("%s probes port %v, the app listens on %s", probe, p, port)
		}
	}
}

// TestRequestTimeoutReachesTheApp: requestTimeout becomes the app's REQUEST_TIMEOUT, as
// the app reads it.
func TestRequestTimeoutReachesTheApp(t *testing.T) {
	for _, d := range []time.Duration{appconfig.MinRequestTimeout, 10 * time.Second, appconfig.MaxRequestTimeout} {
		_, _, cfg := appConfig(t, map[string]string{"requestTimeout": d.String()})
		if cfg.RequestTimeout != d {
			t.Errorf("requestTimeout %s: the app waits %s", d, cfg.RequestTimeout)
		}
	}
}

// appConfig runs the program with overrides and returns the app Deployment's pod spec,
// the container's environment (the Secret's references resolved to test values) and
// the app's own app/config.Load of it. It fails t when the Deployment sets a variable the
// app never reads (misspelt on either side) or one the app refuses.
func appConfig(t *testing.T, overrides map[string]string) (pod any, env map[string]string, cfg appconfig.Config) {
	t.Helper()
	var deployment map[string]any
	for _, o := range stacktest.MustRun(t, overrides).MustObjects(t) {
		if o.GetKind() == "Deployment" {
			deployment = o.Object
		}
	}
	pod = pulumitest.Field(deployment, "spec", "template", "spec")
	secretValues := map[string]string{"app-user": "counter-test", "app-password": "test-password"}
	env = map[string]string{}
	for _, e := range pulumitest.Field(pod, "containers", "0", "env").([]any) {
		name := pulumitest.Field(e, "name").(string)
		if key, ok := pulumitest.Field(e, "valueFrom", "secretKeyRef", "key").(string); ok {
			v, known := secretValues[key]
			if !known {
				t.Fatalf("%s refers to Secret key %q, which the credentials Secret does not have", name, key)
			}
			env[name] = v
		} else {
			env[name], _ = pulumitest.Field(e, "value").(string)
		}
	}
	var read []string
	cfg, err := appconfig.Load(func(name string) string { read = append(read, name); return env[name] })
	if err != nil {
		t.Fatalf("the app refuses the Deployment's environment: %v", err)
	}
	for name := range env {
		if !slices.Contains(read, name) {
			t.Errorf("the Deployment sets %s, which the app never reads (misspelt?)", name)
		}
	}
	return pod, env, cfg
}
