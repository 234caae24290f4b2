package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// counterServer serves /get-number from next, which returns the body to send.
func counterServer(t *testing.T, next func() string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, next())
	}))
	t.Cleanup(srv.Close)
	return srv
}

func atomicCounter(start int64, step int64) func() string {
	var n atomic.Int64
	n.Store(start - step)
	return func() string { return fmt.Sprintf(`{"number": %d}`, n.Add(step)) }
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCorrectCounterPassesEveryCheck(t *testing.T) {
	a := counterServer(t, atomicCounter(1, 1))
	// Two URLs to the same counter: still one linearizable counter.
	r := run(t, Config{URLs: []string{a.URL, a.URL + "/"}, Clients: 16, Requests: 50})
	s := r.Summary()
	if len(r.Ops) != 16*50 || s.OK != 16*50 || s.Errors != 0 || s.Duplicates != 0 {
		t.Fatalf("got %d ops, summary %v; want 800 ok", len(r.Ops), s)
	}
	if s.ReqPerSec <= 0 || s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
		t.Errorf("implausible summary: %v", s)
	}
	for i, o := range r.Ops {
		if o.Status != http.StatusOK || o.Return < o.Call || (i > 0 && o.Call < r.Ops[i-1].Call) {
			t.Fatalf("op %d = %+v: want status 200, Return >= Call, sorted by Call", i, o)
		}
	}
	if err := CheckUnique(r.Ops); err != nil {
		t.Error(err)
	}
	if err := CheckPerClientIncreasing(r.Ops); err != nil {
		t.Error(err)
	}
	if err := CheckLinearizable(r.Ops, 10*time.Second); err != nil {
		t.Error(err)
	}
	if !strings.Contains(s.String(), "800 ok, 0 errors") {
		t.Errorf("String() = %q", s.String())
	}
}

func TestDurationBoundsRun(t *testing.T) {
	srv := counterServer(t, atomicCounter(1, 1))
	r := run(t, Config{URLs: []string{srv.URL}, Clients: 4, Duration: 100 * time.Millisecond})
	if len(r.Ops) == 0 {
		t.Fatal("no ops in a 100ms run")
	}
	for _, o := range r.Ops {
		if o.Call >= 100*time.Millisecond {
			t.Fatalf("op called at %v, after the 100ms duration", o.Call)
		}
	}
}

func TestDuplicatesAreCaught(t *testing.T) {
	next := atomicCounter(2, 1)
	srv := counterServer(t, func() string { // each number twice: 1 1 2 2 3 3 ...
		var n int64
		fmt.Sscanf(next(), `{"number": %d}`, &n)
		return fmt.Sprintf(`{"number": %d}`, n/2)
	})
	r := run(t, Config{URLs: []string{srv.URL}, Clients: 4, Requests: 20})
	err := CheckUnique(r.Ops)
	if err == nil || !strings.Contains(err.Error(), "40 numbers handed out more than once") {
		t.Errorf("CheckUnique = %v; want 40 duplicated numbers", err)
	}
	if d := r.Summary().Duplicates; d != 40 {
		t.Errorf("Summary.Duplicates = %d, want 40", d)
	}
	if err := CheckLinearizable(r.Ops, 10*time.Second); err == nil {
		t.Error("CheckLinearizable passed a history with duplicate numbers")
	}
}

func TestPerClientDecreaseIsCaught(t *testing.T) {
	srv := counterServer(t, atomicCounter(1_000_000, -1))
	r := run(t, Config{URLs: []string{srv.URL}, Clients: 2, Requests: 10})
	if err := CheckUnique(r.Ops); err != nil {
		t.Errorf("a unique counter failed CheckUnique: %v", err)
	}
	if err := CheckPerClientIncreasing(r.Ops); err == nil || !strings.Contains(err.Error(), "18 numbers not larger") {
		t.Errorf("CheckPerClientIncreasing = %v; want 18 violations", err)
	}
	if err := CheckLinearizable(r.Ops, 10*time.Second); err == nil {
		t.Error("CheckLinearizable passed a decreasing counter")
	}
}

