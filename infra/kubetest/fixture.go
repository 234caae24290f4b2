package kubetest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Fixture is a value a test binary's tests share (a control plane, a node): started by the
// first test that asks for it (Get), stopped by the package's TestMain (Run) once every
// test is done.
type Fixture[T any] struct {
	mu      sync.Mutex
	inMain  bool
	started bool
	value   T
	err     error
}

// Run runs the tests, then stops the value if it was started: stop gets whether a test
// failed (to keep logs and report them), and an error from it fails the run.
func (f *Fixture[T]) Run(m *testing.M, name string, stop func(v T, failed bool) error) int {
	f.mu.Lock()
	f.inMain = true
	f.mu.Unlock()

	code := m.Run()

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started && f.err == nil {
		if err := stop(f.value, code != 0); err != nil {
			fmt.Fprintln(os.Stderr, name+":", err)
			code = 1
		}
	}
	return code
}

// Get returns the value, starting it on first use. A failed start fails every test that
// asks, without retrying. main is the TestMain the package needs, for the message when it
// has none.
func (f *Fixture[T]) Get(t testing.TB, main string, start func() (T, error)) T {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.inMain {
		t.Fatalf("this needs func TestMain(m *testing.M) { os.Exit(%s) } in the test package, which stops it", main)
	}
	if !f.started {
		f.started = true
		f.value, f.err = start()
	}
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.value
}
