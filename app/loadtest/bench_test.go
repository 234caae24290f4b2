package loadtest

import (
	"fmt"
	"testing"
	"time"
)

// 64 clients as in the load generator: 4,000 ops (a test run) and 100,000 (a 5 s benchmark).
func BenchmarkCheckLinearizable(b *testing.B) {
	for _, perClient := range []int{63, 1563} {
		ops := linearizableHistory(64, perClient, 1)
		b.Run(fmt.Sprintf("ops=%d", len(ops)), func(b *testing.B) {
			for b.Loop() {
				if err := CheckLinearizable(ops, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
