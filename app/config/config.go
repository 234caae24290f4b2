// Package config reads the counter service's settings from environment variables, the
// only way the Pulumi program (and a newcomer) configures it. The first bad value stops
// Load with one line naming the variable and what to use instead.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/counter-mysql/counter-mysql/app/schema"
)

// Mode says how requests reach the database.
type Mode string

const (
	// ModeBatch coalesces concurrent requests into one durable increment (the default).
	ModeBatch Mode = "batch"
	// ModeSingle runs one statement per request: the benchmark baseline.
	ModeSingle Mode = "single"
)

// REQUEST_TIMEOUT's default and range, which the Pulumi program's requestTimeout checks
// at preview too. Below 10ms one slow fsync fails statements; past a minute clients and
// load balancers have long given up.
const (
	DefaultRequestTimeout = 2 * time.Second
	MinRequestTimeout     = 10 * time.Millisecond
	MaxRequestTimeout     = time.Minute
)

// Config is the validated configuration.
type Config struct {
	ListenAddr string
	// MySQL is nil for the embedded SQLite store.
	MySQL          *mysql.Config
	SQLitePath     string
	Mode           Mode
	MaxBatch       int
	RequestTimeout time.Duration
	// ShutdownDelay is how long the service keeps serving after the stop signal, with
	// /readyz failing, before it closes its listener: load balancers and kube-proxy need
	// a few seconds to stop sending new connections to a terminating pod.
	ShutdownDelay   time.Duration
	ShutdownTimeout time.Duration
	DBMaxConns      int
	LogLevel        slog.Level
	LogFormat       string // "json" or "text"
}

// Error is one invalid setting.
type Error struct {
	Var, Value, Fix string
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s=%q is invalid: %s", e.Var, e.Value, e.Fix)
}

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		ListenAddr: r.str("LISTEN_ADDR", ":8080"),
		SQLitePath: r.str("SQLITE_PATH", "counter.db"),
		Mode:       Mode(r.str("COUNTER_MODE", string(ModeBatch))),
		MaxBatch:   r.integer("COUNTER_MAX_BATCH", 256, 1, 10000),
		// Why this range: see MinRequestTimeout.
		RequestTimeout: r.duration("REQUEST_TIMEOUT", DefaultRequestTimeout, MinRequestTimeout, MaxRequestTimeout),
		// Both shutdown bounds must fit in the pod's termination grace period, so hours
		// can only be a typo.
		ShutdownDelay:   r.duration("SHUTDOWN_DELAY", 0, 0, time.Minute),
		ShutdownTimeout: r.duration("SHUTDOWN_TIMEOUT", 20*time.Second, time.Second, 10*time.Minute),
		DBMaxConns:      r.integer("DB_MAX_CONNS", 16, 1, 1000),
		LogFormat:       r.str("LOG_FORMAT", "json"),
	}
	if c.Mode != ModeBatch && c.Mode != ModeSingle {
		r.fail("COUNTER_MODE", string(c.Mode), `use "batch" or "single"`)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		r.fail("LOG_FORMAT", c.LogFormat, `use "json" or "text"`)
	}
	if lower := strings.ToLower(c.SQLitePath); strings.Contains(lower, ":memory:") || strings.Contains(lower, "mode=memory") {
		r.fail("SQLITE_PATH", c.SQLitePath, "give a file path: an in-memory database forgets the counter, so a restart hands out 1, 2, 3 again")
	}
	if lvl := r.str("LOG_LEVEL", "info"); c.LogLevel.UnmarshalText([]byte(lvl)) != nil {
		r.fail("LOG_LEVEL", lvl, `use "debug", "info", "warn" or "error"`)
	}
	c.MySQL = r.mysql()
	if r.err != nil {
		return Config{}, r.err
	}
	return c, nil
}

// reader keeps the first error so Load reads straight through.
type reader struct {
	getenv func(string) string
	err    error
}

