package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the pure-Go driver "sqlite"

	"github.com/counter-mysql/counter-mysql/app/schema"
)

// SQLite's own DDL: the MySQL statements in package schema use InnoDB syntax. Its
// INTEGER is int64, so schema.MaxValue is its limit too; past it, arithmetic would turn the
// value into a float, so addSQLite changes nothing there (arguments: n, n).
const (
	createSQLite = "CREATE TABLE " + schema.Table + " (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)"
	seedSQLite   = "INSERT INTO " + schema.Table + " (id, value) VALUES (1, 0)"
	tableSQLite  = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '" + schema.Table + "'"
	addSQLite    = "UPDATE " + schema.Table + " SET value = value + ? WHERE id = 1 AND value <= 9223372036854775807 - ? RETURNING value"
)

// SQLite is the embedded store: durable on one machine, for one process only.
type SQLite struct {
	db *sql.DB
}

// OpenSQLite opens (creating if needed) the database file at path. WAL with
// synchronous=FULL makes every commit durable before it returns; one connection makes this
// process the only writer, so statements queue in the pool instead of failing as busy.
func OpenSQLite(path string) (*SQLite, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+uriPath(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return &SQLite{db: db}, nil
}

// uriPath escapes what a SQLite URI filename would otherwise take as syntax: '?' starts the
// parameters, '#' a fragment, '%' an escape. SQLite decodes %HH back into the name.
func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
}

// Add implements Store.
func (s *SQLite) Add(ctx context.Context, n int64) (int64, error) {
	var last int64
	err := s.db.QueryRowContext(ctx, addSQLite, n, n).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		if err := s.Check(ctx); err != nil {
			return 0, err
		}
		return 0, ErrExhausted // room for fewer than n numbers
	}
	if err != nil {
		return 0, fmt.Errorf("store: sqlite: increment: %w", err)
	}
	return last, nil
}

// Setup implements Store: the table and its row are created in one transaction (SQLite's
// DDL is transactional), only if the table is missing.
func (s *SQLite) Setup(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: sqlite: setup: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, tableSQLite).Scan(&n); err != nil {
		return fmt.Errorf("store: sqlite: setup: %w", err)
	}
	if n == 0 {
		for _, q := range []string{createSQLite, seedSQLite} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("store: sqlite: setup: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: sqlite: setup: %w", err)
	}
	return s.Check(ctx)
}

// Check implements Store.
func (s *SQLite) Check(ctx context.Context) error { return checkRow(ctx, s.db, "sqlite") }

// Close implements Store.
func (s *SQLite) Close() error { return s.db.Close() }
