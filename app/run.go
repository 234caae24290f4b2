package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/counter-mysql/counter-mysql/app/config"
	"github.com/counter-mysql/counter-mysql/app/service"
)

// run is the whole program with its surroundings as parameters, so tests can run it with
// a fake environment: it serves until ctx ends. Logs go to stdout; the listening address
// is logged ("serving", addr=...) so callers using port 0 can find it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return errors.New("usage: app (no arguments; configure with environment variables, see README)")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: LISTEN_ADDR=%q: %w", cfg.ListenAddr, err)
	}
	return service.Run(ctx, cfg, log, ln)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
