package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the pure-Go driver "sqlite"

	"github.com/counter-mysql/counter-mysql/app/schema"
)

// SQLite's own DDL: the MySQL statements in package schema use InnoDB syntax.
const (
	createSQLite = "CREATE TABLE IF NOT EXISTS " + schema.Table + " (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)"
	seedSQLite   = "INSERT OR IGNORE INTO " + schema.Table + " (id, value) VALUES (1, 0)"
	addSQLite    = "UPDATE " + schema.Table + " SET value = value + ? WHERE id = 1 RETURNING value"
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
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return &SQLite{db: db}, nil
}

// Add implements Store.
func (s *SQLite) Add(ctx context.Context, n int64) (int64, error) {
	var last int64
	err := s.db.QueryRowContext(ctx, addSQLite, n).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoRow
	}
	if err != nil {
		return 0, fmt.Errorf("store: sqlite: increment: %w", err)
	}
	return last, nil
}

// Setup implements Store.
func (s *SQLite) Setup(ctx context.Context) error {
	for _, q := range []string{createSQLite, seedSQLite} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: sqlite: setup: %w", err)
		}
	}
	return nil
}

// Ping implements Store.
func (s *SQLite) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close implements Store.
func (s *SQLite) Close() error { return s.db.Close() }
