package loadtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A server that closes every connection after its answer (Connection: close) or drops
// some without answering: the client must redial and keep every answered number.
func TestClientRedialsClosedConnections(t *testing.T) {
	var calls, conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n%5 == 0 { // drop the connection without a response
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Connection", "close")
		fmt.Fprintf(w, `{"number": %d}`, n)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	r := run(t, Config{URLs: []string{srv.URL}, Clients: 1, Requests: 20})
	s := r.Summary()
	if s.OK != 16 || s.Errors != 4 {
		t.Fatalf("summary %v; want 16 ok and 4 dropped", s)
	}
	for _, o := range r.Ops {
		if !o.OK() && o.Status != 0 {
			t.Errorf("dropped request recorded with status %d, want 0: %+v", o.Status, o)
		}
	}
	if c := conns.Load(); c != 20 {
		t.Errorf("%d connections for 20 requests that each ended theirs, want 20", c)
	}
}

// Keep-alive: one connection per client for the whole run.
func TestClientKeepsItsConnection(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"number": 1}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	run(t, Config{URLs: []string{srv.URL}, Clients: 3, Requests: 10})
	if c := conns.Load(); c != 3 {
		t.Errorf("%d connections for 3 clients, want 3", c)
	}
}

// A server that never answers: each request fails after Timeout, and ending ctx interrupts
// the one in flight instead of waiting for it.
func TestClientTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	r := run(t, Config{URLs: []string{srv.URL}, Clients: 1, Requests: 2, Timeout: 50 * time.Millisecond})
	if s := r.Summary(); s.Errors != 2 || !strings.Contains(r.Ops[0].Err.Error(), "timeout") {
		t.Fatalf("summary %v, first error %v; want 2 timeouts", s, r.Ops[0].Err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	r, err := Run(ctx, Config{URLs: []string{srv.URL}, Clients: 2, Requests: 1, Timeout: 40 * time.Second})
	if err != context.Canceled || len(r.Ops) != 2 || r.Ops[0].OK() {
		t.Fatalf("Run = %+v, %v; want two failed ops and context.Canceled", r, err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("cancelled Run took %v: the request in flight was not interrupted", took)
	}
}

func TestRunRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"https://127.0.0.1:1", "http://127.0.0.1", "http://127.0.0.1:1/api", "http://127.0.0.1:1/?x=1", "127.0.0.1:1", "http://[::1"} {
		if _, err := Run(context.Background(), Config{URLs: []string{u}, Clients: 1, Requests: 1}); err == nil {
			t.Errorf("Run accepted URL %q; want http://host:port only", u)
		}
	}
}
