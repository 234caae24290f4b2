// Package stacktest runs the whole Pulumi program (stack.Program) under the mocks of
// package pulumitest, with a stack configuration, for the tests of how the components are
// composed and for the real API server tier, which applies what it renders.
package stacktest

import (
	"encoding/json"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/config"
	"github.com/counter-mysql/counter-mysql/infra/monitoring"
	"github.com/counter-mysql/counter-mysql/infra/pulumitest"
	"github.com/counter-mysql/counter-mysql/infra/stack"
)

// Image is a valid appImage for configs that do not care which image runs.
const Image = "ghcr.io/counter-mysql/counter:test"

// Today is the day the program runs on: EKS's version calendar is read against it.
var Today = time.Date(2026, time.December, 3, 12, 0, 0, 0, time.UTC)

// Config is a minimal valid configuration (the required appImage) plus overrides.
func Config(overrides map[string]string) map[string]string {
	c := map[string]string{"appImage": Image}
	maps.Copy(c, overrides)
	return c
}

// running serialises Run: the program reads its configuration from the process
// environment (PULUMI_CONFIG), so two runs in one process must not overlap. Run is
// therefore not parallel-safe with anything else that sets PULUMI_CONFIG either.
var running sync.Mutex

// Run runs stack.Program on Today with config, whose keys lack the project prefix
// ({"mysqlVersion": "8.0"}) unless they have another one ("aws:profile"). The error is
// the program's, e.g. a configuration error; what was registered until then is returned
// with it.
func Run(cfg map[string]string) (*pulumitest.Recorded, error) {
	return RunIn(pulumitest.Account{}, cfg, nil)
}

// RunIn is Run in an account that differs from the usual one, for a stack whose last up
// exported deployed (nil: never deployed).
func RunIn(account pulumitest.Account, cfg map[string]string, deployed map[string]any) (*pulumitest.Recorded, error) {
	return run(account, cfg, deployed, false)
}

// RunServingMonitoring is Run on a cluster that serves the Prometheus Operator's API when
// serves is true; Run's cluster does not.
func RunServingMonitoring(cfg map[string]string, serves bool) (*pulumitest.Recorded, error) {
	return run(pulumitest.Account{}, cfg, nil, serves)
}

func run(account pulumitest.Account, cfg map[string]string, deployed map[string]any, servesMonitoring bool) (*pulumitest.Recorded, error) {
	running.Lock()
	defer running.Unlock()
	served := func(config.Config, stack.Deployed) monitoring.Served {
		return func() (bool, error) { return servesMonitoring, nil }
	}
	return withConfig(cfg, func() (*pulumitest.Recorded, error) {
		return pulumitest.RunIn(account, stack.ProgramWith(Today, served), deployed)
	})
}

// withConfig runs run with cfg as the program's configuration.
func withConfig(cfg map[string]string, run func() (*pulumitest.Recorded, error)) (*pulumitest.Recorded, error) {
	values := map[string]string{}
	for k, v := range cfg {
		if !strings.Contains(k, ":") {
			k = config.Project + ":" + k
		}
		values[k] = v
	}
	env, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	previous, had := os.LookupEnv("PULUMI_CONFIG")
	if err := os.Setenv("PULUMI_CONFIG", string(env)); err != nil {
		return nil, err
	}
	defer func() {
		if had {
			_ = os.Setenv("PULUMI_CONFIG", previous)
		} else {
			_ = os.Unsetenv("PULUMI_CONFIG")
		}
	}()
	return run()
}

// RunDeployed is Run for a stack whose last up exported deployed (the outputs the
// program reads back through a reference to its own stack).
func RunDeployed(cfg map[string]string, deployed map[string]any) (*pulumitest.Recorded, error) {
	return RunIn(pulumitest.Account{}, cfg, deployed)
}

// MustRun runs the program with Config(overrides) and fails the test on any error.
func MustRun(t testing.TB, overrides map[string]string) *pulumitest.Recorded {
	t.Helper()
	rec, err := Run(Config(overrides))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// RunProgram runs program, e.g. a test's wrapper around stack.Deploy, under the same
// mocks as Run, without touching the configuration.
func RunProgram(program pulumi.RunFunc) (*pulumitest.Recorded, error) {
	running.Lock()
	defer running.Unlock()
	return pulumitest.Run(program, nil)
}
