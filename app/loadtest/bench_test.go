package loadtest

import (
	"testing"
	"time"
)

func BenchmarkCheckLinearizable4000(b *testing.B) {
	ops := linearizableHistory(64, 63, 1)
	for b.Loop() {
		if err := CheckLinearizable(ops, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
