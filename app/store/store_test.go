package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
	"github.com/counter-mysql/counter-mysql/app/schema"
)

// tableSQL runs a statement on the counter table behind the store's back; %s in it stands
// for the table.
type tableSQL func(ctx context.Context, format string) error

// testStore checks a store's contract: consecutive ranges, idempotent setup, an error
// (never a made-up number, never a re-created row) when the row is missing, and a clear
// end at schema.MaxValue instead of a wrapped number.
func testStore(t *testing.T, s Store, exec tableSQL) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 2 {
		if err := s.Setup(ctx); err != nil {
			t.Fatalf("Setup: %v", err)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ n, want int64 }{{1, 1}, {5, 6}, {1, 7}} {
		if last, err := s.Add(ctx, step.n); err != nil || last != step.want {
			t.Fatalf("Add(%d) = %d, %v; want %d", step.n, last, err, step.want)
		}
	}
	if err := s.Setup(ctx); err != nil { // must not reset the value
		t.Fatal(err)
	}
	if last, err := s.Add(ctx, 1); err != nil || last != 8 {
		t.Fatalf("Add after a second Setup = %d, %v; want 8", last, err)
	}

	// The row is gone: refused everywhere, and never re-created at 0 (1, 2, 3 again).
	if err := exec(ctx, "DELETE FROM %s"); err != nil {
		t.Fatal(err)
	}
	if last, err := s.Add(ctx, 1); !errors.Is(err, ErrNoRow) {
		t.Fatalf("Add without the row = %d, %v; want ErrNoRow", last, err)
	}
	if err := s.Setup(ctx); !errors.Is(err, ErrNoRow) {
		t.Fatalf("Setup without the row = %v; want ErrNoRow (the table exists: the row must not be re-created)", err)
	}
	if err := s.Check(ctx); !errors.Is(err, ErrNoRow) {
		t.Fatalf("Check without the row = %v; want ErrNoRow", err)
	}
	if last, err := s.Add(ctx, 1); !errors.Is(err, ErrNoRow) {
		t.Fatalf("Add after Setup without the row = %d, %v; want ErrNoRow", last, err)
	}

	// Restored close to the end: the last numbers, then a clear refusal, never a wrap.
	if err := exec(ctx, "INSERT INTO %s (id, value) VALUES (1, 9223372036854775804)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Setup(ctx); err != nil {
		t.Fatalf("Setup after the row was restored: %v", err)
	}
	if last, err := s.Add(ctx, 5); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Add(5) with 3 numbers left = %d, %v; want ErrExhausted", last, err)
	}
	for _, want := range []int64{schema.MaxValue - 2, schema.MaxValue - 1, schema.MaxValue} {
		if last, err := s.Add(ctx, 1); err != nil || last != want {
			t.Fatalf("Add(1) = %d, %v; want %d", last, err, want)
		}
	}
	if last, err := s.Add(ctx, 1); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Add past the end = %d, %v; want ErrExhausted", last, err)
	}
	if err := s.Check(ctx); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Check at the end = %v; want ErrExhausted", err)
	}
	if !IsPermanent(ErrExhausted) || !IsPermanent(ErrNoRow) {
		t.Error("IsPermanent does not know the permanent errors")
	}
}

func TestSQLite(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	testStore(t, s, func(ctx context.Context, format string) error {
		_, err := s.db.ExecContext(ctx, fmt.Sprintf(format, schema.Table))
		return err
	})
}

func TestMySQL(t *testing.T) {
	srv := mysqltest.New(t)
	db := srv.CreateDatabase(t)
	parsed, err := mysql.ParseDSN(srv.CreateUser(t, db, schema.Privileges))
	if err != nil {
		t.Fatal(err)
	}
	cfg := MySQLConfig(parsed, 2*time.Second)

	// Several replicas setting up at once must all succeed and seed one row.
	var wg sync.WaitGroup
	stores := make([]*MySQL, 4)
	for i := range stores {
		if stores[i], err = OpenMySQL(cfg, 4); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stores[i].Close() })
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := stores[i].Setup(ctx); err != nil {
				t.Errorf("concurrent Setup: %v", err)
			}
		})
	}
	wg.Wait()
	testStore(t, stores[0], func(ctx context.Context, format string) error {
		return srv.Exec(ctx, fmt.Sprintf(format, "`"+db+"`."+schema.Table))
	})
}

func TestMySQLConfigKeepsCallerSettings(t *testing.T) {
	in, err := mysql.ParseDSN("u:p@tcp(db:3306)/counter?readTimeout=7s")
	if err != nil {
		t.Fatal(err)
	}
	out := MySQLConfig(in, time.Second)
	if !out.InterpolateParams || out.ReadTimeout != 7*time.Second || out.WriteTimeout <= 0 || out.Timeout <= 0 {
		t.Fatalf("got interpolateParams=%v timeout=%v read=%v write=%v", out.InterpolateParams, out.Timeout, out.ReadTimeout, out.WriteTimeout)
	}
	if len(out.Params) != 0 {
		t.Fatalf("session variables must not be set (names differ between MySQL 8 and MariaDB): %v", out.Params)
	}
	if in.InterpolateParams {
		t.Fatal("MySQLConfig changed its argument")
	}
}

// TestSQLitePathIsAFileName: SQLITE_PATH is a file name, whatever it holds: characters
// that mean something in a SQLite URI ('?', '#', '%') stay in the name, and the pragmas
// (WAL) still apply.
func TestSQLitePathIsAFileName(t *testing.T) {
	ctx := t.Context()
	for _, name := range []string{"c?d.db", "a#b.db", "p%41.db"} {
		path := filepath.Join(t.TempDir(), name)
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		var mode string
		if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%s: journal_mode %q, %v; want wal", name, mode, err)
		}
		s.Close()
		entries, _ := os.ReadDir(filepath.Dir(path))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: the database is not at that name (files: %v)", name, names)
		}
	}
}
