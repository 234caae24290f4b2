package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/counter-mysql/counter-mysql/app/internal/mysqltest"
	"github.com/counter-mysql/counter-mysql/app/schema"
)

// rowDeleter removes the counter row behind the store's back.
type rowDeleter func(ctx context.Context) error

// testStore checks a store's contract: consecutive ranges, idempotent setup, and an error
// (never a made-up number) when the row is missing.
func testStore(t *testing.T, s Store, deleteRow rowDeleter) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 2 {
		if err := s.Setup(ctx); err != nil {
			t.Fatalf("Setup: %v", err)
		}
	}
	if err := s.Ping(ctx); err != nil {
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
	if err := deleteRow(ctx); err != nil {
		t.Fatal(err)
	}
	if last, err := s.Add(ctx, 1); !errors.Is(err, ErrNoRow) {
		t.Fatalf("Add without the row = %d, %v; want ErrNoRow", last, err)
	}
}

func TestSQLite(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	testStore(t, s, func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx, "DELETE FROM counter")
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
	testStore(t, stores[0], func(ctx context.Context) error {
		return srv.Exec(ctx, "DELETE FROM `"+db+"`."+schema.Table)
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
