package loadtest

import (
	"fmt"
	"slices"
	"time"
)

// Summary condenses a Result. OK, Errors, ReqPerSec and the latencies count only ops called
// after the warm-up; Duplicates counts over all ops (a duplicate is wrong at any time).
type Summary struct {
	OK, Errors    int
	ReqPerSec     float64
	P50, P99, Max time.Duration
	Duplicates    int // successful ops whose number an earlier-listed op already got
}

// Summary computes the run's statistics.
func (r *Result) Summary() Summary {
	var s Summary
	var latencies []time.Duration
	seen := make(map[int64]bool, len(r.Ops))
	for _, o := range r.Ops {
		if o.OK() {
			if seen[o.Number] {
				s.Duplicates++
			}
			seen[o.Number] = true
		}
		if o.Call < r.Warmup {
			continue
		}
		if !o.OK() {
			s.Errors++
			continue
		}
		s.OK++
		latencies = append(latencies, o.Return-o.Call)
	}
	if window := r.Elapsed - r.Warmup; window > 0 {
		s.ReqPerSec = float64(s.OK) / window.Seconds()
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		s.P50 = percentile(latencies, 50)
		s.P99 = percentile(latencies, 99)
		s.Max = latencies[len(latencies)-1]
	}
	return s
}

// percentile uses the nearest-rank method on sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n), 1-based
	return sorted[max(rank, 1)-1]
}

// String is one line for logs and reports.
func (s Summary) String() string {
	return fmt.Sprintf("%d ok, %d errors, %.0f req/s, latency p50 %v p99 %v max %v, %d duplicates",
		s.OK, s.Errors, s.ReqPerSec, s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Max.Round(10*time.Microsecond), s.Duplicates)
}
