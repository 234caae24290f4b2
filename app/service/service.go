// Package service assembles the counter service from its configuration (store, counter,
// HTTP server) and runs it until its context ends. The program's main and the load
// generator both use it, so they run the same wiring.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/counter-mysql/counter-mysql/app/config"
	"github.com/counter-mysql/counter-mysql/app/connlimit"
	"github.com/counter-mysql/counter-mysql/app/counter"
	"github.com/counter-mysql/counter-mysql/app/server"
	"github.com/counter-mysql/counter-mysql/app/store"
)

// errSchemaNotReady is what /readyz reports until the table exists.
var errSchemaNotReady = errors.New("schema setup has not succeeded yet")

// numberSource is a counter that can be drained at shutdown.
type numberSource interface {
	server.Counter
	Close(ctx context.Context) error
}

// Run serves on ln until ctx ends, then shuts down gracefully: it fails /readyz and keeps
// serving for cfg.ShutdownDelay, stops accepting, finishes in-flight requests (bounded by cfg.ShutdownTimeout), drains the counter and
// closes the database pool. A database that is down does not stop it: schema setup is
// retried in the background and /readyz fails meanwhile.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ln net.Listener) error {
	st, err := openStore(cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close()

	var setup setupState
	var bg sync.WaitGroup
	setupCtx, stopSetup := context.WithCancel(ctx)
	defer func() { stopSetup(); bg.Wait() }()
	if cfg.MySQL == nil {
		// A local file either works now or needs a human: fail start-up.
		if err := st.Setup(ctx); err != nil {
			ln.Close()
			return fmt.Errorf("SQLITE_PATH=%q: %w", cfg.SQLitePath, err)
		}
		setup.ready.Store(true)
	} else {
		bg.Go(func() { setupUntilDone(setupCtx, st, log, cfg.RequestTimeout, &setup) })
	}

	metrics := server.NewMetrics()
	obs := &outageLog{Metrics: metrics, log: log}
	var numbers numberSource
	if cfg.Mode == config.ModeSingle {
		numbers = counter.NewSingle(st, cfg.RequestTimeout, obs)
	} else {
		numbers = counter.NewCoalescer(st, cfg.MaxBatch, cfg.RequestTimeout, obs)
	}

	var stopping atomic.Bool
	handler := server.New(server.Deps{
		Log:     log,
		Counter: numbers,
		Metrics: metrics,
		Ready: func(ctx context.Context) error {
			if stopping.Load() {
				return errors.New("shutting down")
			}
			if err := setup.err(); err != nil {
				return err
			}
			// Whenever /get-number can only fail (database down, row gone, counter
			// exhausted), so does this, saying why.
			return st.Check(ctx)
		},
		ShuttingDown:   stopping.Load,
		RequestTimeout: cfg.RequestTimeout,
	})
	// The connection limits outlive ctx: the server keeps serving until Shutdown returns.
	connCtx, stopConns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConns()
	srv := NewHTTPServer(connCtx, handler, cfg.RequestTimeout, metrics, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "mode", string(cfg.Mode), "max_batch", cfg.MaxBatch)

	select {
	case err := <-served:
		numbers.Close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stopping.Store(true)
	if cfg.ShutdownDelay > 0 {
		log.Info("stop signal: still serving, not ready, until traffic moves away", "delay", cfg.ShutdownDelay.String())
		time.Sleep(cfg.ShutdownDelay)
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if cerr := numbers.Close(shutdownCtx); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// Connection limits (connlimit): a client has headerTimeout to send a request's header
// on a new connection, a keep-alive connection may stay idle for idleTimeout, and a
// request must be read and answered within its REQUEST_TIMEOUT plus headerTimeout.
const (
	headerTimeout = 5 * time.Second
	idleTimeout   = 2 * time.Minute
)

// NewHTTPServer is the service's http.Server for handler, with the connection limits
// above enforced until ctx ends and counted in m. They are connlimit's rather than
// net/http's ReadHeaderTimeout and IdleTimeout, which cost about 6% of the CPU per
// number, and unlike those they also bound a request body that never comes.
func NewHTTPServer(ctx context.Context, handler http.Handler, requestTimeout time.Duration, m *server.Metrics, log *slog.Logger) *http.Server {
	conns := connlimit.New(connlimit.Limits{Header: headerTimeout, Idle: idleTimeout, Busy: requestTimeout + headerTimeout}, m.ConnClosed)
	go conns.Run(ctx, time.Second)
	return &http.Server{
		Handler:   handler,
		ConnState: conns.ConnState,
		// OPTIONS * gets the handler's JSON 404 instead of net/http's bodiless 200.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func openStore(cfg config.Config, log *slog.Logger) (store.Store, error) {
	if cfg.MySQL == nil {
		log.Warn("using the embedded SQLite store: durable on this machine, for ONE process only; set MYSQL_HOST or MYSQL_DSN to run several replicas",
			"path", cfg.SQLitePath)
		return store.OpenSQLite(cfg.SQLitePath)
	}
	mc := store.MySQLConfig(cfg.MySQL, cfg.RequestTimeout)
	// The driver's own messages (e.g. a connection dropped by a restarting server) join the
	// structured log. Set here, not with mysql.SetLogger: a parsed DSN has already copied
	// the driver's default logger.
	mc.Logger = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	log.Info("using MySQL", "addr", mc.Addr, "database", mc.DBName, "user", mc.User, "max_conns", cfg.DBMaxConns)
	return store.OpenMySQL(mc, cfg.DBMaxConns)
}

// setupState is how far schema set-up has got, for /readyz.
type setupState struct {
	ready atomic.Bool
	// why is the last attempt's error, while not ready.
	why atomic.Pointer[string]
}

// err is nil once set-up succeeded, else why not.
func (s *setupState) err() error {
	if s.ready.Load() {
		return nil
	}
	if why := s.why.Load(); why != nil {
		return fmt.Errorf("%w: %s", errSchemaNotReady, *why)
	}
	return errSchemaNotReady
}

// setupUntilDone runs st.Setup with capped exponential backoff until it succeeds or ctx
// ends, so replicas may start before the database does, and a row restored by hand is
// picked up. Each new reason is logged once, not every retry; one that needs a human (the
// row is gone, the counter is exhausted) as an error saying what to do.
func setupUntilDone(ctx context.Context, st store.Store, log *slog.Logger, attempt time.Duration, state *setupState) {
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, max(attempt, 5*time.Second))
		err := st.Setup(actx)
		cancel()
		if err == nil {
			state.ready.Store(true)
			log.Info("schema ready")
			return
		}
		if ctx.Err() != nil {
			return
		}
		why := err.Error()
		if last := state.why.Swap(&why); last == nil || *last != why {
			if store.IsPermanent(err) {
				log.Error("not serving numbers until this is fixed by hand; checking again every few seconds", "err", err)
			} else {
				log.Warn("schema setup failed; retrying", "err", err, "retry_in", wait.String())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// outageLog adds to the metrics one log line when statements start failing and one when
// they succeed again, instead of one per failed request during an outage.
type outageLog struct {
	*server.Metrics
	log     *slog.Logger
	failing atomic.Bool
}

func (o *outageLog) Batch(size int, last int64, took time.Duration, err error) {
	o.Metrics.Batch(size, last, took, err)
	if err != nil && !o.failing.Swap(true) {
		o.log.Warn("database statements failing; answering 503 until they succeed", "err", err)
	} else if err == nil && o.failing.Swap(false) {
		o.log.Info("database statements succeed again")
	}
}
