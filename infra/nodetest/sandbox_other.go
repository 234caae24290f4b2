//go:build !linux

package nodetest

import "errors"

func inSandbox() bool { return false }

func runInSandbox() (int, error) {
	return 0, errors.New("the real-node tier needs Linux (namespaces, cgroups, containerd)")
}

func enterSandbox() error { return errors.New("the real-node tier needs Linux") }

func unmountUnder(string) error { return nil }
