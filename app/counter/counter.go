// Package counter turns requests for a number into durable increments of a store.
//
// Coalescer (the default) lets concurrent requests share one increment: with one
// statement in flight per process, the requests that arrive meanwhile form the next batch,
// which is sent only after the previous one committed. So a request that arrives after
// batch k was sent gets a number above all of batch k (real-time order), and within a
// batch numbers follow arrival order. Single runs one statement per request (baseline).
//
// Every Next returns within the counter's timeout of its call: a number, or ErrTimeout. So
// callers need no context of their own to bound the wait (a per-call timer costs more
// than the rest of a request); a context that can end is honoured as well.
//
// Gaps (numbers never handed to anyone) happen when a statement fails after committing
// (e.g. the connection drops before the reply) or when a caller gives up after its batch
// was sent; the latter is reported to Observer.Abandoned. Duplicates never happen: a
// number is handed out only after the increment that produced it committed.
package counter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("counter: shutting down")

// ErrTimeout is returned by Next when no number came within the counter's timeout.
var ErrTimeout = fmt.Errorf("counter: no number within the timeout: %w", context.DeadlineExceeded)

// Adder is the part of store.Store the counters need.
type Adder interface {
	Add(ctx context.Context, n int64) (last int64, err error)
}

// Observer receives what the counters do, for metrics. For Coalescer calls come one at a
// time (from whichever goroutine ran the statement); implementations must be safe for
// concurrent use anyway.
type Observer interface {
	// Batch reports one statement for size numbers, the last number it allocated (when
	// err is nil), how long it took and its outcome.
	Batch(size int, last int64, took time.Duration, err error)
	// Abandoned reports numbers committed for callers that had already left.
	Abandoned(n int)
}

// waiter states: a waiter is handed its number only if the flusher moves it from pending
// to delivered before the caller moves it to abandoned.
const (
	pending int32 = iota
	delivered
	abandoned
)

type waiter struct {
	state   atomic.Int32
	arrived time.Time   // its caller gives up at arrived + timeout
	done    chan result // buffered 1
}

type result struct {
	n   int64
	err error
}

// Coalescer batches concurrent Next calls into one Add each.
//
// A caller that finds no statement in flight runs its own (a batch of one) on its own
// goroutine: at low load a request costs no hand-off to another goroutine. When that
// statement ends with callers queued behind it, it hands them to the flusher goroutine,
// which runs the following statements back to back until the queue is empty: under load
// the next statement is sent as soon as the previous one is answered, by a goroutine that
// has no HTTP response of its own to write first.
//
// One timer, not one per call, ends the waits past the timeout: it is armed for the oldest
// waiting caller's deadline and, when it fires, expires every caller past its deadline and
// re-arms for the oldest left.
type Coalescer struct {
	store   Adder
	max     int
	timeout time.Duration
	obs     Observer

	mu sync.Mutex
	// inFlight is set while a statement runs, by the caller or the flusher running it;
	// whoever set it runs the queue or clears it. Callers are queued only while it is set.
	inFlight bool
	handed   bool // a caller passed inFlight and the queue to the flusher
	queue    []*waiter
	batch    []*waiter  // the statement in flight's callers, older than the queue's
	own      [1]*waiter // the batch of a caller running its own statement
	expiry   *time.Timer
	armed    bool // expiry will fire at or before the deadline of every waiting caller
	closed   bool
	// waiters recycles waiters and their channels: two allocations per number otherwise.
	// Only a waiter whose caller received its number goes back: the flusher is done with it
	// then. An abandoned or expired one may still be in the queue or a batch, so it is left
	// to the collector. One pool per Coalescer, because expire may still read a waiter it
	// last served, which must not meanwhile be guarded by another Coalescer's mutex.
	waiters sync.Pool
	wake    chan struct{} // capacity 1: handed was set, or Close happened
	done    chan struct{} // closed when the flusher has stopped, after the queue drained
}

