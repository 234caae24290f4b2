package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/counter-mysql/counter-mysql/app/config"
	"github.com/counter-mysql/counter-mysql/app/server"
	"github.com/counter-mysql/counter-mysql/app/service"
)

// The servers under test run in child processes (this same executable), not in the load
// generator's: as deployed, the app has a process of its own, and its CPU time per request
// can be read from /proc apart from the driver's.
const (
	// envServe makes the executable serve instead of generating load: "app" (the counter
	// service, configured by the variables prefixed envAppPrefix), "memory" (the same HTTP
	// handler on an in-memory counter), "redis" (on Redis INCR at envRedisAddr) or "bare"
	// (the bare coalescer on envBareDSN).
	envServe     = "COUNTER_LOADGEN_SERVE"
	envAppPrefix = "COUNTER_LOADGEN_APP_"
	envRedisAddr = "COUNTER_LOADGEN_REDIS_ADDR"
	envConns     = "COUNTER_LOADGEN_CONNS" // Redis connections of a "redis" server
	envBareDSN   = "COUNTER_LOADGEN_BARE_DSN"
	envMaxBatch  = "COUNTER_LOADGEN_MAX_BATCH" // of a "bare" server
	envCPUProf   = "COUNTER_LOADGEN_CPUPROFILE"
	envMemProf   = "COUNTER_LOADGEN_MEMPROFILE"
)

// child is one server process started by startChild.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // closing it tells the child to shut down
	url    string
	exited chan struct{}
}

// startChild starts this executable as a server of kind with the given extra environment
// and returns once it listens. Its log goes to stderr.
func startChild(ctx context.Context, kind string, env []string, stderr io.Writer) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), append([]string{envServe + "=" + kind}, env...)...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s server: %w", kind, err)
	}
	c := &child{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addr <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(c.exited)
	}()
	select {
	case a := <-addr:
		if a != "" {
			c.url = "http://" + a
			return c, nil
		}
		err = fmt.Errorf("%s server exited before listening", kind)
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(time.Minute):
		err = fmt.Errorf("%s server not listening after a minute", kind)
	}
	return nil, errors.Join(err, c.stop())
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop shuts the child down gracefully, or kills it after 30 s.
func (c *child) stop() error {
	c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("server pid %d did not stop within 30 s; killed", c.pid())
	}
	if s := c.cmd.ProcessState; s != nil && !s.Success() {
		return fmt.Errorf("server pid %d: %v", c.pid(), s)
	}
	return nil
}

// serveIfAsked serves, then exits, if this process was started as a server under test.
func serveIfAsked() {
	kind := os.Getenv(envServe)
	if kind == "" {
		return
	}
	if err := serve(kind); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serve is the child's side: it listens on a free loopback port, writes the address to
// stdout and serves until stdin closes (the load generator stopping it, or dying).
func serve(kind string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	stopProfiles, err := startProfiles(os.Getenv(envCPUProf), os.Getenv(envMemProf))
	if err != nil {
		return err
	}
	defer stopProfiles()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println(ln.Addr().String())
	switch kind {
	case "app":
		cfg, err := config.Load(func(k string) string { return os.Getenv(envAppPrefix + k) })
		if err != nil {
			return err
		}
		return service.Run(ctx, cfg, log, ln)
	case "memory":
		return serveCounter(ctx, ln, &memoryCounter{}, log)
	case "redis":
		conns, err := positiveEnv(envConns)
		if err != nil {
			return err
		}
		return serveCounter(ctx, ln, newRedisCounter(os.Getenv(envRedisAddr), conns), log)
	case "bare":
		maxBatch, err := positiveEnv(envMaxBatch)
		if err != nil {
			return err
		}
		return serveBare(ctx, ln, os.Getenv(envBareDSN), maxBatch)
	}
	return fmt.Errorf("%s=%q: want app, memory, redis or bare", envServe, kind)
}

// positiveEnv is the environment variable name as a positive number.
func positiveEnv(name string) (int, error) {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive number", name, os.Getenv(name))
	}
	return n, nil
}

// serveCounter serves the service's own HTTP handler (routes, middleware, metrics) on a
// counter that is not the service's: the reference lines differ from the app in the
// counter only.
func serveCounter(ctx context.Context, ln net.Listener, c server.Counter, log *slog.Logger) error {
	const timeout = config.DefaultRequestTimeout
	m := server.NewMetrics()
	h := server.New(server.Deps{
		Log:            log,
		Counter:        c,
		Metrics:        m,
		Ready:          func(context.Context) error { return nil },
		ShuttingDown:   func() bool { return false },
		RequestTimeout: timeout,
	})
	return serveUntilDone(ctx, service.NewHTTPServer(ctx, h, timeout, m, log), ln)
}

// serveUntilDone serves ln with srv until ctx ends.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startProfiles writes a CPU profile and an allocation profile of this process to the
// files named (either may be empty) when the returned function is called.
func startProfiles(cpuPath, memPath string) (stop func(), err error) {
	var cpu *os.File
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memPath != "" {
			if f, err := os.Create(memPath); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
	}, nil
}
