// Command app is the counter HTTP service: GET /get-number returns a number that is unique
// and strictly increasing across all callers and replicas sharing one MySQL database.
// Configuration comes from environment variables (see package config and the README).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // once shutting down, a second signal ends the process at once
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
