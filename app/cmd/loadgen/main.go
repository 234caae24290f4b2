// Command loadgen benchmarks the counter service against MySQL in both modes, coalesced
// (batch) and one statement per request (single), on fresh databases in one run, and
// reports throughput, latency, errors and duplicates. It checks every recorded history
// (unique, increasing per client, linearizable) and exits non-zero if one fails.
//
// By default it starts its own throwaway MariaDB/MySQL (mariadbd or mysqld must be
// installed; durable settings: innodb_flush_log_at_trx_commit=1). With -dsn it uses an
// existing server through an admin DSN and creates (then drops) its own databases there.
//
//	go run ./app/cmd/loadgen -clients 64 -duration 5s -ceiling
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/counter-mysql/counter-mysql/app/config"
	"github.com/counter-mysql/counter-mysql/app/loadtest"
	"github.com/counter-mysql/counter-mysql/app/mysqltest"
	"github.com/counter-mysql/counter-mysql/app/server"
	"github.com/counter-mysql/counter-mysql/app/service"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	dsn              string
	clients          int
	replicas         int
	duration, warmup time.Duration
	maxBatch         int
	dbConns          int
	cpuProfile       string
	ceiling          bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dsn, "dsn", "", "admin DSN of an existing MySQL/MariaDB server (default: start a throwaway one)")
	fs.IntVar(&o.clients, "clients", 64, "concurrent closed-loop HTTP clients")
	fs.IntVar(&o.replicas, "replicas", 1, "app servers sharing the database (clients are spread over them)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per mode, after the warm-up")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up per mode, left out of the figures")
	fs.IntVar(&o.maxBatch, "max-batch", 256, "COUNTER_MAX_BATCH for the coalesced mode")
	fs.IntVar(&o.dbConns, "db-conns", 16, "DB_MAX_CONNS of every app server, both modes")
	fs.BoolVar(&o.ceiling, "ceiling", false, "also drive the same HTTP server with an in-memory counter (no database): the most this machine's loopback HTTP allows")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the coalesced run (load driver and servers, one process) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.clients < 1 || o.replicas < 1 || o.dbConns < 1 || o.duration <= 0 || o.warmup < 0 {
		return errors.New("-clients, -replicas, -db-conns and -duration must be positive, -warmup not negative")
	}

	srv, err := openServer(ctx, o.dsn, stderr)
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Fprintf(stdout, "server %s, %d clients over %d replica(s), %v measured after %v warm-up per mode\n",
		srv.Addr(), o.clients, o.replicas, o.duration, o.warmup)

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	results := map[config.Mode]result{}
	var broken []error // histories that failed their checks
	for _, mode := range []config.Mode{config.ModeBatch, config.ModeSingle} {
		s, err := benchmark(ctx, srv, mode, o, log)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		results[mode] = s
		if s.historyErr != nil {
			broken = append(broken, fmt.Errorf("%s: %w", mode, s.historyErr))
		}
		fmt.Fprintf(stdout, "%-6s %8.0f req/s  p50 %-9v p99 %-9v errors %d  duplicates %d  mean batch %.1f  mean statement %v\n",
			mode, s.ReqPerSec, s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Errors, s.Duplicates,
			s.meanBatch, time.Duration(s.meanStatement*float64(time.Second)).Round(time.Microsecond))
	}
	if o.ceiling {
		s, err := ceiling(ctx, o, log)
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		fmt.Fprintf(stdout, "no-db  %8.0f req/s  p50 %-9v p99 %-9v errors %d  (in-memory counter, not durable: the HTTP ceiling)\n",
			s.ReqPerSec, s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Errors)
	}
	if single := results[config.ModeSingle].ReqPerSec; single > 0 {
		fmt.Fprintf(stdout, "coalesced/single throughput: %.1fx\n", results[config.ModeBatch].ReqPerSec/single)
	}
	return errors.Join(broken...)
}

func openServer(ctx context.Context, dsn string, stderr io.Writer) (*mysqltest.Server, error) {
	if dsn != "" {
		return mysqltest.External(dsn)
	}
	fmt.Fprintln(stderr, "starting a throwaway database server...")
	return mysqltest.Start(ctx, mysqltest.Options{})
}

