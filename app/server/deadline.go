package server

import (
	"context"
	"sync/atomic"
	"time"
)

// deadlineShare is how long one sharedDeadline is handed to new requests.
const deadlineShare = time.Millisecond

// sharedDeadlines bounds the wait of /get-number's requests with one context, and so one
// timer, per millisecond of requests instead of a context.WithTimeout per request, whose
// context, timer and cancel function cost more CPU than the rest of the handler chain
// (issue 26). A request gets a deadline made at most deadlineShare before it arrived: it
// waits at most timeout, and at least timeout - deadlineShare. As waitContext's, the
// context does not end when net/http sees EOF; it carries no values.
type sharedDeadlines struct {
	timeout time.Duration
	current atomic.Pointer[sharedDeadline]
}

// context returns a context that ends by now + timeout.
func (s *sharedDeadlines) context(now time.Time) context.Context {
	if d := s.current.Load(); d != nil && !now.Before(d.made) && now.Sub(d.made) < deadlineShare {
		return d
	}
	d := &sharedDeadline{made: now, deadline: now.Add(s.timeout), done: make(chan struct{})}
	time.AfterFunc(s.timeout, func() { close(d.done) })
	s.current.Store(d)
	return d
}

// sharedDeadline is a context.Context that only ends, timeout after it was made.
type sharedDeadline struct {
	made, deadline time.Time
	done           chan struct{} // closed at the deadline
}

func (d *sharedDeadline) Deadline() (time.Time, bool) { return d.deadline, true }
func (d *sharedDeadline) Done() <-chan struct{}       { return d.done }
func (d *sharedDeadline) Value(any) any               { return nil }

func (d *sharedDeadline) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
