package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestDefaultsUseEmbeddedStore(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MySQL != nil || c.SQLitePath != "counter.db" || c.Mode != ModeBatch || c.MaxBatch != 256 ||
		c.RequestTimeout != 2*time.Second || c.ShutdownDelay != 0 || c.ShutdownTimeout != 20*time.Second || c.DBMaxConns != 16 ||
		c.ListenAddr != ":8080" || c.LogFormat != "json" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestMySQLFromParts(t *testing.T) {
	c, err := Load(env(map[string]string{
		"MYSQL_HOST": "db.example", "MYSQL_USER": "app", "MYSQL_PASSWORD": "p@ss/w:rd)",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MySQL == nil || c.MySQL.Addr != "db.example:3306" || c.MySQL.DBName != "counter" || c.MySQL.Passwd != "p@ss/w:rd)" {
		t.Fatalf("mysql config: %+v", c.MySQL)
	}
}

func TestMySQLFromDSN(t *testing.T) {
	c, err := Load(env(map[string]string{"MYSQL_DSN": "app:secret@tcp(10.0.0.1:3307)/counter"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MySQL == nil || c.MySQL.Addr != "10.0.0.1:3307" || c.MySQL.User != "app" {
		t.Fatalf("mysql config: %+v", c.MySQL)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		varName string
	}{
		{map[string]string{"COUNTER_MODE": "fast"}, "COUNTER_MODE"},
		{map[string]string{"COUNTER_MAX_BATCH": "0"}, "COUNTER_MAX_BATCH"},
		{map[string]string{"COUNTER_MAX_BATCH": "10001"}, "COUNTER_MAX_BATCH"},
		{map[string]string{"COUNTER_MAX_BATCH": "many"}, "COUNTER_MAX_BATCH"},
		{map[string]string{"REQUEST_TIMEOUT": "2"}, "REQUEST_TIMEOUT"},
		{map[string]string{"REQUEST_TIMEOUT": "-1s"}, "REQUEST_TIMEOUT"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"SHUTDOWN_DELAY": "-1s"}, "SHUTDOWN_DELAY"},
		{map[string]string{"SHUTDOWN_DELAY": "5"}, "SHUTDOWN_DELAY"},
		// Out of range: accepted once, and meaningless (every statement times out at 1ns;
		// a shutdown that never ends).
		{map[string]string{"REQUEST_TIMEOUT": "1ns"}, "REQUEST_TIMEOUT"},
		{map[string]string{"REQUEST_TIMEOUT": "100000h"}, "REQUEST_TIMEOUT"},
		{map[string]string{"SHUTDOWN_DELAY": "1000h"}, "SHUTDOWN_DELAY"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "1ns"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "1000h"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"DB_MAX_CONNS": "0"}, "DB_MAX_CONNS"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_USER": "u", "MYSQL_PORT": "99999"}, "MYSQL_PORT"},
		{map[string]string{"MYSQL_HOST": "db"}, "MYSQL_USER"},
		{map[string]string{"MYSQL_USER": "u"}, "MYSQL_HOST"},
		{map[string]string{"MYSQL_DSN": "u@tcp(db)/counter", "MYSQL_HOST": "db"}, "MYSQL_HOST"},
		{map[string]string{"MYSQL_DSN": "not a dsn"}, "MYSQL_DSN"},
		{map[string]string{"MYSQL_DSN": "u@tcp(db:3306)/"}, "MYSQL_DSN"},
	} {
		_, err := Load(env(tc.env))
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.varName {
			t.Errorf("env %v: error %v, want one naming %s", tc.env, err, tc.varName)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "config: "+tc.varName+"=") || strings.Contains(msg, "\n") {
			t.Errorf("env %v: message %q is not one line naming the variable", tc.env, msg)
		}
	}
}

func TestDSNPasswordNotEchoed(t *testing.T) {
	_, err := Load(env(map[string]string{"MYSQL_DSN": "u:hunter2@tcp(db:3306)/"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v must exist and not contain the password", err)
	}
}

// TestErrorsNeverShowAPassword: whatever is wrong, an error names the variable and the
// fix but never the value of one that may hold a password.
func TestErrorsNeverShowAPassword(t *testing.T) {
	const marker = "S3cretMarker"
	for _, env := range []map[string]string{
		{"MYSQL_DSN": "u:" + marker + "@tcp(db:3306)/counter", "MYSQL_PASSWORD": marker}, // both ways at once
		{"MYSQL_DSN": "u:" + marker + "@tcp(db:3306)"},                                   // no database
		{"MYSQL_DSN": "u:" + marker + "@db:3306/counter"},                                // not a DSN
		{"MYSQL_PASSWORD": marker},                                                       // no host
		{"MYSQL_HOST": "db", "MYSQL_PASSWORD": marker},                                   // no user
	} {
		_, err := Load(func(k string) string { return env[k] })
		if err == nil {
			t.Errorf("%v accepted", env)
			continue
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestDurationRanges: each duration is accepted at both ends of its range, and a value
// outside it is refused with a message naming the range.
func TestDurationRanges(t *testing.T) {
	for _, tc := range []struct{ name, lo, hi, below, above, fix string }{
		{"REQUEST_TIMEOUT", "10ms", "1m", "9ms", "61s", "from 10ms to 1m0s"},
		{"SHUTDOWN_DELAY", "0s", "1m", "-1ns", "61s", "from 0s to 1m0s"},
		{"SHUTDOWN_TIMEOUT", "1s", "10m", "999ms", "601s", "from 1s to 10m0s"},
	} {
		for _, v := range []string{tc.lo, tc.hi} {
			if _, err := Load(env(map[string]string{tc.name: v})); err != nil {
				t.Errorf("%s=%s refused: %v", tc.name, v, err)
			}
		}
		for _, v := range []string{tc.below, tc.above} {
			if _, err := Load(env(map[string]string{tc.name: v})); err == nil || !strings.Contains(err.Error(), tc.fix) {
				t.Errorf("%s=%s: error %v, want one saying %q", tc.name, v, err, tc.fix)
			}
		}
	}
}

// TestInMemorySQLiteIsRefused: an in-memory database would hand out 1, 2, 3 again after
// every restart.
func TestInMemorySQLiteIsRefused(t *testing.T) {
	for _, p := range []string{":memory:", "file::memory:", "file:counter?mode=memory&cache=shared", "x.db?MODE=MEMORY"} {
		_, err := Load(env(map[string]string{"SQLITE_PATH": p}))
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != "SQLITE_PATH" {
			t.Errorf("SQLITE_PATH=%s: error %v, want one naming SQLITE_PATH", p, err)
		}
	}
	if _, err := Load(env(map[string]string{"SQLITE_PATH": "/var/lib/counter/memory.db"})); err != nil {
		t.Errorf("a file named memory.db: %v", err)
	}
}

// TestDSNErrorsQuoteNoCredentials puts markers in the user and in a password with a '/'
// (which the parser splits into the network, the database name and the parameters) and in
// every part the parser rejects: the driver's messages quote those parts, the error must
// not. A bad parameter is still named.
func TestDSNErrorsQuoteNoCredentials(t *testing.T) {
	markers := []string{"UserMk", "PwMkA", "PwMkB"}
	for _, tc := range []struct{ dsn, says string }{
		{"UserMk:PwMkA/PwMkB@tcp(127.0.0.1:1)", "database"}, // the network becomes "UserMk:PwMkA"
		{"UserMk:PwMkA/%zzPwMkB@tcp(127.0.0.1:1)", "database"},
		{"UserMk:PwMkA@tcp(127.0.0.1:1/counter", "closing brace"},
		{"UserMk:PwMkA", "slash"},
		{"UserMk:PwMkA@tcp(db:3306)/counter?tls=PwMkB", "parameter tls"},
		{"UserMk:PwMkA@tcp(db:3306)/counter?serverPubKey=PwMkB", "parameter serverPubKey"},
		{"UserMk:PwMkA/c?timeout=PwMkB@tcp(127.0.0.1:1)", "parameter timeout"},
		{"UserMk:PwMkA/c?readTimeout=PwMkB@tcp(127.0.0.1:1)", "parameter readTimeout"},
		{"UserMk:PwMkA/c?writeTimeout=PwMkB@tcp(127.0.0.1:1)", "parameter writeTimeout"},
		{"UserMk:PwMkA/c?timeTruncate=PwMkB@tcp(127.0.0.1:1)", "parameter timeTruncate"},
		{"UserMk:PwMkA/c?loc=PwMkB@tcp(127.0.0.1:1)", "parameter loc"},
		{"UserMk:PwMkA/c?loc=%zzPwMkB@tcp(127.0.0.1:1)", "parameter loc"},
		{"UserMk:PwMkA/c?parseTime=PwMkB@tcp(127.0.0.1:1)", "parameter parseTime"},
		{"UserMk:PwMkA/c?maxAllowedPacket=PwMkB@tcp(127.0.0.1:1)", "parameter maxAllowedPacket"},
	} {
		_, err := Load(env(map[string]string{"MYSQL_DSN": tc.dsn}))
		if err == nil {
			t.Errorf("%s accepted", tc.dsn)
			continue
		}
		for _, m := range markers {
			if strings.Contains(err.Error(), m) {
				t.Errorf("%s: the error quotes %s: %v", tc.dsn, m, err)
			}
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: the error %q does not say %q", tc.dsn, err, tc.says)
		}
	}
}

// TestHostWithPortIsRefused: a port in MYSQL_HOST is refused at start-up, naming MYSQL_PORT,
// instead of being retried forever as "no such host"; an IPv6 address is a host.
func TestHostWithPortIsRefused(t *testing.T) {
	env := map[string]string{"MYSQL_HOST": "127.0.0.1:33099", "MYSQL_USER": "counter"}
	_, err := Load(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "MYSQL_HOST=127.0.0.1") || !strings.Contains(err.Error(), "MYSQL_PORT=33099") {
		t.Errorf("error = %v, want the host and MYSQL_PORT named", err)
	}
	env["MYSQL_HOST"] = "::1"
	if c, err := Load(func(k string) string { return env[k] }); err != nil || c.MySQL.Addr != "[::1]:3306" {
		t.Errorf("IPv6 host: %+v, %v", c.MySQL, err)
	}
}
