package server

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's Prometheus metrics, on a registry of their own so tests and
// several servers in one process do not collide. They implement counter.Observer.
type Metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	batchSize prometheus.Histogram
	statement prometheus.Histogram
	dbErrors  prometheus.Counter
	handedOut prometheus.Counter
	abandoned prometheus.Counter
	// connsClosed counts the connections the server closed for passing a limit
	// (connlimit's names); rare, so looked up per close.
	connsClosed *prometheus.CounterVec
	// lastNumber and ready back gauges read at scrape time: a batch or a readiness check
	// stores an integer, no float conversion or lock on the request path.
	lastNumber atomic.Int64
	ready      atomic.Bool
	// routes holds each route label's children once bound: WithLabelValues hashes its
	// labels and takes a lock, which every request would pay.
	routes map[string]*routeMetrics
}

// routeMetrics are one route label's latency and its 200s counter, bound on first use
// so that /metrics shows only what happened, as with WithLabelValues per request; other
// codes, rare, are looked up per request.
type routeMetrics struct {
	latencyOnce, okOnce sync.Once
	latency             prometheus.Observer
	ok                  prometheus.Counter
}

// routeLabels are the values routeLabel returns for the routes of addRoutes.
var routeLabels = []string{"/get-number", "/healthz", "/readyz", "/metrics", "other"}

// NewMetrics registers the metrics, with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "counter_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "counter_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "counter_batch_size",
			Help:    "Numbers allocated per database statement.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 .. 8192
		}),
		statement: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "counter_db_statement_duration_seconds",
			Help:    "Increment statements, whatever their outcome: from asking the pool for a connection to the commit's reply.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_db_errors_total",
			Help: "Failed increment statements (their numbers may be lost: a gap, never reused).",
		}),
		handedOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_numbers_handed_out_total",
			Help: "Numbers returned to clients.",
		}),
		abandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_numbers_abandoned_total",
			Help: "Numbers committed but never handed out (gaps): their answer could not be written, or their request had timed out.",
		}),
	}
	m.connsClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "counter_http_connections_closed_total",
		Help: "Connections the server closed for passing a limit: header (a new connection sent no complete request header in time), idle (kept alive unused), busy (a request not read and answered in time, e.g. a promised body that never came).",
	}, []string{"limit"})
	lastNumber := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "counter_last_number",
		Help: "The highest number this replica has allocated (committed), 0 before its first: how close the counter is to 2^63-1, and whether the sequence went backwards (a restore from an old backup).",
	}, func() float64 { return float64(m.lastNumber.Load()) })
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "counter_ready",
		Help: "1 if this replica's latest readiness check (/readyz) passed, else 0 (also before the first).",
	}, func() float64 {
		if m.ready.Load() {
			return 1
		}
		return 0
	})
	m.routes = make(map[string]*routeMetrics, len(routeLabels))
	for _, r := range routeLabels {
		m.routes[r] = &routeMetrics{}
	}
	m.registry.MustRegister(m.requests, m.latency, m.batchSize, m.statement, m.dbErrors, m.handedOut, m.abandoned, m.connsClosed,
		lastNumber, ready,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Batch implements counter.Observer.
func (m *Metrics) Batch(size int, last int64, took time.Duration, err error) {
	m.statement.Observe(took.Seconds())
	if err != nil {
		m.dbErrors.Inc()
		return
	}
	m.batchSize.Observe(float64(size))
	// Statements of the Single counter may return out of order: keep the highest.
	for {
		cur := m.lastNumber.Load()
		if last <= cur || m.lastNumber.CompareAndSwap(cur, last) {
			return
		}
	}
}

// Ready records the outcome of a readiness check.
func (m *Metrics) Ready(ok bool) { m.ready.Store(ok) }

// Abandoned implements counter.Observer.
func (m *Metrics) Abandoned(n int) { m.abandoned.Add(float64(n)) }

// ConnClosed counts a connection closed for passing the named limit (connlimit's closed).
func (m *Metrics) ConnClosed(limit string) { m.connsClosed.WithLabelValues(limit).Inc() }

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *Metrics) observe(route string, code int, took time.Duration) {
	r := m.routes[route]
	if r == nil { // a route added without its label in routeLabels: still counted
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		m.latency.WithLabelValues(route).Observe(took.Seconds())
		return
	}
	if code == http.StatusOK {
		r.okOnce.Do(func() { r.ok = m.requests.WithLabelValues(route, "200") })
		r.ok.Inc()
	} else {
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	}
	r.latencyOnce.Do(func() { r.latency = m.latency.WithLabelValues(route) })
	r.latency.Observe(took.Seconds())
}
