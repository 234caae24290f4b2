package counter

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// latencyStore is a store whose statement takes a fixed time without using CPU, like a
// database round trip.
type latencyStore struct {
	took  time.Duration
	value atomic.Int64
}

func (s *latencyStore) Add(_ context.Context, n int64) (int64, error) {
	time.Sleep(s.took)
	return s.value.Add(n), nil
}

type nopObserver struct{}

func (nopObserver) Batch(int, int64, time.Duration, error) {}
func (nopObserver) Abandoned(int)                          {}

// The coalescer's own cost: 1 caller (every statement its own, so the hand-offs show) and
// 64 (as the load generator), against a 200 µs statement. ns/op is the time per number.
func BenchmarkCoalescer(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(map[int]string{1: "callers=1", 64: "callers=64"}[callers], func(b *testing.B) {
			c := NewCoalescer(&latencyStore{took: 200 * time.Microsecond}, 256, 5*time.Second, nopObserver{})
			defer c.Close(context.Background())
			b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Next(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
