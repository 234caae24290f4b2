package server

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// discardWriter is a ResponseWriter that keeps nothing and is reused across requests, so
// the benchmark counts the handler chain's work and allocations, not a recorder's.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// BenchmarkGetNumber drives GET /get-number through the whole handler chain (middleware,
// mux, handler, metrics) on a counter that costs nothing: what the HTTP layer adds per
// number on top of net/http's own work.
func BenchmarkGetNumber(b *testing.B) {
	h := New(Deps{
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Counter:        &fakeCounter{},
		Metrics:        NewMetrics(),
		ShuttingDown:   func() bool { return false },
		RequestTimeout: 2 * time.Second,
	})
	req, err := http.NewRequest(http.MethodGet, "/get-number", nil)
	if err != nil {
		b.Fatal(err)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}