// secretVars may hold a password; their values never appear in an error.
var secretVars = map[string]bool{"MYSQL_PASSWORD": true, "MYSQL_DSN": true}

func (r *reader) fail(name, value, fix string) {
	if secretVars[name] && value != "" {
		value = "(hidden)"
	}
	if r.err == nil {
		r.err = &Error{Var: name, Value: value, Fix: fix}
	}
}

func (r *reader) str(name, def string) string {
	if v := r.getenv(name); v != "" {
		return v
	}
	return def
}

func (r *reader) integer(name string, def, lo, hi int) int {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, v, fmt.Sprintf("use a whole number from %d to %d", lo, hi))
	}
	return n
}

func (r *reader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.fail(name, v, fmt.Sprintf(`use a Go duration from %v to %v, e.g. "%v"`, lo, hi, def))
	}
	return d
}

// dsnProblem says in its own words why mysql.ParseDSN refused dsn. The driver's messages
// quote the part they reject, and when the password has a '/' and the DSN lacks its
// "/database", the driver splits the password into the network, the database name and the
// parameters: any quoted part may be a piece of the user or password. Only its fixed
// "invalid DSN:" messages quote nothing.
func dsnProblem(dsn string, err error) string {
	if strings.HasPrefix(err.Error(), "invalid DSN: ") {
		return err.Error()
	}
	// The parameters one at a time: a key that fails is one the driver knows (it passes
	// unknown ones to the server), so naming it reveals nothing.
	if _, query, ok := strings.Cut(dsn[strings.LastIndex(dsn, "/")+1:], "?"); ok {
		for kv := range strings.SplitSeq(query, "&") {
			if _, err := mysql.ParseDSN("/?" + kv); err != nil {
				key, _, _ := strings.Cut(kv, "=")
				return "parameter " + key + " has an invalid value"
			}
		}
	}
	return "its network (tcp or unix) or its database name is invalid; the DSN must end in /database"
}

// mysql builds the driver configuration from MYSQL_DSN or from its parts; nil means none
// was given (embedded store).
func (r *reader) mysql() *mysql.Config {
	dsn := r.getenv("MYSQL_DSN")
	parts := []string{"MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE"}
	for _, p := range parts {
		if dsn != "" && r.getenv(p) != "" {
			r.fail(p, r.getenv(p), "set either MYSQL_DSN or the MYSQL_HOST/PORT/USER/PASSWORD/DATABASE parts, not both")
			return nil
		}
	}
	if dsn != "" {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			r.fail("MYSQL_DSN", dsn, "use a go-sql-driver/mysql DSN, e.g. user:pass@tcp(host:3306)/counter ("+dsnProblem(dsn, err)+")")
			return nil
		}
		if cfg.DBName == "" {
			r.fail("MYSQL_DSN", dsn, "name the database, e.g. user:pass@tcp(host:3306)/counter")
		}
		return cfg
	}
	host := r.getenv("MYSQL_HOST")
	if host == "" {
		for _, p := range parts[1:] {
			if v := r.getenv(p); v != "" {
				r.fail("MYSQL_HOST", "", "set it (the MySQL server's host name) since "+p+" is set")
				return nil
			}
		}
		return nil
	}
	// A port here would make host:port:3306, retried forever as "no such host".
	if h, p, err := net.SplitHostPort(host); err == nil {
		r.fail("MYSQL_HOST", host, fmt.Sprintf("give the host alone (MYSQL_HOST=%s) and the port in MYSQL_PORT (MYSQL_PORT=%s)", h, p))
		return nil
	}
	port := r.integer("MYSQL_PORT", 3306, 1, 65535)
	user := r.getenv("MYSQL_USER")
	if user == "" {
		r.fail("MYSQL_USER", "", "set the MySQL user name the app connects as")
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	cfg.User = user
	cfg.Passwd = r.getenv("MYSQL_PASSWORD")
	cfg.DBName = r.str("MYSQL_DATABASE", schema.Database)
	return cfg
}
