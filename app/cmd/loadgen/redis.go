package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
)

// errNoRedis means redis-server is not on PATH: the Redis reference lines are skipped.
var errNoRedis = errors.New("redis-server is not on PATH (apt-get install redis-server)")

// redisServer is a throwaway redis-server on loopback, with its own directory.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
	dir  string
	done chan struct{} // closed once the process has exited
}

// startRedis starts redis-server on a free 127.0.0.1 port, without persistence, or with
// an append-only file synced before every reply (appendfsync always), and returns once it
// answers.
func startRedis(ctx context.Context, aof bool) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoRedis
	}
	dir, err := os.MkdirTemp("", "loadgen-redis-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--logfile", "", "--loglevel", "warning"}
	if aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	r := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stderr = os.Stderr
	r.cmd.SysProcAttr = mysqltest.SysProcAttr() // dies with the load generator, as its MySQL servers do
	if err := r.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	if err := r.waitReady(ctx); err != nil {
		return nil, errors.Join(err, r.stop())
	}
	return r, nil
}

func (r *redisServer) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		c, err := dialRedis(ctx, r.addr)
		if err == nil {
			_, err = c.incr(incrCommand("loadgen:ready"))
			c.conn.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-r.done:
			return errors.New("redis-server exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("redis-server on %s not answering: %v", r.addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *redisServer) pid() int { return r.cmd.Process.Pid }

// stop ends exactly the process started here (SIGTERM, then SIGKILL) and removes its directory.
func (r *redisServer) stop() error {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	return os.RemoveAll(r.dir)
}

// redisConn speaks just enough RESP for INCR: a fixed request and an integer reply. It is
// written here rather than taken from a client library because one command needs a dozen
// lines, and a general client's pooling and hand-offs would be measured as Redis's cost.
type redisConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRedis(ctx context.Context, addr string) (*redisConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &redisConn{conn: c, r: bufio.NewReader(c)}, nil
}

// incrCommand is INCR key in RESP, built once per key.
func incrCommand(key string) []byte {
	return fmt.Appendf(nil, "*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n", len(key), key)
}

var incrCounter = incrCommand("counter")

// incr sends an incrCommand and returns the new value.
func (c *redisConn) incr(command []byte) (int64, error) {
	if _, err := c.conn.Write(command); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 3 || line[0] != ':' {
		return 0, fmt.Errorf("redis: INCR answered %q", line)
	}
	return strconv.ParseInt(string(line[1:len(line)-2]), 10, 64)
}

// redisCounter is a server.Counter on Redis INCR with a pool of connections, sized like
// the app's database pool: a number is the reply to one INCR sent after the request came.
type redisCounter struct {
	addr string
	pool chan *redisConn // nil entries are connections not dialled yet
}

func newRedisCounter(addr string, conns int) *redisCounter {
	r := &redisCounter{addr: addr, pool: make(chan *redisConn, conns)}
	for range conns {
		r.pool <- nil
	}
	return r
}

func (r *redisCounter) Next(ctx context.Context) (int64, error) {
	var c *redisConn
	select {
	case c = <-r.pool:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	var err error
	if c == nil {
		if c, err = dialRedis(ctx, r.addr); err != nil {
			r.pool <- nil
			return 0, err
		}
	}
	if deadline, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(deadline)
	}
	n, err := c.incr(incrCounter)
	if err != nil { // the connection's state is unknown: dial anew next time
		c.conn.Close()
		c = nil
	}
	r.pool <- c
	return n, err
}
