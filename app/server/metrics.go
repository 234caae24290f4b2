package server

import (
	"net/http"
	"strconv"
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
}

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
	m.registry.MustRegister(m.requests, m.latency, m.batchSize, m.statement, m.dbErrors, m.handedOut, m.abandoned,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Batch implements counter.Observer.
func (m *Metrics) Batch(size int, took time.Duration, err error) {
	m.statement.Observe(took.Seconds())
	if err != nil {
		m.dbErrors.Inc()
		return
	}
	m.batchSize.Observe(float64(size))
}

// Abandoned implements counter.Observer.
func (m *Metrics) Abandoned(n int) { m.abandoned.Add(float64(n)) }

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *Metrics) observe(route string, code int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}