// NewCoalescer starts the flusher. Each statement gets at most timeout; batches hold at
// most max numbers. Close stops it.
func NewCoalescer(s Adder, max int, timeout time.Duration, obs Observer) *Coalescer {
	c := &Coalescer{
		store:   s,
		max:     max,
		timeout: timeout,
		obs:     obs,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	c.expiry = time.AfterFunc(time.Hour, c.expire)
	c.expiry.Stop()
	go c.flusher()
	return c
}

// Next returns a committed number unique across every caller of every process sharing
// the store, or ErrTimeout once it has waited the Coalescer's timeout. If ctx ends first,
// Next returns ctx's error. A number committed for a caller gone either way is counted as
// abandoned.
func (c *Coalescer) Next(ctx context.Context) (int64, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	// Reset under mu: expire may still see this waiter in the batch it was last served by.
	w, _ := c.waiters.Get().(*waiter)
	if w == nil {
		w = &waiter{done: make(chan result, 1)}
	}
	w.state.Store(pending)
	w.arrived = time.Now()
	c.armLocked(w.arrived.Add(c.timeout))
	if c.inFlight {
		c.queue = append(c.queue, w)
		c.mu.Unlock()
	} else {
		c.inFlight = true
		c.own[0] = w
		c.batch = c.own[:]
		c.mu.Unlock()
		c.flush(c.own[:])
		c.handOver()
	}
	var r result
	if done := ctx.Done(); done == nil {
		r = <-w.done // a plain receive: cheaper than a select, and expire bounds it
	} else {
		select {
		case r = <-w.done:
		case <-done:
			if w.state.CompareAndSwap(pending, abandoned) {
				return 0, ctx.Err()
			}
			r = <-w.done // delivered at the same moment: the number is ours after all
		}
	}
	if w.state.Load() == delivered { // an expired waiter may still be in the queue or a batch
		c.waiters.Put(w)
	}
	return r.n, r.err
}

// armLocked makes sure expiry fires by deadline. Deadlines come in arrival order, so an
// armed timer already fires by this one.
func (c *Coalescer) armLocked(deadline time.Time) {
	if !c.armed {
		c.armed = true
		c.expiry.Reset(time.Until(deadline))
	}
}

// expire answers ErrTimeout to every caller that has waited the timeout, and arms the
// timer for the oldest caller left.
func (c *Coalescer) expire() {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = false
	// The batch is read whole: a caller served by it may already be waiting again, recycled
	// into the queue with a later arrival. The queue is in arrival order.
	next := c.expireLocked(c.batch, now, false)
	if q := c.expireLocked(c.queue, now, true); !q.IsZero() && (next.IsZero() || q.Before(next)) {
		next = q
	}
	if !next.IsZero() {
		c.armLocked(next)
	}
}

// expireLocked answers ErrTimeout to the waiting callers of list past their deadline at
// now, and returns the earliest deadline of those still waiting (zero if none). In an
// ordered list that is the first one, where it stops.
func (c *Coalescer) expireLocked(list []*waiter, now time.Time, ordered bool) (next time.Time) {
	for _, w := range list {
		deadline := w.arrived.Add(c.timeout)
		switch {
		case !deadline.After(now):
			if w.state.CompareAndSwap(pending, abandoned) {
				w.done <- result{err: ErrTimeout}
			}
		case w.state.Load() != pending:
		case ordered:
			return deadline
		case next.IsZero() || deadline.Before(next):
			next = deadline
		}
	}
	return next
}

// handOver ends a caller's statement: the callers queued meanwhile become the flusher's
// to run; with none, nothing is in flight any more.
func (c *Coalescer) handOver() {
	c.mu.Lock()
	c.own[0], c.batch = nil, nil
	queued := len(c.queue) > 0
	c.handed = queued
	c.inFlight = queued
	closed := c.closed
	c.mu.Unlock()
	if queued || closed { // closed and idle: the flusher may stop
		c.signal()
	}
}

// signal wakes the flusher; a signal already pending covers this one.
func (c *Coalescer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting calls, lets the queued ones finish, and waits for that (or ctx).
func (c *Coalescer) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.signal()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flusher runs the queues handed over to it until they are empty. Otherwise a signal
// comes from Close: the flusher stops once closed and nothing is in flight (a caller's
// statement signals again when it ends).
func (c *Coalescer) flusher() {
	defer close(c.done)
	defer c.expiry.Stop() // nothing is left to expire
	for range c.wake {
		c.mu.Lock()
		if !c.handed {
			stop := c.closed && !c.inFlight
			c.mu.Unlock()
			if stop {
				return
			}
			continue
		}
		c.handed = false
		c.mu.Unlock()
		if c.drain() {
			return
		}
	}
}

// drain runs the queue's batches back to back while the flusher holds inFlight, then
// clears it; it says whether the Coalescer is closed.
func (c *Coalescer) drain() (closed bool) {
	for {
		c.mu.Lock()
		batch := c.takeLocked()
		c.batch = batch
		if len(batch) == 0 {
			c.inFlight = false
			closed := c.closed
			c.mu.Unlock()
			return closed
		}
		c.mu.Unlock()
		c.flush(batch)
	}
}

// takeLocked removes up to max waiters whose callers are still there, in arrival order;
// none only when the queue is empty.
func (c *Coalescer) takeLocked() (batch []*waiter) {
	for len(c.queue) > 0 && len(batch) < c.max {
		w := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if w.state.Load() == pending { // a caller that left costs no number
			batch = append(batch, w)
		}
	}
	return batch
}

// flush runs one statement for the batch. Its context is not any caller's: a caller
// leaving must not cancel the numbers of the others.
func (c *Coalescer) flush(batch []*waiter) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	start := time.Now()
	last, err := c.store.Add(ctx, int64(len(batch)))
	c.obs.Batch(len(batch), last, time.Since(start), err)
	cancel()
	first := last - int64(len(batch)) + 1
	lost := 0
	for i, w := range batch {
		r := result{n: first + int64(i)}
		if err != nil {
			r = result{err: err}
		}
		if w.state.CompareAndSwap(pending, delivered) {
			w.done <- r
		} else if err == nil {
			lost++
		}
	}
	if lost > 0 {
		c.obs.Abandoned(lost)
	}
}

// Single runs one statement per Next.
type Single struct {
	store   Adder
	timeout time.Duration
	obs     Observer
}

// NewSingle returns a counter without coalescing.
func NewSingle(s Adder, timeout time.Duration, obs Observer) *Single {
	return &Single{store: s, timeout: timeout, obs: obs}
}

// Next returns a committed number. The statement runs to completion (bounded by the
// timeout) even if ctx ends, so a caller that left costs a known number, not an increment
// of unknown outcome.
func (s *Single) Next(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	start := time.Now()
	n, err := s.store.Add(ctx, 1)
	s.obs.Batch(1, n, time.Since(start), err)
	return n, err
}

// Close implements the same shutdown as Coalescer; Single has nothing queued.
func (s *Single) Close(context.Context) error { return nil }