// result is one mode's figures.
type result struct {
	loadtest.Summary
	historyErr    error   // why the recorded history is not a correct counter's
	meanBatch     float64 // numbers per statement
	meanStatement float64 // seconds per statement, from pool wait to the commit's reply
}

// benchmark runs the real service in mode on a fresh database and drives it.
func benchmark(ctx context.Context, srv *mysqltest.Server, mode config.Mode, o options, log *slog.Logger) (result, error) {
	db := "loadgen_" + string(mode) + "_" + strings.ToLower(rand.Text())
	if err := srv.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return result{}, err
	}
	defer srv.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)

	env := map[string]string{
		"MYSQL_DSN":         srv.DSN(db),
		"COUNTER_MODE":      string(mode),
		"COUNTER_MAX_BATCH": fmt.Sprint(o.maxBatch),
		"DB_MAX_CONNS":      fmt.Sprint(o.dbConns),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return result{}, err
	}
	appCtx, stopApps := context.WithCancel(ctx)
	var urls []string
	done := make(chan error, o.replicas)
	defer func() {
		stopApps()
		for range urls {
			<-done
		}
	}()
	for range o.replicas {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return result{}, err
		}
		go func() { done <- service.Run(appCtx, cfg, log, ln) }()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	for _, u := range urls {
		if err := waitReady(ctx, u); err != nil {
			return result{}, err
		}
	}
	if mode == config.ModeBatch && o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return result{}, err
		}
		defer stopProfile()
	}
	r, err := drive(ctx, urls, o)
	if err != nil {
		return result{}, err
	}
	return result{
		Summary:       r.Summary(),
		historyErr:    loadtest.CheckHistory(r.Ops, time.Minute),
		meanBatch:     histogramMean(ctx, urls, "counter_batch_size"),
		meanStatement: histogramMean(ctx, urls, "counter_db_statement_duration_seconds"),
	}, nil
}

func drive(ctx context.Context, urls []string, o options) (*loadtest.Result, error) {
	return loadtest.Run(ctx, loadtest.Config{
		URLs:     urls,
		Clients:  o.clients,
		Duration: o.warmup + o.duration,
		Warmup:   o.warmup,
		Timeout:  10 * time.Second,
	})
}

// memoryCounter hands out numbers from memory: no database, no durability.
type memoryCounter struct{ n atomic.Int64 }

func (m *memoryCounter) Next(context.Context) (int64, error) { return m.n.Add(1), nil }

// ceiling drives the service's own HTTP handler with a memoryCounter and the same load: it
// measures what the driver and the HTTP layer cost on this machine, which bounds the
// coalesced mode from above.
func ceiling(ctx context.Context, o options, log *slog.Logger) (loadtest.Summary, error) {
	h := server.New(server.Deps{
		Log:            log,
		Counter:        &memoryCounter{},
		Metrics:        server.NewMetrics(),
		Ready:          func(context.Context) error { return nil },
		ShuttingDown:   func() bool { return false },
		RequestTimeout: time.Second,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return loadtest.Summary{}, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	r, err := drive(ctx, []string{"http://" + ln.Addr().String()}, o)
	if err != nil {
		return loadtest.Summary{}, err
	}
	return r.Summary(), loadtest.CheckHistory(r.Ops, time.Minute)
}

// histogramMean is the mean of the replicas' histograms called name, read from /metrics
// (warm-up included); 0 if unavailable.
func histogramMean(ctx context.Context, urls []string, name string) float64 {
	var sum float64
	var count uint64
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/metrics", nil)
		if err != nil {
			return 0
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil || families[name] == nil {
			return 0
		}
		for _, m := range families[name].GetMetric() {
			sum += m.GetHistogram().GetSampleSum()
			count += m.GetHistogram().GetSampleCount()
		}
	}
	if count == 0 {
		return 0
	}
	return sum / float64(count)
}

// waitReady polls /readyz for up to a minute.
func waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startCPUProfile profiles this process (load driver and app servers) until the returned
// function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
