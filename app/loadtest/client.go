package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client is one closed-loop client: one keep-alive connection, a fixed request written as
// bytes, each response parsed by net/http's ReadResponse. It is not an http.Client because
// the Transport's two goroutines per connection and its channel hand-offs cost about as
// much CPU per request as the server under test, and on a small machine the driver shares
// the CPUs with that server: a heavy driver measures itself (wrk and h2load are built the
// same way). A broken or closed connection is redialled on the next request.
type client struct {
	ctx     context.Context
	addr    string // host:port
	request []byte
	timeout time.Duration

	conn   net.Conn
	stop   func() bool // unregisters the ctx watcher of conn
	reader *bufio.Reader
	body   bytes.Buffer
}

// newClient prepares a client for GET base+path; base must be http://host:port[/].
func newClient(ctx context.Context, base, path string, timeout time.Duration) (*client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Port() == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("loadtest: URL %q: want http://host:port", base)
	}
	return &client{
		ctx:     ctx,
		addr:    u.Host,
		request: fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: counter-loadtest\r\n\r\n", path, u.Host),
		timeout: timeout,
	}, nil
}

// get does one request and returns the number, the HTTP status (0 without a response) and
// why the request did not yield a number.
func (c *client) get() (int64, int, error) {
	status, err := c.roundTrip()
	if err != nil {
		c.close()
		return 0, status, err
	}
	body := c.body.Bytes()
	if status != http.StatusOK {
		return 0, status, fmt.Errorf("HTTP %d: %s", status, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	n, err := Decode(body)
	return n, status, err
}

// roundTrip sends the request and reads the whole response body into c.body.
func (c *client) roundTrip() (status int, err error) {
	if c.conn == nil {
		if err := c.dial(); err != nil {
			return 0, err
		}
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err := c.ctx.Err(); err != nil { // the watcher may have fired before the line above
		return 0, err
	}
	if _, err := c.conn.Write(c.request); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.reader, nil)
	if err != nil {
		return 0, err
	}
	c.body.Reset()
	_, err = c.body.ReadFrom(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading body: %w", err)
	}
	if resp.Close { // the server is closing this connection: answered, but dial anew next time
		c.close()
	}
	return resp.StatusCode, nil
}

func (c *client) dial() error {
	d := net.Dialer{Timeout: min(c.timeout, 5*time.Second)}
	conn, err := d.DialContext(c.ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	c.conn = conn
	// Ending ctx interrupts a request in flight instead of waiting for its timeout.
	c.stop = context.AfterFunc(c.ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	if c.reader == nil {
		c.reader = bufio.NewReader(conn)
	} else {
		c.reader.Reset(conn)
	}
	return nil
}

func (c *client) close() {
	if c.conn != nil {
		c.stop()
		c.conn.Close()
		c.conn = nil
	}
}
