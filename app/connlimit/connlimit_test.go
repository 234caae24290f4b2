package connlimit

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConn records whether check closed it.
type fakeConn struct {
	net.Conn
	closed atomic.Bool
}

func (f *fakeConn) Close() error { f.closed.Store(true); return nil }

// TestCheckClosesOnlyPastTheLimit reports states at known ticks and checks that check
// closes a connection once, and only once, it has been in its state for longer than the
// limit plus the tick its stamp may be early by.
func TestCheckClosesOnlyPastTheLimit(t *testing.T) {
	const tick = 10
	l := Limits{Header: 100, Idle: 1000, Busy: 300}
	for _, c := range []struct {
		state  http.ConnState
		limit  time.Duration
		name   string
		stamps []http.ConnState // reported in order at tick 0, the last one counts
	}{
		{http.StateNew, l.Header, LimitHeader, []http.ConnState{http.StateNew}},
		{http.StateIdle, l.Idle, LimitIdle, []http.ConnState{http.StateNew, http.StateActive, http.StateIdle}},
		{http.StateActive, l.Busy, LimitBusy, []http.ConnState{http.StateNew, http.StateActive}},
	} {
		var closedFor []string
		tr := New(l, func(limit string) { closedFor = append(closedFor, limit) })
		tr.now.Store(50)
		conn := &fakeConn{}
		for _, s := range c.stamps {
			tr.ConnState(conn, s)
		}
		last := 50 + int64(c.limit) + tick
		tr.check(last, tick) // exactly the limit plus a tick: not over
		if conn.closed.Load() {
			t.Errorf("%v: closed at %d ns in the state, limit %d and tick %d", c.state, last-50, c.limit, tick)
		}
		tr.check(last+1, tick)
		if !conn.closed.Load() {
			t.Errorf("%v: still open at %d ns in the state, limit %d and tick %d", c.state, last+1-50, c.limit, tick)
		}
		tr.check(last+2*tick, tick) // net/http has not yet reported it closed (a handler still runs)
		if !slices.Equal(closedFor, []string{c.name}) {
			t.Errorf("%v: closed reported %q over two checks, want [%s] once", c.state, closedFor, c.name)
		}
	}
}

// TestNewStateRestartsTheClock checks that a connection's time counts from its latest
// state: a long idle connection that became busy is not cut for having been idle.
func TestNewStateRestartsTheClock(t *testing.T) {
	tr := New(Limits{Header: 100, Idle: 1000, Busy: 300}, nil)
	conn := &fakeConn{}
	tr.ConnState(conn, http.StateNew)
	tr.ConnState(conn, http.StateIdle)
	tr.check(900, 10) // idle for 900
	tr.ConnState(conn, http.StateActive)
	tr.check(1150, 10) // busy for 250, idle since 0 would be over both limits
	if conn.closed.Load() {
		t.Fatal("a connection busy for less than Busy was closed for the time it spent idle")
	}
	tr.ConnState(conn, http.StateClosed)
	tr.check(1e6, 10)
	if conn.closed.Load() {
		t.Fatal("a connection net/http reported closed was still tracked")
	}
}

// serve runs an http.Server with the tracker and handler on a loopback port.
func serve(t *testing.T, l Limits, tick time.Duration, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := New(l, nil)
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{Handler: h, ConnState: tr.ConnState}
	go tr.Run(ctx, tick)
	go srv.Serve(ln)
	t.Cleanup(func() { cancel(); srv.Close() })
	return ln.Addr().String()
}

// closedWithin sends what on a new connection, reads every response, and returns how long
// the server took to close the connection (failing the test if it did not within limit).
func closedWithin(t *testing.T, addr, what string, limit time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(limit))
	if _, err := io.WriteString(conn, what); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, conn)
	var timeout net.Error
	if errors.As(err, &timeout) && timeout.Timeout() {
		t.Fatalf("after %q the connection was still open after %v", what, limit)
	}
	return time.Since(start)
}

// TestServerClosesOverstayingConnections runs the three limits on a real server: a
// connection that sends no request, one that stays idle after its answer, and one whose
// request promises a body that never comes (net/http would wait for it forever).
func TestServerClosesOverstayingConnections(t *testing.T) {
	l := Limits{Header: 300 * time.Millisecond, Idle: 600 * time.Millisecond, Busy: 900 * time.Millisecond}
	const tick = 20 * time.Millisecond
	addr := serve(t, l, tick, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Length"] = []string{"3"}
		io.WriteString(w, "ok\n")
	})
	const get = "GET / HTTP/1.1\r\nHost: x\r\n"
	for _, c := range []struct {
		name, send string
		limit      time.Duration
	}{
		{"no request", "", l.Header},
		{"half a header", get, l.Header},
		{"idle after an answer", get + "\r\n", l.Idle},
		{"a body that never comes", get + "Content-Length: 10\r\n\r\n", l.Busy},
	} {
		took := closedWithin(t, addr, c.send, 10*time.Second)
		if took < c.limit || took > c.limit+time.Second {
			t.Errorf("%s: closed after %v, want just after %v", c.name, took, c.limit)
		}
	}
}

// TestServerKeepsConnectionsWithinTheLimits checks that a keep-alive client that asks
// more often than Idle, with requests that take less than Busy, keeps its connection for
// longer than every limit.
func TestServerKeepsConnectionsWithinTheLimits(t *testing.T) {
	l := Limits{Header: 400 * time.Millisecond, Idle: 400 * time.Millisecond, Busy: 400 * time.Millisecond}
	addr := serve(t, l, 10*time.Millisecond, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "ok\n")
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for i := range 6 { // 6 × (100 ms busy + 100 ms idle): longer than every limit
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(body)) != "ok" {
			t.Fatalf("request %d: %q", i, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
