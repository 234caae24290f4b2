// Command loadgen benchmarks the counter service and puts it beside references, all driven
// by the same closed-loop HTTP clients in one run: the app in both modes, coalesced (batch)
// and one statement per request (single), against MySQL with the binary log off and as
// deployed (binary log on, sync_binlog=1); Redis INCR without persistence and with
// appendfsync always; the service's HTTP handler on an in-memory counter (the ceiling); and
// a bare coalescer on the same databases, without the app's extras (metrics, middleware,
// JSON, timeouts), with the app's throughput and CPU per request as ratios to it.
// Each line gives throughput, latency, errors, duplicates, numbers per statement, CPU time
// per request of the server, of the database process and of the load generator itself,
// the share of the machine's CPU left idle (near 0: bound by CPU; well above: by latency),
// and its ratio to Redis without persistence and to the ceiling. It checks every recorded history (unique, increasing per
// client, linearizable) and exits non-zero if one fails.
//
// By default it starts its own throwaway MariaDB/MySQL servers (mariadbd or mysqld must be
// installed; durable settings: innodb_flush_log_at_trx_commit=1) and redis-servers (lines
// skipped when redis-server is not installed). With -dsn it uses an existing MySQL server
// through an admin DSN and creates (then drops) its own databases there. Every server under
// test runs in a process of its own (this executable, re-run), as deployed.
//
//	go run ./app/cmd/loadgen -clients 64 -duration 5s
//	go run ./app/cmd/loadgen -sweep -duration 3s
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/counter-mysql/counter-mysql/app/config"
	"github.com/counter-mysql/counter-mysql/app/loadtest"
	"github.com/counter-mysql/counter-mysql/app/mysqltest"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func main() {
	serveIfAsked()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	dsn                    string
	clients                int
	sweep                  bool
	replicas               int
	duration, warmup       time.Duration
	maxBatch               int
	dbConns                int
	cpuProfile, memProfile string
	ceiling, redis, binlog bool
	runs                   int      // rounds of every line; with more than one, medians are printed too
	lines                  []string // run only the lines with these names (all if empty)
	appEnv                 []string // NAME=value settings of the app servers, after the flags' own
}

