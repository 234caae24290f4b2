package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/counter-mysql/counter-mysql/app/schema"
)

// addMySQL increments and returns the value in one statement: LAST_INSERT_ID(expr) makes
// the OK packet carry the new value, so no second query (which could run on another
// connection of the pool) is needed. Works on MySQL 8 and MariaDB. It changes nothing past
// schema.MaxValue (arguments: n, n), where LAST_INSERT_ID would come back negative.
const addMySQL = "UPDATE " + schema.Table + " SET value = LAST_INSERT_ID(value + ?) WHERE id = 1 AND value <= " +
	maxValue + " - ?"

const maxValue = "9223372036854775807" // schema.MaxValue

// erTableExists is ER_TABLE_EXISTS_ERROR: another replica created the table first.
const erTableExists = 1050

// MySQL is the store shared by all replicas.
type MySQL struct {
	db *sql.DB
}

// MySQLConfig completes cfg for the counter: one round trip per statement and bounded
// network waits, so a dead server turns into an error instead of a hang. Timeouts the
// caller set are kept. Isolation is deliberately not set (its variable name differs
// between MySQL 8 and MariaDB, and autocommit single statements do not need it).
func MySQLConfig(cfg *mysql.Config, requestTimeout time.Duration) *mysql.Config {
	cfg = cfg.Clone()
	cfg.InterpolateParams = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	// Reads and writes of a live server finish in milliseconds; the request context
	// (shorter) normally fires first, these catch a half-open TCP connection.
	io := max(2*requestTimeout, 5*time.Second)
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = io
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = io
	}
	return cfg
}

// OpenMySQL opens a pool of at most maxConns connections; idle ones are kept for a minute
// and every one is recycled after a few minutes, so a fail-over or DNS change is picked
// up. It does not connect yet.
func OpenMySQL(cfg *mysql.Config, maxConns int) (*MySQL, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns) // the default of 2 reconnects under load
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	return &MySQL{db: db}, nil
}

// Add implements Store.
func (s *MySQL) Add(ctx context.Context, n int64) (int64, error) {
	res, err := s.db.ExecContext(ctx, addMySQL, n, n)
	if err != nil {
		return 0, fmt.Errorf("store: mysql: increment: %w", err)
	}
	rows, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: mysql: %w", err)
	}
	if rows != 1 {
		if err := s.Check(ctx); err != nil {
			return 0, err
		}
		return 0, ErrExhausted // room for fewer than n numbers
	}
	last, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: mysql: %w", err)
	}
	return last, nil
}

// Setup implements Store with schema.CreateSeeded, which needs only the privileges in
// schema.Privileges. The table is looked up first so that a replica that finds it (the
// usual case) does not even need CREATE.
func (s *MySQL) Setup(ctx context.Context) error {
	var n int
	err := s.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
		schema.Table).Scan(&n)
	if err != nil {
		return fmt.Errorf("store: mysql: look up table: %w", err)
	}
	if n == 0 {
		var exists *mysql.MySQLError
		if _, err := s.db.ExecContext(ctx, schema.CreateSeeded); err != nil && !(errors.As(err, &exists) && exists.Number == erTableExists) {
			return fmt.Errorf("store: mysql: create table: %w", err)
		}
	}
	return s.Check(ctx)
}

// Check implements Store.
func (s *MySQL) Check(ctx context.Context) error { return checkRow(ctx, s.db, "mysql") }

// Close implements Store.
func (s *MySQL) Close() error { return s.db.Close() }
