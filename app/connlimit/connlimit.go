// Package connlimit bounds how long an HTTP/1 connection of a net/http server may stay in
// each of its states, checked by one goroutine every tick instead of by the connection's
// deadline timer.
//
// net/http's ReadHeaderTimeout and IdleTimeout re-arm each connection's read deadline
// timer two or three times per request; on this service that cost about 6% of the CPU per
// number (docs/benchmark.md). Here a state change costs a map lookup and an atomic store
// (http.Server.ConnState), two per request, and every connection is checked once per
// tick, so a connection is closed at most about two ticks after its limit passed, and
// never before.
//
// The limits, each counted from the moment net/http reports the state:
//   - Header: a new connection must deliver its first request's header within Header.
//   - Idle: a keep-alive connection between two requests, the next request's header
//     included (net/http reports a request once its header is read). A client that
//     trickles its header holds the connection at most Idle, as a silent one may.
//   - Busy: a request must be read, handled and answered within Busy, body included:
//     without ReadTimeout net/http reads an unread request body (to discard it before
//     answering) with no deadline at all, so a body that never comes would hold the
//     connection and its handler forever.
//
// A connection over its limit is closed: its reads and writes fail, and net/http ends it;
// the Tracker's closed function, if any, is told which limit it passed.
package connlimit

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the longest time a connection may spend in each state; each must be positive.
type Limits struct {
	Header, Idle, Busy time.Duration
}

// Names of the limits, as closed is told.
const (
	LimitHeader = "header"
	LimitIdle   = "idle"
	LimitBusy   = "busy"
)

// Tracker is what a server's ConnState reports to and what Run checks.
type Tracker struct {
	limits Limits
	closed func(limit string) // may be nil
	start  time.Time
	now    atomic.Int64 // the latest tick, in nanoseconds since start
	conns  sync.Map     // net.Conn → *atomic.Uint64: its state and since when (pack)
}

// New returns a Tracker; set its ConnState as the server's and run Run. closed (nil for
// none) is called with the limit's name (LimitHeader, LimitIdle, LimitBusy) for every
// connection closed, e.g. to count them.
func New(l Limits, closed func(limit string)) *Tracker {
	return &Tracker{limits: l, closed: closed, start: time.Now()}
}

// pack puts a state and the tick it was reported at in one word, so that Run never reads
// a new state with an old time (which could close a connection that just became busy).
func pack(s http.ConnState, at int64) uint64 { return uint64(at)<<8 | uint64(s) }

func unpack(p uint64) (http.ConnState, int64) { return http.ConnState(p & 0xff), int64(p >> 8) }

// ConnState records a connection's state; it is for http.Server.ConnState.
func (t *Tracker) ConnState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		p := new(atomic.Uint64)
		p.Store(pack(s, t.now.Load()))
		t.conns.Store(c, p)
	case http.StateActive, http.StateIdle:
		if p, ok := t.conns.Load(c); ok {
			p.(*atomic.Uint64).Store(pack(s, t.now.Load()))
		}
	default: // closed or hijacked: no longer the server's to bound
		t.conns.Delete(c)
	}
}

// Run checks every connection each tick until ctx ends.
func (t *Tracker) Run(ctx context.Context, tick time.Duration) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			t.check(now.Sub(t.start).Nanoseconds(), tick.Nanoseconds())
		}
	}
}

// check closes the connections over their limit at now (nanoseconds since start). A state
// is stamped with the latest tick before it was reported, up to one tick early, so a limit
// counts as passed one tick late.
func (t *Tracker) check(now, tick int64) {
	t.now.Store(now)
	t.conns.Range(func(c, p any) bool {
		s, since := unpack(p.(*atomic.Uint64).Load())
		name, limit := t.limit(s)
		if now-since > limit.Nanoseconds()+tick {
			// Untracked at once: net/http reports it closed only when its handler returns,
			// and until then every check would close and count it again.
			t.conns.Delete(c)
			c.(net.Conn).Close()
			if t.closed != nil {
				t.closed(name)
			}
		}
		return true
	})
}

// limit is the limit of state s, and its name.
func (t *Tracker) limit(s http.ConnState) (string, time.Duration) {
	switch s {
	case http.StateNew:
		return LimitHeader, t.limits.Header
	case http.StateIdle:
		return LimitIdle, t.limits.Idle
	}
	return LimitBusy, t.limits.Busy
}
