// Package store keeps the counter durably: in MySQL (shared by every replica) or in an
// embedded SQLite file (one process, for a newcomer's laptop). Both hand out numbers with a
// single atomic statement that increments and returns the new value, committed before it
// returns.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/counter-mysql/counter-mysql/app/schema"
)

// Store is a durable counter.
type Store interface {
	// Add increments the counter by n (n >= 1) in one committed statement and returns the
	// new value: the caller owns the numbers last-n+1 .. last. On error the increment may
	// or may not have committed (a gap), but those numbers are never returned again.
	Add(ctx context.Context, n int64) (last int64, err error)
	// Setup creates the table with its single row if the table is missing, then Checks;
	// idempotent and safe to run from several processes at once. It never re-creates a
	// missing row.
	Setup(ctx context.Context) error
	// Check reports whether Add can succeed now: the database answers, the row exists,
	// the counter has numbers left (ErrNoRow, ErrExhausted) and an UPDATE of the table is
	// allowed.
	Check(ctx context.Context) error
	Close() error
}

// ErrNoRow means the table exists but its row is gone (deleted by hand, a wrong restore).
// It needs a human: re-creating the row at 0 would hand out every number again.
var ErrNoRow = errors.New("store: the counter table exists but its row (id = 1) is missing: " +
	"restore it from a backup, or insert it with a value of at least the last number handed out; " +
	"it is never re-created at 0, which would hand out numbers again")

// ErrExhausted means the counter reached schema.MaxValue: no number is left to hand out.
var ErrExhausted = errors.New("store: the counter has reached 9223372036854775807 (2^63-1), the largest number it hands out")

// probeUpdate needs what Add needs, the UPDATE privilege on the table (MySQL) or a
// writable file (SQLite), and changes no row.
const probeUpdate = "UPDATE " + schema.Table + " SET value = value WHERE FALSE"

// checkRow is Check for both stores: it reads the row, telling a database error from a
// missing row and an exhausted counter, then runs probeUpdate, so that a user without
// UPDATE is not ready while every increment is refused. name labels errors ("mysql",
// "sqlite").
func checkRow(ctx context.Context, db *sql.DB, name string) error {
	var value uint64
	err := db.QueryRowContext(ctx, "SELECT value FROM "+schema.Table+" WHERE id = 1").Scan(&value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNoRow
	case err != nil:
		return fmt.Errorf("store: %s: %w", name, err)
	case value >= schema.MaxValue:
		return ErrExhausted
	}
	if _, err := db.ExecContext(ctx, probeUpdate); err != nil {
		return fmt.Errorf("store: %s: the increment would fail: %w", name, err)
	}
	return nil
}

// IsPermanent reports whether err needs a human before Add can succeed again.
func IsPermanent(err error) bool { return errors.Is(err, ErrNoRow) || errors.Is(err, ErrExhausted) }