// sweepClients are the client counts of -sweep: from no concurrency to far more clients
// than the database pool has connections.
var sweepClients = []int{1, 8, 64, 256, 1024}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dsn, "dsn", "", "admin DSN of an existing MySQL/MariaDB server (default: start throwaway ones, binlog off and on)")
	fs.IntVar(&o.clients, "clients", 64, "concurrent closed-loop HTTP clients")
	fs.BoolVar(&o.sweep, "sweep", false, "run every line at "+fmt.Sprint(sweepClients)+" clients instead of -clients")
	fs.IntVar(&o.runs, "runs", 1, "rounds of every line, one after the other; with more than one, also the median of each figure over the rounds (the machine's noise shows in a single round)")
	fs.IntVar(&o.replicas, "replicas", 1, "app servers sharing the database (clients are spread over them)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per line, after the warm-up")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up per line, left out of the figures")
	fs.IntVar(&o.maxBatch, "max-batch", 256, "COUNTER_MAX_BATCH for the coalesced mode")
	fs.IntVar(&o.dbConns, "db-conns", 16, "DB_MAX_CONNS of every app server, both modes, and the Redis lines' connections")
	fs.BoolVar(&o.ceiling, "ceiling", true, "also drive the same HTTP handler on an in-memory counter (no database): the most this machine's loopback HTTP allows")
	fs.BoolVar(&o.redis, "redis", true, "also drive the same HTTP handler on Redis INCR, without persistence and with appendfsync always (needs redis-server on PATH)")
	fs.BoolVar(&o.binlog, "binlog", true, "also run the app against a server with the binary log on and sync_binlog=1, as deployed (not with -dsn)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the first coalesced run's app server to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of the first coalesced run's app server to this file")
	fs.Func("lines", "comma-separated names of the lines to run, e.g. redis/no-persist,batch/binlog-off (default: all)", func(v string) error {
		o.lines = strings.Split(v, ",")
		return nil
	})
	fs.Func("app-env", "NAME=value: one more setting of every app server (repeatable), e.g. COUNTER_MAX_BATCH=64; later ones win", func(v string) error {
		if name, _, ok := strings.Cut(v, "="); !ok || name == "" || strings.ContainsAny(name, " \t") {
			return fmt.Errorf("%q: want NAME=value, e.g. COUNTER_MAX_BATCH=64", v)
		}
		o.appEnv = append(o.appEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.clients < 1 || o.replicas < 1 || o.dbConns < 1 || o.runs < 1 || o.duration <= 0 || o.warmup < 0 {
		return errors.New("-clients, -replicas, -db-conns, -runs and -duration must be positive, -warmup not negative")
	}
	for _, name := range o.lines {
		if !slices.Contains(lineNames(), name) {
			return fmt.Errorf("-lines: no line called %q; the lines are %s", name, strings.Join(lineNames(), ", "))
		}
	}
	counts := []int{o.clients}
	if o.sweep {
		counts = sweepClients
	}

	b := &bench{o: o, stderr: stderr}
	dbs, err := openDatabases(ctx, o, stderr)
	defer func() {
		for _, db := range dbs {
			db.srv.Stop()
		}
	}()
	if err != nil {
		return err
	}
	var redises []reference
	if o.redis {
		for _, aof := range []bool{false, true} {
			r, err := startRedis(ctx, aof)
			if errors.Is(err, errNoRedis) {
				fmt.Fprintln(stdout, "Redis lines skipped:", err)
				break
			}
			if err != nil {
				return err
			}
			defer r.stop()
			redises = append(redises, reference{name: map[bool]string{false: lineRedis, true: lineRedisAOF}[aof], redis: r})
		}
	}
	for _, db := range dbs {
		fmt.Fprintf(stdout, "mysql %s on %s\n", db.name, db.srv.Addr())
	}
	fmt.Fprintf(stdout, "%d replica(s) per app line, %v measured after %v warm-up per line\n", o.replicas, o.duration, o.warmup)

	var broken []error // histories that failed their checks
	for _, n := range counts {
		b.o.clients = n
		var rounds [][]line
		for round := 1; round <= o.runs; round++ {
			fmt.Fprintf(stdout, "\n%d clients, load average %s%s\n", n, loadAverage(), roundLabel(round, o.runs))
			var lines []line
			add := func(l line, err error) error {
				if errors.Is(err, errSkipped) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("%s, %d clients: %w", l.name, n, err)
				}
				if l.historyErr != nil {
					broken = append(broken, fmt.Errorf("%s, %d clients: %w", l.name, n, l.historyErr))
				}
				lines = append(lines, l)
				return nil
			}
			for _, r := range redises {
				if err := add(b.reference(ctx, r)); err != nil {
					return err
				}
			}
			if o.ceiling {
				if err := add(b.reference(ctx, reference{name: lineMemory})); err != nil {
					return err
				}
			}
			for _, db := range dbs {
				if err := add(b.bare(ctx, db)); err != nil {
					return err
				}
				for _, mode := range []config.Mode{config.ModeBatch, config.ModeSingle} {
					if err := add(b.app(ctx, db, mode)); err != nil {
						return err
					}
				}
			}
			printLines(stdout, lines)
			rounds = append(rounds, lines)
		}
		if o.runs > 1 {
			fmt.Fprintf(stdout, "\n%d clients, median of %d rounds\n", n, o.runs)
			printMedians(stdout, rounds)
		}
	}
	return errors.Join(broken...)
}

// Names of the reference lines the others are compared with.
const (
	lineRedis    = "redis/no-persist"
	lineRedisAOF = "redis/aof-always"
	lineMemory   = "memory/no-db"
	bareMode     = "bare" // the bare coalescer's lines are bare/<database>
)

// Names of the database configurations.
const (
	dbBinlogOff = "binlog-off"
	dbBinlogOn  = "binlog-on"
	dbExternal  = "external" // -dsn: as that server is configured
)

// lineNames are the names of every line a run can have.
func lineNames() []string {
	names := []string{lineRedis, lineRedisAOF, lineMemory}
	for _, mode := range []string{bareMode, string(config.ModeBatch), string(config.ModeSingle)} {
		for _, db := range []string{dbBinlogOff, dbBinlogOn, dbExternal} {
			names = append(names, mode+"/"+db)
		}
	}
	return names
}

// line is one server configuration's figures at one client count.
type line struct {
	name    string
	clients int
	loadtest.Summary
	historyErr    error   // why the recorded history is not a correct counter's
	meanBatch     float64 // numbers per statement (0: not a MySQL line)
	meanStatement float64 // seconds per statement, from pool wait to the commit's reply
	appCPU, dbCPU float64 // CPU microseconds per request of the HTTP servers and the database (NaN: not measured)
	loadCPU       float64 // CPU microseconds per request of this process: the clients (NaN: not measured)
	idle          float64 // percentage of the machine's CPU time left unused (NaN: not measured)
}

func printLines(w io.Writer, lines []line) {
	find := func(name string) float64 {
		for _, l := range lines {
			if l.name == name {
				return l.ReqPerSec
			}
		}
		return math.NaN()
	}
	redis, memory := find(lineRedis), find(lineMemory)
	fmt.Fprintf(w, "%-18s %7s %8s %8s %8s %6s %5s %9s %8s %9s %9s %10s %6s %7s %7s %6s %10s\n", "line", "clients", "req/s", "p50 ms", "p99 ms",
		"errors", "dups", "nums/stmt", "stmt ms", "app µs/rq", "db µs/rq", "load µs/rq", "idle %", "x redis", "x no-db", "x bare", "cpu x bare")
	for _, l := range lines {
		batch, stmt := "-", "-"
		if l.meanBatch > 0 {
			batch, stmt = fmt.Sprintf("%.1f", l.meanBatch), fmt.Sprintf("%.3f", l.meanStatement*1e3)
		}
		vsBare, cpuVsBare := vsBare(l, lines)
		fmt.Fprintf(w, "%-18s %7d %8.0f %8.2f %8.2f %6d %5d %9s %8s %9s %9s %10s %6s %7s %7s %6s %10s\n", l.name, l.clients, l.ReqPerSec,
			ms(l.P50), ms(l.P99), l.Errors, l.Duplicates, batch, stmt, orNA("%.1f", l.appCPU), orNA("%.1f", l.dbCPU),
			orNA("%.1f", l.loadCPU), orNA("%.0f", l.idle), orNA("%.2f", l.ReqPerSec/redis), orNA("%.2f", l.ReqPerSec/memory),
			orNA("%.2f", vsBare), orNA("%.2f", cpuVsBare))
		if l.historyErr != nil {
			fmt.Fprintf(w, "  HISTORY CHECK FAILED: %v\n", l.historyErr)
		}
	}
}

// vsBare is l's throughput and app CPU per request as ratios to those of the bare
// coalescer on the same database among lines (NaN without one): what the app's extras cost.
func vsBare(l line, lines []line) (reqs, cpu float64) {
	_, db, _ := strings.Cut(l.name, "/")
	i := slices.IndexFunc(lines, func(b line) bool { return b.name == bareMode+"/"+db })
	if i < 0 {
		return math.NaN(), math.NaN()
	}
	return l.ReqPerSec / lines[i].ReqPerSec, l.appCPU / lines[i].appCPU
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }

func roundLabel(round, runs int) string {
	if runs == 1 {
		return ""
	}
	return fmt.Sprintf(", round %d of %d", round, runs)
}

// printMedians prints, per line, the median over the rounds of each figure, the ratios
// taken within each round (the lines of one round ran under the same conditions), and
// the errors and duplicates summed.
func printMedians(w io.Writer, rounds [][]line) {
	fmt.Fprintf(w, "%-18s %8s %8s %8s %6s %5s %9s %9s %10s %6s %7s %7s %6s %10s %14s\n", "line", "req/s", "p50 ms", "p99 ms", "errors", "dups",
		"app µs/rq", "db µs/rq", "load µs/rq", "idle %", "x redis", "x no-db", "x bare", "cpu x bare", "its quartiles")
	for _, first := range rounds[0] {
		var reqs, p50, p99, app, db, load, idle, vsRedis, vsMemory, reqsVsBare, cpuVsBare []float64
		errs, dups := 0, 0
		for _, lines := range rounds {
			find := func(name string) *line {
				i := slices.IndexFunc(lines, func(l line) bool { return l.name == name })
				if i < 0 {
					return nil
				}
				return &lines[i]
			}
			l := find(first.name)
			if l == nil {
				continue
			}
			reqs, p50, p99 = append(reqs, l.ReqPerSec), append(p50, ms(l.P50)), append(p99, ms(l.P99))
			app, db = append(app, l.appCPU), append(db, l.dbCPU)
			load, idle = append(load, l.loadCPU), append(idle, l.idle)
			errs, dups = errs+l.Errors, dups+l.Duplicates
			if r, c := vsBare(*l, lines); !math.IsNaN(r) {
				reqsVsBare, cpuVsBare = append(reqsVsBare, r), append(cpuVsBare, c)
			}
			for _, ref := range []struct {
				name string
				into *[]float64
			}{{lineRedis, &vsRedis}, {lineMemory, &vsMemory}} {
				if r := find(ref.name); r != nil {
					*ref.into = append(*ref.into, l.ReqPerSec/r.ReqPerSec)
				}
			}
		}
		quartiles := "n/a"
		if q1, q3 := quantile(cpuVsBare, 0.25), quantile(cpuVsBare, 0.75); !math.IsNaN(q1) && !math.IsNaN(q3) {
			quartiles = fmt.Sprintf("%.2f-%.2f", q1, q3)
		}
		fmt.Fprintf(w, "%-18s %8.0f %8.2f %8.2f %6d %5d %9s %9s %10s %6s %7s %7s %6s %10s %14s\n", first.name, median(reqs), median(p50), median(p99), errs, dups,
			orNA("%.1f", median(app)), orNA("%.1f", median(db)), orNA("%.1f", median(load)), orNA("%.0f", median(idle)),
			orNA("%.2f", median(vsRedis)), orNA("%.2f", median(vsMemory)), orNA("%.2f", median(reqsVsBare)), orNA("%.2f", median(cpuVsBare)), quartiles)
	}
}

// median is the middle value (the mean of the two middle ones for an even count), NaN if
// there is none or any value is NaN (not measured).
func median(vs []float64) float64 { return quantile(vs, 0.5) }

// quantile is the q-quantile of vs, interpolated between the two nearest values (as
// numpy's default and R's type 7), NaN if there is none or any value is NaN. The
// quartiles of the per-round ratios show how far one round can be trusted.
func quantile(vs []float64, q float64) float64 {
	if len(vs) == 0 || slices.ContainsFunc(vs, math.IsNaN) {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

func orNA(format string, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// loadAverage is the first three fields of /proc/loadavg, "n/a" without /proc.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// database is one MySQL server configuration the app lines run against.
type database struct {
	name string
	srv  *mysqltest.Server
}

// binlogArgs turn the binary log on as the StatefulSet's my.cnf does (infra/database,
// sync_binlog = 1 beside innodb_flush_log_at_trx_commit = 1), in MySQL 8's default row
// format: with it InnoDB holds the hot row's lock until the binlog commit.
var binlogArgs = []string{"--log-bin=binlog", "--sync-binlog=1", "--server-id=1", "--binlog-format=ROW"}

// openDatabases returns the servers of the app lines: an existing one (-dsn), or throwaway
// ones with the binary log off and, with -binlog, on. Servers are returned even with an
// error, for the caller to stop.
func openDatabases(ctx context.Context, o options, stderr io.Writer) ([]database, error) {
	if o.dsn != "" {
		srv, err := mysqltest.External(o.dsn)
		if err != nil {
			return nil, err
		}
		return []database{{dbExternal, srv}}, nil
	}
	configs := []database{{name: dbBinlogOff}}
	if o.binlog {
		configs = append(configs, database{name: dbBinlogOn})
	}
	var dbs []database
	for _, db := range configs {
		fmt.Fprintf(stderr, "starting a throwaway database server (%s)...\n", db.name)
		var opts mysqltest.Options
		if db.name == dbBinlogOn {
			opts.ExtraArgs = binlogArgs
		}
		srv, err := mysqltest.Start(ctx, opts)
		if err != nil {
			return dbs, err
		}
		dbs = append(dbs, database{db.name, srv})
		if err := checkBinlog(ctx, srv, db.name == dbBinlogOn); err != nil {
			return dbs, err
		}
	}
	return dbs, nil
}

// checkBinlog makes sure the server's binary log is as the line's name says.
func checkBinlog(ctx context.Context, srv *mysqltest.Server, on bool) error {
	db, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	var logBin, syncBinlog int
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin, @@sync_binlog").Scan(&logBin, &syncBinlog); err != nil {
		return fmt.Errorf("reading the binlog settings: %w", err)
	}
	if (logBin == 1) != on || (on && syncBinlog != 1) {
		return fmt.Errorf("server on %s has log_bin=%d sync_binlog=%d, want the binary log %s", srv.Addr(), logBin, syncBinlog,
			map[bool]string{false: "off", true: "on with sync_binlog=1"}[on])
	}
	return nil
}

// errSkipped is returned for a line -lines leaves out.
var errSkipped = errors.New("line not selected")

// bench runs the lines of one load generator run.
type bench struct {
	o        options
	stderr   io.Writer
	profiled bool // the profiles (-cpuprofile, -memprofile) have been taken
}

// reference is a line that is not the app: the service's handler on Redis INCR (redis
// set) or on an in-memory counter.
type reference struct {
	name  string
	redis *redisServer
}

// selected says whether -lines includes the line called name.
func (b *bench) selected(name string) bool {
	return len(b.o.lines) == 0 || slices.Contains(b.o.lines, name)
}

func (b *bench) reference(ctx context.Context, r reference) (line, error) {
	if !b.selected(r.name) {
		return line{}, errSkipped
	}
	kind, env, dbPID := "memory", []string(nil), 0
	if r.redis != nil {
		kind, dbPID = "redis", r.redis.pid()
		env = []string{envRedisAddr + "=" + r.redis.addr, fmt.Sprintf("%s=%d", envConns, b.o.dbConns)}
	}
	c, err := startChild(ctx, kind, env, b.stderr)
	if err != nil {
		return line{name: r.name}, err
	}
	l, err := b.measure(ctx, r.name, []*child{c}, dbPID)
	return l, errors.Join(err, c.stop())
}

// bare runs the bare coalescer (serveBare) on a fresh database of db and drives it.
func (b *bench) bare(ctx context.Context, db database) (line, error) {
	name := bareMode + "/" + db.name
	if !b.selected(name) {
		return line{}, errSkipped
	}
	schema, err := freshSchema(ctx, db, bareMode)
	if err != nil {
		return line{name: name}, err
	}
	defer db.srv.Exec(context.Background(), "DROP DATABASE IF EXISTS "+schema)
	c, err := startChild(ctx, bareMode, []string{envBareDSN + "=" + db.srv.DSN(schema), fmt.Sprintf("%s=%d", envMaxBatch, b.o.maxBatch)}, b.stderr)
	if err != nil {
		return line{name: name}, err
	}
	l, err := b.measure(ctx, name, []*child{c}, db.srv.PID())
	if err == nil {
		l.readStatements(ctx, []*child{c})
	}
	return l, errors.Join(err, c.stop())
}

// freshSchema creates a database of its own on db for one line, named after kind.
func freshSchema(ctx context.Context, db database, kind string) (string, error) {
	schema := "loadgen_" + kind + "_" + strings.ToLower(rand.Text())
	return schema, db.srv.Exec(ctx, "CREATE DATABASE "+schema)
}

// app runs the real service in mode on a fresh database of db and drives it.
func (b *bench) app(ctx context.Context, db database, mode config.Mode) (l line, err error) {
	name := string(mode) + "/" + db.name
	if !b.selected(name) {
		return line{}, errSkipped
	}
	schema, err := freshSchema(ctx, db, string(mode))
	if err != nil {
		return line{name: name}, err
	}
	defer db.srv.Exec(context.Background(), "DROP DATABASE IF EXISTS "+schema)

	env := []string{
		envAppPrefix + "MYSQL_DSN=" + db.srv.DSN(schema),
		envAppPrefix + "COUNTER_MODE=" + string(mode),
		envAppPrefix + "COUNTER_MAX_BATCH=" + fmt.Sprint(b.o.maxBatch),
		envAppPrefix + "DB_MAX_CONNS=" + fmt.Sprint(b.o.dbConns),
	}
	for _, kv := range b.o.appEnv {
		env = append(env, envAppPrefix+kv)
	}
	var children []*child
	defer func() {
		for _, c := range children {
			err = errors.Join(err, c.stop())
		}
	}()
	for i := range b.o.replicas {
		env := env
		if i == 0 && mode == config.ModeBatch && !b.profiled {
			b.profiled = true
			env = append(env[:len(env):len(env)], envCPUProf+"="+b.o.cpuProfile, envMemProf+"="+b.o.memProfile)
		}
		c, err := startChild(ctx, "app", env, b.stderr)
		if err != nil {
			return line{name: name}, err
		}
		children = append(children, c)
		if err := waitReady(ctx, c.url); err != nil {
			return line{name: name}, err
		}
	}
	l, err = b.measure(ctx, name, children, db.srv.PID())
	if err != nil {
		return l, err
	}
	l.readStatements(ctx, children)
	return l, nil
}

// readStatements reads the mean numbers per statement and statement time from the
// servers' /metrics.
func (l *line) readStatements(ctx context.Context, servers []*child) {
	var urls []string
	for _, c := range servers {
		urls = append(urls, c.url)
	}
	l.meanBatch = histogramMean(ctx, urls, "counter_batch_size")
	l.meanStatement = histogramMean(ctx, urls, "counter_db_statement_duration_seconds")
}

// measure drives the servers with the run's clients and checks the history. CPU time is
// read over the whole drive, warm-up included, and divided by every answered request.
func (b *bench) measure(ctx context.Context, name string, servers []*child, dbPID int) (line, error) {
	var urls []string
	var pids []int
	for _, c := range servers {
		urls = append(urls, c.url)
		pids = append(pids, c.pid())
	}
	appCPU, dbCPU, loadCPU, idle := startCPU(pids...), startCPU(dbPID), startCPU(os.Getpid()), startIdle()
	r, err := loadtest.Run(ctx, loadtest.Config{
		URLs:     urls,
		Clients:  b.o.clients,
		Duration: b.o.warmup + b.o.duration,
		Warmup:   b.o.warmup,
		Timeout:  10 * time.Second,
	})
	if err != nil {
		return line{name: name}, err
	}
	answered := 0
	for _, op := range r.Ops {
		if op.OK() {
			answered++
		}
	}
	l := line{ // the meters stop before the history check, which is the load generator's work, not the drive's
		name:    name,
		clients: b.o.clients,
		appCPU:  perRequest(appCPU, answered),
		dbCPU:   perRequest(dbCPU, answered),
		loadCPU: perRequest(loadCPU, answered),
		idle:    idle.done(),
		Summary: r.Summary(),
	}
	l.historyErr = loadtest.CheckHistory(r.Ops, time.Minute)
	return l, nil
}

// perRequest is the CPU time m measured in microseconds per request, NaN if not measured.
func perRequest(m cpuMeter, requests int) float64 {
	used, ok := m.done()
	if !ok || requests == 0 {
		return math.NaN()
	}
	return float64(used.Microseconds()) / float64(requests)
}

// memoryCounter hands out numbers from memory: no database, no durability.
type memoryCounter struct{ n atomic.Int64 }

func (m *memoryCounter) Next(context.Context) (int64, error) { return m.n.Add(1), nil }

// histogramMean is the mean of the replicas' histograms called name, read from /metrics
// (warm-up included); 0 if unavailable.
func histogramMean(ctx context.Context, urls []string, name string) float64 {
	var sum float64
	var count uint64
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/metrics", nil)
		if err != nil {
			return 0
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil || families[name] == nil {
			return 0
		}
		for _, m := range families[name].GetMetric() {
			sum += m.GetHistogram().GetSampleSum()
			count += m.GetHistogram().GetSampleCount()
		}
	}
	if count == 0 {
		return 0
	}
	return sum / float64(count)
}

// waitReady polls /readyz for up to a minute.
func waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
