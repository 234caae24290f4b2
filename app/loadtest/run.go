// Package loadtest drives closed-loop HTTP load against counter servers, records every
// request as an operation in a history, and checks that history: numbers unique, increasing
// per client, and linearizable (a request that starts after another returned gets a larger
// number). Gaps are allowed.
package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Config describes one load run.
type Config struct {
	URLs     []string      // base URLs of one or more app servers; client i uses URLs[i % len(URLs)]
	Clients  int           // concurrent closed-loop clients (each: one request at a time, keep-alive)
	Requests int           // requests per client (0 = unlimited, use Duration)
	Duration time.Duration // no new request starts after this long (0 = use Requests)
	Warmup   time.Duration // ops called in the first Warmup are left out of Summary's stats (still checked)
	Timeout  time.Duration // per request (default 10s)
}

// Op is one request as a history operation. Call and Return are monotonic times since the
// start of Run. Err is nil exactly when the server answered 200 with a valid body.
type Op struct {
	Client       int
	Call, Return time.Duration
	Number       int64
	Status       int // HTTP status; 0 if no response
	Err          error
}

// OK says whether the op got a number.
func (o Op) OK() bool { return o.Err == nil }

// Result is the history of one run.
type Result struct {
	Ops     []Op // sorted by Call
	Elapsed time.Duration
	Warmup  time.Duration
}

// path is what every request asks for.
const path = "/get-number"

// maxBody bounds what is read of a response: a valid one is a few dozen bytes.
const maxBody = 64 << 10

// Run sends requests from cfg.Clients concurrent clients until each has sent cfg.Requests,
// cfg.Duration has passed (requests in flight then still complete), or ctx ends. It records
// every request, failures included. If ctx ends first, it returns the partial result and
// ctx's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	clients := make([]*client, cfg.Clients)
	for i := range clients {
		c, err := newClient(ctx, cfg.URLs[i%len(cfg.URLs)], path, cfg.Timeout)
		if err != nil {
			return nil, err
		}
		clients[i] = c
		defer c.close()
	}

	start := time.Now()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	perClient := make([][]Op, cfg.Clients)
	var wg sync.WaitGroup
	for c, cl := range clients {
		wg.Go(func() {
			for i := 0; cfg.Requests == 0 || i < cfg.Requests; i++ {
				now := time.Now()
				if ctx.Err() != nil || (!deadline.IsZero() && !now.Before(deadline)) {
					return
				}
				op := Op{Client: c, Call: now.Sub(start)}
				op.Number, op.Status, op.Err = cl.get()
				op.Return = time.Since(start)
				perClient[c] = append(perClient[c], op)
			}
		})
	}
	wg.Wait()
	r := &Result{Elapsed: time.Since(start), Warmup: cfg.Warmup}
	for _, ops := range perClient {
		r.Ops = append(r.Ops, ops...)
	}
	slices.SortFunc(r.Ops, byCall)
	return r, ctx.Err()
}

func (cfg *Config) validate() error {
	switch {
	case len(cfg.URLs) == 0:
		return errors.New("loadtest: no URLs")
	case cfg.Clients <= 0:
		return errors.New("loadtest: Clients must be positive")
	case cfg.Requests < 0 || cfg.Duration < 0:
		return errors.New("loadtest: negative Requests or Duration")
	case cfg.Requests == 0 && cfg.Duration == 0:
		return errors.New("loadtest: set Requests or Duration (or both)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return nil
}

// Decode parses a /get-number body, which must be exactly one JSON object whose only field
// is "number" with an integer value, e.g. {"number": 42}: no other fields, no fraction,
// exponent or quotes, nothing after it but whitespace. It is a small hand-written parser
// because encoding/json took about a third of the driver's own CPU per request, CPU the
// server under test shares on a small machine.
func Decode(body []byte) (int64, error) {
	rest := skipSpace(body)
	for _, token := range []string{"{", `"number"`, ":"} {
		if !bytes.HasPrefix(rest, []byte(token)) {
			return 0, badBody(body)
		}
		rest = skipSpace(rest[len(token):])
	}
	end := 0
	if end < len(rest) && rest[end] == '-' {
		end++
	}
	digits := end
	for end < len(rest) && '0' <= rest[end] && rest[end] <= '9' {
		end++
	}
	if end == digits || (rest[digits] == '0' && end > digits+1) { // JSON: no leading zeros
		return 0, badBody(body)
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil {
		return 0, badBody(body)
	}
	rest = skipSpace(rest[end:])
	if len(rest) == 0 || rest[0] != '}' || len(skipSpace(rest[1:])) != 0 {
		return 0, badBody(body)
	}
	return n, nil
}

func badBody(body []byte) error {
	return fmt.Errorf("body %.100q is not {\"number\": <64-bit integer>}", body)
}

// skipSpace drops JSON whitespace from the front of b.
func skipSpace(b []byte) []byte {
	return bytes.TrimLeft(b, " \t\r\n")
}
