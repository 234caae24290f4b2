package main

import (
	"strings"
	"testing"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
)

// events is a go test -json stream: a passing unit test, a MySQL test that skipped (it
// logged mysqltest.TierMarker), a failing Kubernetes test, a package with no tests and a
// package whose build failed.
const events = `{"Action":"start","Package":"github.com/counter-mysql/counter-mysql/app/store"}
{"Action":"run","Package":"github.com/counter-mysql/counter-mysql/app/store","Test":"TestSQLite"}
{"Action":"pass","Package":"github.com/counter-mysql/counter-mysql/app/store","Test":"TestSQLite","Elapsed":0.1}
{"Action":"run","Package":"github.com/counter-mysql/counter-mysql/app/store","Test":"TestMySQL"}
{"Action":"output","Package":"github.com/counter-mysql/counter-mysql/app/store","Test":"TestMySQL","Output":"=== RUN   TestMySQL\n"}
{"Action":"output","Package":"github.com/counter-mysql/counter-mysql/app/store","Test":"TestMySQL","Output":"    store_test.go:100: mysqltest: this test runs on a MySQL-compatible server\n"}
{"Action":"output","Package":"github.com/counter-mysql/counter-mysql/app/store","Test":"TestMySQL","Output":"    store_test.go:105: no MySQL-compatible server: install mariadb-server\n"}
{"Action":"output","Package":"github.com/counter-mysql/counter-mysql/app/store","Test":"TestMySQL","Output":"--- SKIP: TestMySQL (0.00s)\n"}
{"Action":"skip","Package":"github.com/counter-mysql/counter-mysql/app/store","Test":"TestMySQL","Elapsed":0}
{"Action":"pass","Package":"github.com/counter-mysql/counter-mysql/app/store","Elapsed":0.2}
{"Action":"start","Package":"github.com/counter-mysql/counter-mysql/infra/e2e"}
{"Action":"output","Package":"github.com/counter-mysql/counter-mysql/infra/e2e","Test":"TestApply","Output":"    apply_test.go:9: rejected\n"}
{"Action":"fail","Package":"github.com/counter-mysql/counter-mysql/infra/e2e","Test":"TestApply","Elapsed":1}
{"Action":"fail","Package":"github.com/counter-mysql/counter-mysql/infra/e2e","Elapsed":1.5}
{"Action":"output","Package":"github.com/counter-mysql/counter-mysql/app/schema","Output":"?   \tgithub.com/counter-mysql/counter-mysql/app/schema\t[no test files]\n"}
{"Action":"skip","Package":"github.com/counter-mysql/counter-mysql/app/schema","Elapsed":0}
{"ImportPath":"github.com/counter-mysql/counter-mysql/infra/x [github.com/counter-mysql/counter-mysql/infra/x.test]","Action":"build-output","Output":"infra/x/x.go:1: undefined: y\n"}
{"Action":"output","Package":"github.com/counter-mysql/counter-mysql/infra/x","Output":"FAIL\tgithub.com/counter-mysql/counter-mysql/infra/x [build failed]\n"}
{"Action":"fail","Package":"github.com/counter-mysql/counter-mysql/infra/x","Elapsed":0,"FailedBuild":"github.com/counter-mysql/counter-mysql/infra/x [github.com/counter-mysql/counter-mysql/infra/x.test]"}
go: warning: not JSON
`

func TestSummary(t *testing.T) {
	var live, table strings.Builder
	s := newSummary(&live)
	s.read(strings.NewReader(events))
	if s.table(&table) {
		t.Error("table reported success with failed tests")
	}
	for _, want := range []string{
		"ok   app/store", "FAIL infra/e2e", "--- FAIL infra/e2e TestApply\n    apply_test.go:9: rejected\n",
		"infra/x/x.go:1: undefined: y", "go: warning: not JSON",
	} {
		if !strings.Contains(live.String(), want) {
			t.Errorf("live output lacks %q:\n%s", want, live.String())
		}
	}
	if strings.Contains(live.String(), "app/schema") {
		t.Errorf("a package without tests was printed:\n%s", live.String())
	}
	if strings.Contains(table.String(), "\n\n") {
		t.Errorf("table has an empty line:\n%s", table.String())
	}
	for _, want := range []string{
		"real MySQL (mariadbd/mysqld)                 skipped  0       1        0",
		"app: HTTP, coalescer, config, SQLite, run()  ran      1       0        0",
		"real Kubernetes API server                   FAILED   0       0        1",
		"Pulumi program under mocks, tooling          FAILED   0       0        1",
		"  - real MySQL (mariadbd/mysqld) skipped: no MySQL-compatible server: install mariadb-server\n",
		"  - real Kubernetes API server failed: infra/e2e TestApply\n",
		"  - Pulumi program under mocks, tooling failed: infra/x (package)\n",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// A test whose subtest logs mysqltest.TierMarker is a MySQL test, parent and subtest, in
// any package; its neighbours stay in their tier.
func TestMarkerPutsTestsInTheMySQLTier(t *testing.T) {
	s := newSummary(&strings.Builder{})
	s.read(strings.NewReader(`{"Action":"output","Package":"github.com/counter-mysql/counter-mysql/app/cmd/loadgen","Test":"TestBench/lines","Output":"    main_test.go:117: ` + mysqltest.TierMarker + `\n"}
{"Action":"pass","Package":"github.com/counter-mysql/counter-mysql/app/cmd/loadgen","Test":"TestBench/lines"}
{"Action":"pass","Package":"github.com/counter-mysql/counter-mysql/app/cmd/loadgen","Test":"TestBench"}
{"Action":"pass","Package":"github.com/counter-mysql/counter-mysql/app/cmd/loadgen","Test":"TestFlags"}
`))
	if c := s.tiers[mysqlTier]; c == nil || c.passed != 2 {
		t.Errorf("MySQL tier = %+v, want the test and its subtest", c)
	}
	if c := s.tiers["app: HTTP, coalescer, config, SQLite, run()"]; c == nil || c.passed != 1 {
		t.Errorf("app tier = %+v, want TestFlags only", c)
	}
}

func TestTableAllPassed(t *testing.T) {
	s := newSummary(&strings.Builder{})
	s.read(strings.NewReader(`{"Action":"pass","Package":"github.com/counter-mysql/counter-mysql/infra/stack","Test":"TestA"}` + "\n"))
	var table strings.Builder
	if !s.table(&table) {
		t.Errorf("a passing run was reported as failed:\n%s", table.String())
	}
}