// Two replicas each with their own in-memory counter: numbers are unique (even vs odd) and
// increase per client, but a request to the low replica that starts after one to the high
// replica returned gets a smaller number. Replica low holds its client's second request
// until high has received its second one, so its third request surely starts after the
// high client's first returned.
func TestReplicasWithOwnCountersAreNotLinearizable(t *testing.T) {
	highSecond := make(chan struct{})
	var highCalls, lowCalls atomic.Int64
	highNext := atomicCounter(1_000_001, 2)
	high := counterServer(t, func() string {
		if highCalls.Add(1) == 2 {
			close(highSecond)
		}
		return highNext()
	})
	lowNext := atomicCounter(2, 2)
	low := counterServer(t, func() string {
		if lowCalls.Add(1) == 2 {
			select {
			case <-highSecond:
			case <-time.After(10 * time.Second):
				return "replica high never got its second request"
			}
		}
		return lowNext()
	})
	r := run(t, Config{URLs: []string{low.URL, high.URL}, Clients: 2, Requests: 10})
	if s := r.Summary(); s.OK != 20 {
		t.Fatalf("summary %v; want 20 ok", s)
	}
	if err := CheckUnique(r.Ops); err != nil {
		t.Errorf("CheckUnique: %v", err)
	}
	if err := CheckPerClientIncreasing(r.Ops); err != nil {
		t.Errorf("CheckPerClientIncreasing: %v", err)
	}
	err := CheckLinearizable(r.Ops, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "client 1 got 1000001") {
		t.Errorf("CheckLinearizable = %v; want client 1's first number as the witness", err)
	}
}

func TestErrorsAreRecorded(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); n % 3 {
		case 0:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error": "database unavailable"}`)
		case 1:
			fmt.Fprint(w, "hello")
		default:
			fmt.Fprintf(w, `{"number": %d}`, n)
		}
	}))
	t.Cleanup(srv.Close)
	r := run(t, Config{URLs: []string{srv.URL}, Clients: 1, Requests: 9})
	s := r.Summary()
	if s.OK != 3 || s.Errors != 6 {
		t.Fatalf("summary %v; want 3 ok, 6 errors", s)
	}
	var unavailable, badBody int
	for _, o := range r.Ops {
		switch {
		case o.Status == http.StatusServiceUnavailable && o.Err != nil:
			unavailable++
		case o.Status == http.StatusOK && o.Err != nil && strings.Contains(o.Err.Error(), "hello"):
			badBody++
		}
	}
	if unavailable != 3 || badBody != 3 {
		t.Errorf("%d ops recorded as 503 and %d as bad body, want 3 and 3: %+v", unavailable, badBody, r.Ops)
	}
	if err := CheckLinearizable(r.Ops, 10*time.Second); err != nil {
		t.Errorf("failed ops must be left out of the checks: %v", err)
	}
}

func TestUnreachableServerIsAnError(t *testing.T) {
	srv := counterServer(t, atomicCounter(1, 1))
	srv.Close()
	r := run(t, Config{URLs: []string{srv.URL}, Clients: 2, Requests: 3})
	if s := r.Summary(); s.Errors != 6 || r.Ops[0].Status != 0 {
		t.Errorf("summary %v, first op %+v; want 6 errors with no status", s, r.Ops[0])
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Clients: 1, Requests: 1},
		{URLs: []string{"http://127.0.0.1:1"}, Requests: 1},
		{URLs: []string{"http://127.0.0.1:1"}, Clients: 1},
		{URLs: []string{"http://127.0.0.1:1"}, Clients: 1, Requests: -1},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) accepted a bad config", cfg)
		}
	}
}

