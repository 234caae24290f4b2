package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/counter-mysql/counter-mysql/app/schema"
)

// serveBare serves the bare coalescer, the reference the app's extras are measured
// against (issue 26): the least code that keeps the app's guarantee (one statement in
// flight, numbers handed out after its commit, in arrival order), without metrics,
// middleware, JSON encoding or a per-request timeout. It creates its table on dsn's
// database and batches at most maxBatch numbers per statement, as the app does. Its
// /metrics has the app's two per-statement histograms (their cost is per statement, not
// per request), so every line shows its numbers per statement.
func serveBare(ctx context.Context, ln net.Listener, dsn string, maxBatch int) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	cfg.InterpolateParams = true // one round trip per statement, as the app's store
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxOpenConns(1) // one statement in flight needs one connection
	if _, err := db.ExecContext(ctx, schema.CreateSeeded); err != nil {
		return fmt.Errorf("creating the table: %w", err)
	}
	reg := prometheus.NewRegistry()
	batchSize := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "counter_batch_size"})
	statement := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "counter_db_statement_duration_seconds"})
	reg.MustRegister(batchSize, statement)
	// A reply channel gets the number, or 0 (never handed out) when the statement failed.
	queue := make(chan chan int64, 4096)
	go func() {
		for first := range queue {
			batch := []chan int64{first}
		more:
			for len(batch) < maxBatch {
				select {
				case r := <-queue:
					batch = append(batch, r)
				default:
					break more
				}
			}
			last, start := int64(0), time.Now()
			res, err := db.Exec("UPDATE "+schema.Table+" SET value = LAST_INSERT_ID(value + ?) WHERE id = 1", len(batch))
			if err == nil {
				last, err = res.LastInsertId()
			}
			statement.Observe(time.Since(start).Seconds())
			batchSize.Observe(float64(len(batch)))
			for i, r := range batch {
				if err != nil {
					r <- 0
				} else {
					r <- last - int64(len(batch)-1-i)
				}
			}
		}
	}()
	http.HandleFunc("/get-number", func(w http.ResponseWriter, r *http.Request) {
		reply := make(chan int64, 1)
		queue <- reply
		n := <-reply
		if n == 0 {
			http.Error(w, "counter unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "{\"number\":%d}\n", n)
	})
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return serveUntilDone(ctx, &http.Server{}, ln) // the default mux
}
