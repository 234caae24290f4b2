package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Requests of the same millisecond share a deadline that is never later than their own
// arrival plus the timeout; a later or earlier arrival gets a new one; it ends.
func TestSharedDeadlines(t *testing.T) {
	s := &sharedDeadlines{timeout: 2 * time.Second}
	t0 := time.Now()
	first := s.context(t0)
	for _, at := range []time.Duration{0, deadlineShare / 2, deadlineShare - 1} {
		now := t0.Add(at)
		ctx := s.context(now)
		if ctx != first {
			t.Errorf("at +%v: a new context, want the one made at +0", at)
		}
		if d, ok := ctx.Deadline(); !ok || d.After(now.Add(s.timeout)) || d.Before(now.Add(s.timeout-deadlineShare)) {
			t.Errorf("at +%v: deadline +%v, want within (timeout - %v, timeout]", at, d.Sub(now), deadlineShare)
		}
	}
	if s.context(t0.Add(deadlineShare)) == first || s.context(t0.Add(-time.Microsecond)) == first {
		t.Error("a request a millisecond later, or earlier, shares the first deadline")
	}
	if first.Err() != nil {
		t.Errorf("Err before the deadline: %v", first.Err())
	}

	ended := (&sharedDeadlines{timeout: time.Nanosecond}).context(time.Now())
	<-ended.Done()
	if !errors.Is(ended.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline: %v, want DeadlineExceeded", ended.Err())
	}
}
