// Package store keeps the counter durably: in MySQL (shared by every replica) or in an
// embedded SQLite file (one process, for a newcomer's laptop). Both hand out numbers with a
// single atomic statement that increments and returns the new value, committed before it
// returns.
package store

import (
	"context"
	"errors"
)

// Store is a durable counter.
type Store interface {
	// Add increments the counter by n (n >= 1) in one committed statement and returns the
	// new value: the caller owns the numbers last-n+1 .. last. On error the increment may
	// or may not have committed (a gap), but those numbers are never returned again.
	Add(ctx context.Context, n int64) (last int64, err error)
	// Setup creates the table and its single row if missing; idempotent and safe to run
	// from several processes at once.
	Setup(ctx context.Context) error
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// ErrNoRow means the counter row is missing: Setup has not run (or someone deleted it).
var ErrNoRow = errors.New("store: counter row (id = 1) is missing")