func TestRunStopsWithContext(t *testing.T) {
	srv := counterServer(t, atomicCounter(1, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Run(ctx, Config{URLs: []string{srv.URL}, Clients: 2, Duration: time.Hour})
	if err != context.Canceled || r == nil || len(r.Ops) != 0 {
		t.Errorf("Run with a cancelled ctx and no limits = %v, %v; want an empty result and context.Canceled", r, err)
	}
}

func TestDecode(t *testing.T) {
	valid := map[string]int64{
		`{"number":42}`:                  42,
		"{\"number\": 7}\n":              7,
		" {\r\n\t\"number\" :\t-0 } ":    0,
		`{"number":9223372036854775807}`: 9223372036854775807,
	}
	for body, want := range valid {
		if got, err := Decode([]byte(body)); err != nil || got != want {
			t.Errorf("Decode(%s) = %d, %v; want %d", body, got, err, want)
		}
	}
	for _, body := range []string{
		``, `hello`, `null`, `[1]`, `42`, `{}`, `{"number":null}`, `{"number":"42"}`,
		`{"number":4.2}`, `{"number":1e3}`, `{"number":9223372036854775808}`,
		`{"number":1,"extra":2}`, `{"Number":1,"number":1}`, `{"number":1}{"number":2}`, `{"number":1`,
		`{"number":-}`, `{"number":007}`, `{"number":1}x`, `{"number":1}}`, `{"number" 1}`, `{"numbers":1}`,
	} {
		if n, err := Decode([]byte(body)); err == nil {
			t.Errorf("Decode(%s) = %d; want an error", body, n)
		}
	}
}

func TestSummaryLeavesOutWarmup(t *testing.T) {
	r := &Result{Elapsed: 3 * time.Second, Warmup: time.Second, Ops: []Op{
		{Client: 0, Call: 0, Return: 900 * time.Millisecond, Number: 5},
		{Client: 1, Call: 500 * time.Millisecond, Return: 1500 * time.Millisecond, Err: fmt.Errorf("boom")},
		{Client: 0, Call: time.Second, Return: time.Second + 10*time.Millisecond, Number: 5},
		{Client: 1, Call: 2 * time.Second, Return: 2*time.Second + 30*time.Millisecond, Number: 6},
		{Client: 0, Call: 2 * time.Second, Return: 3 * time.Second, Err: fmt.Errorf("boom")},
	}}
	s := r.Summary()
	want := Summary{OK: 2, Errors: 1, ReqPerSec: 1, P50: 10 * time.Millisecond, P99: 30 * time.Millisecond, Max: 30 * time.Millisecond, Duplicates: 1}
	if s != want {
		t.Errorf("Summary() = %+v\nwant        %+v", s, want)
	}
}

func TestCheckLinearizableOnSimulatedHistories(t *testing.T) {
	ops := linearizableHistory(64, 63, 2)
	if err := CheckLinearizable(ops, time.Minute); err != nil {
		t.Fatalf("simulated correct history: %v", err)
	}
	// Swap the numbers of two ops far apart in time: a stale read, 64-way concurrent.
	first, last := 10, len(ops)-10
	ops[first].Number, ops[last].Number = ops[last].Number, ops[first].Number
	if err := CheckUnique(ops); err != nil {
		t.Fatalf("swap made duplicates: %v", err)
	}
	if err := CheckLinearizable(ops, time.Minute); err == nil || !strings.Contains(err.Error(), "not linearizable") {
		t.Errorf("history with two numbers swapped: CheckLinearizable = %v, want not linearizable", err)
	}
}

// The porcupine model and its partition on their own, including the case only porcupine
// catches: overlapping requests that got the same number.
func TestCounterModel(t *testing.T) {
	op := func(client int, call, ret, number int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret, Output: number}
	}
	for _, c := range []struct {
		name    string
		history []porcupine.Operation
		legal   bool
	}{
		{"sequential with gaps", []porcupine.Operation{op(0, 0, 1, 1), op(0, 2, 3, 5), op(1, 4, 5, 6)}, true},
		{"overlapping, numbers out of call order", []porcupine.Operation{op(0, 0, 10, 7), op(1, 1, 9, 3), op(2, 8, 12, 8)}, true},
		{"touching intervals are concurrent", []porcupine.Operation{op(0, 0, 5, 9), op(1, 5, 6, 2)}, true},
		{"stale after return", []porcupine.Operation{op(0, 0, 1, 5), op(1, 2, 3, 3)}, false},
		{"overlapping duplicates", []porcupine.Operation{op(0, 0, 10, 4), op(1, 1, 9, 4), op(2, 20, 21, 5)}, false},
		{"violation inside a longer history", []porcupine.Operation{op(0, 0, 1, 1), op(0, 2, 3, 2), op(1, 2, 8, 10), op(0, 4, 5, 3), op(2, 9, 10, 4)}, false},
	} {
		if got := porcupine.CheckOperations(counterModel, c.history); got != c.legal {
			t.Errorf("%s: porcupine says linearizable = %v, want %v", c.name, got, c.legal)
		}
	}
	dups := []Op{{Client: 0, Call: 0, Return: 10, Number: 4}, {Client: 1, Call: 1, Return: 9, Number: 4}}
	if err := CheckLinearizable(dups, time.Minute); err == nil || !strings.Contains(err.Error(), "porcupine: illegal") {
		t.Errorf("overlapping duplicates: CheckLinearizable = %v, want porcupine's illegal", err)
	}
}

// CheckLinearizable takes two shortcuts (the witness pair and the partition). On many small
// random histories its verdict must equal porcupine's plain search without either.
func TestCheckLinearizableAgreesWithPlainPorcupine(t *testing.T) {
	plain := counterModel
	plain.Partition = nil
	rng := rand.New(rand.NewPCG(3, 4))
	legal := 0
	for i := range 2000 {
		var ops []Op
		var history []porcupine.Operation
		for c := range 3 {
			now := time.Duration(rng.IntN(5))
			for range 1 + rng.IntN(3) {
				o := Op{Client: c, Call: now, Return: now + time.Duration(rng.IntN(6))}
				// Roughly increasing with time, with noise: about half the histories are legal.
				o.Number = 10*int64(o.Call) + int64(rng.IntN(40))
				ops = append(ops, o)
				history = append(history, porcupine.Operation{ClientId: c, Call: int64(o.Call), Return: int64(o.Return), Output: o.Number})
				now = o.Return + 1 + time.Duration(rng.IntN(3))
			}
		}
		want := porcupine.CheckOperations(plain, history)
		err := CheckLinearizable(ops, time.Minute)
		if (err == nil) != want {
			t.Fatalf("history %d %+v: CheckLinearizable = %v, plain porcupine says linearizable = %v", i, ops, err, want)
		}
		if want {
			legal++
		}
	}
	t.Logf("%d of 2000 random histories linearizable", legal)
	if legal < 100 || legal > 1900 {
		t.Errorf("%d of 2000 random histories linearizable: too one-sided to compare", legal)
	}
}

// CheckHistory must reject a history that fails any one of its checks.
func TestCheckHistory(t *testing.T) {
	ok := func(client int, call, ret time.Duration, n int64) Op {
		return Op{Client: client, Call: call, Return: ret, Number: n, Status: 200}
	}
	for _, c := range []struct {
		name  string
		ops   []Op
		valid bool
	}{
		{"valid", []Op{ok(0, 0, 1, 1), ok(1, 2, 3, 2), ok(0, 2, 4, 3)}, true},
		{"duplicate", []Op{ok(0, 0, 1, 1), ok(1, 2, 3, 1)}, false},
		{"client goes backwards", []Op{ok(0, 0, 5, 2), ok(0, 6, 7, 1), ok(1, 0, 8, 3)}, false},
		{"stale after return", []Op{ok(0, 0, 1, 5), ok(1, 2, 3, 3)}, false},
	} {
		if err := CheckHistory(c.ops, time.Minute); (err == nil) != c.valid {
			t.Errorf("%s: CheckHistory = %v, want valid = %v", c.name, err, c.valid)
		}
	}
}
