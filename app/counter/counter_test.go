package counter

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/counter-mysql/counter-mysql/app/loadtest"
)

// fakeStore is an in-memory counter that can hold statements until released and fail on
// demand, recording every batch size.
type fakeStore struct {
	mu      sync.Mutex
	value   int64
	sizes   []int
	fail    error         // returned (without incrementing) while set
	gate    chan struct{} // if non-nil, each Add waits for a value from it
	entered chan struct{} // if non-nil, each Add signals entry
}

func (f *fakeStore) Add(ctx context.Context, n int64) (int64, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sizes = append(f.sizes, int(n))
	if f.fail != nil {
		return 0, f.fail
	}
	f.value += n
	return f.value, nil
}

// recorder is an Observer that remembers errors and abandoned numbers.
type recorder struct {
	mu        sync.Mutex
	abandoned int
	errs      int
}

func (o *recorder) Batch(_ int, _ int64, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.errs++
	}
}

func (o *recorder) Abandoned(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.abandoned += n
}

func closeOnCleanup(t *testing.T, c *Coalescer) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Error(err)
		}
	})
}

func TestCoalescerConcurrentCallersGetDistinctConsecutiveNumbers(t *testing.T) {
	const callers, maxBatch = 500, 16
	st := &fakeStore{}
	c := NewCoalescer(st, maxBatch, 5*time.Second, &recorder{})
	closeOnCleanup(t, c)

	got := make([]int64, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			n, err := c.Next(context.Background())
			if err != nil {
				t.Error(err)
			}
			got[i] = n
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("sorted numbers[%d] = %d, want %d (duplicate or gap)", i, n, i+1)
		}
	}
	for _, s := range st.sizes {
		if s < 1 || s > maxBatch {
			t.Fatalf("batch of %d numbers, want 1..%d", s, maxBatch)
		}
	}
}

// queueBehindGate makes k callers wait while a first statement is held open, so their
// batch composition is known: it returns their result channels in arrival order.
func queueBehindGate(t *testing.T, c *Coalescer, st *fakeStore, k int) (first chan result, rest []chan result) {
	t.Helper()
	call := func(ctx context.Context) chan result {
		ch := make(chan result, 1)
		go func() {
			n, err := c.Next(ctx)
			ch <- result{n, err}
		}()
		return ch
	}
	first = call(context.Background())
	<-st.entered // the first statement is in flight and held
	for range k {
		before := c.queued()
		rest = append(rest, call(context.Background()))
		waitFor(t, func() bool { return c.queued() > before }) // keeps arrival order known
	}
	return first, rest
}

// queued is for tests: how many callers wait for the next batch.
func (c *Coalescer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCoalescerHandsOutInArrivalOrderAndBoundsBatches(t *testing.T) {
	st := &fakeStore{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	c := NewCoalescer(st, 3, 5*time.Second, &recorder{})
	closeOnCleanup(t, c)
	t.Cleanup(func() { close(st.gate) })

	first, rest := queueBehindGate(t, c, st, 5)
	st.gate <- struct{}{} // first statement: 1 number
	if r := <-first; r.err != nil || r.n != 1 {
		t.Fatalf("first caller got %d, %v; want 1", r.n, r.err)
	}
	st.gate <- struct{}{} // second: the first 3 queued (max batch)
	st.gate <- struct{}{} // third: the remaining 2
	for i, ch := range rest {
		if r := <-ch; r.err != nil || r.n != int64(i+2) {
			t.Errorf("caller %d in arrival order got %d, %v; want %d", i, r.n, r.err, i+2)
		}
	}
	if want := []int{1, 3, 2}; !slices.Equal(st.sizes, want) {
		t.Errorf("batch sizes %v, want %v", st.sizes, want)
	}
}

func TestCoalescerStoreErrorFailsWholeBatchOnly(t *testing.T) {
	st := &fakeStore{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	obs := &recorder{}
	c := NewCoalescer(st, 100, 5*time.Second, obs)
	closeOnCleanup(t, c)
	t.Cleanup(func() { close(st.gate) })

	first, rest := queueBehindGate(t, c, st, 4)
	st.gate <- struct{}{}
	<-first
	<-st.entered // the batch of 4 is in its statement
	boom := errors.New("boom")
	st.mu.Lock()
	st.fail = boom
	st.mu.Unlock()
	st.gate <- struct{}{}
	for i, ch := range rest {
		if r := <-ch; !errors.Is(r.err, boom) {
			t.Errorf("caller %d got %d, %v; want the store error", i, r.n, r.err)
		}
	}
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	go func() { st.gate <- struct{}{} }()
	n, err := c.Next(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("after the failed batch: got %d, %v; want 2", n, err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.errs != 1 {
		t.Errorf("observer saw %d errors, want 1", obs.errs)
	}
}

func TestCoalescerCancelledWaiterDoesNotBreakOthers(t *testing.T) {
	st := &fakeStore{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	obs := &recorder{}
	c := NewCoalescer(st, 100, 5*time.Second, obs)
	closeOnCleanup(t, c)
	t.Cleanup(func() { close(st.gate) })

	// One caller leaves while queued (costs no number), one while its batch is in flight
	// (its number is committed and counted as abandoned).
	first := make(chan result, 1)
	go func() { n, err := c.Next(context.Background()); first <- result{n, err} }()
	<-st.entered
	leaveQueued, cancelQueued := context.WithCancel(context.Background())
	queuedErr := make(chan error, 1)
	go func() { _, err := c.Next(leaveQueued); queuedErr <- err }()
	waitFor(t, func() bool { return c.queued() == 1 })
	cancelQueued()
	if err := <-queuedErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued caller that left got %v, want context.Canceled", err)
	}
	leaveInFlight, cancelInFlight := context.WithCancel(context.Background())
	inFlightErr := make(chan error, 1)
	go func() { _, err := c.Next(leaveInFlight); inFlightErr <- err }()
	stay := make(chan result, 1)
	go func() { n, err := c.Next(context.Background()); stay <- result{n, err} }()
	waitFor(t, func() bool { return c.queued() == 3 })

	st.gate <- struct{}{} // first statement commits; the next batch is taken
	<-first
	<-st.entered // batch {queued-left (skipped), leaveInFlight, stay} is in its statement
	cancelInFlight()
	if err := <-inFlightErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("in-flight caller that left got %v, want context.Canceled", err)
	}
	st.gate <- struct{}{}
	r := <-stay
	if r.err != nil {
		t.Fatalf("caller that stayed got %v", r.err)
	}
	if want := []int{1, 2}; !slices.Equal(st.sizes, want) {
		t.Errorf("batch sizes %v, want %v (a caller gone before its batch costs no number)", st.sizes, want)
	}
	if r.n != 2 && r.n != 3 {
		t.Errorf("caller that stayed got %d, want 2 or 3", r.n)
	}
	waitFor(t, func() bool { obs.mu.Lock(); defer obs.mu.Unlock(); return obs.abandoned == 1 })
}

func TestCoalescerCloseDrainsAndRefuses(t *testing.T) {
	st := &fakeStore{}
	c := NewCoalescer(st, 10, 5*time.Second, &recorder{})
	if _, err := c.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
}

func TestSingleOneStatementPerCall(t *testing.T) {
	st := &fakeStore{}
	s := NewSingle(st, 5*time.Second, &recorder{})
	for want := int64(1); want <= 3; want++ {
		if n, err := s.Next(context.Background()); err != nil || n != want {
			t.Fatalf("got %d, %v; want %d", n, err, want)
		}
	}
	if !slices.Equal(st.sizes, []int{1, 1, 1}) {
		t.Fatalf("sizes %v", st.sizes)
	}
}

// Close waits for a statement a caller is running itself (nothing queued behind it):
// the caller's number is committed and delivered before Close returns.
func TestCoalescerCloseWaitsForCallersOwnStatement(t *testing.T) {
	st := &fakeStore{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	c := NewCoalescer(st, 10, 5*time.Second, &recorder{})
	first := make(chan result, 1)
	go func() { n, err := c.Next(context.Background()); first <- result{n, err} }()
	<-st.entered // the caller's own statement is in flight and held
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- c.Close(ctx)
	}()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a statement was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	st.gate <- struct{}{}
	if r := <-first; r.err != nil || r.n != 1 {
		t.Errorf("caller got %d, %v; want 1", r.n, r.err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Under load the statements stay one at a time: no two Adds overlap, whoever runs them.
func TestCoalescerOneStatementInFlight(t *testing.T) {
	st := &overlapStore{}
	c := NewCoalescer(st, 8, 5*time.Second, &recorder{})
	closeOnCleanup(t, c)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 50 {
				if _, err := c.Next(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := st.overlaps.Load(); n > 0 {
		t.Errorf("%d statements started while another was in flight", n)
	}
}

// overlapStore counts Adds that start while another is running.
type overlapStore struct {
	running  atomic.Int32
	overlaps atomic.Int32
	value    atomic.Int64
}

func (s *overlapStore) Add(_ context.Context, n int64) (int64, error) {
	if s.running.Add(1) > 1 {
		s.overlaps.Add(1)
	}
	defer s.running.Add(-1)
	time.Sleep(50 * time.Microsecond)
	return s.value.Add(n), nil
}

// With statements taking random times before and after their increment, as a database's
// round trips do, every history is a correct counter's: unique, increasing per caller,
// linearizable.
func TestCoalescerHistoryIsLinearizable(t *testing.T) {
	c := NewCoalescer(&jitterStore{}, 16, 5*time.Second, &recorder{})
	closeOnCleanup(t, c)
	const callers, calls = 32, 60
	start := time.Now()
	ops := make([][]loadtest.Op, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for range calls {
				call := time.Since(start)
				n, err := c.Next(context.Background())
				ops[i] = append(ops[i], loadtest.Op{Client: i, Call: call, Return: time.Since(start), Number: n, Err: err})
			}
		})
	}
	wg.Wait()
	history := slices.Concat(ops...)
	slices.SortFunc(history, func(a, b loadtest.Op) int { return cmp.Compare(a.Call, b.Call) })
	if err := loadtest.CheckHistory(history, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// jitterStore's statements take a random time before and after the increment.
type jitterStore struct{ value atomic.Int64 }

func (s *jitterStore) Add(_ context.Context, n int64) (int64, error) {
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	last := s.value.Add(n)
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	return last, nil
}

// hangingStore's statements wait for release, or fail when their context ends.
type hangingStore struct {
	release chan struct{}
	entered chan struct{}
	value   atomic.Int64
}

func (h *hangingStore) Add(ctx context.Context, n int64) (int64, error) {
	h.entered <- struct{}{}
	select {
	case <-h.release:
		return h.value.Add(n), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Callers queued behind a statement that hangs get ErrTimeout once each has waited the
// timeout, with no context of their own (the caller running that statement gets its
// context's error at the same time), and a caller that came later is not expired with the
// earlier ones. A number committed for a caller that gave up is counted as abandoned.
func TestCoalescerBoundsEveryWaitByItsTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	st := &hangingStore{release: make(chan struct{}), entered: make(chan struct{}, 100)}
	obs := &recorder{}
	c := NewCoalescer(st, 100, timeout, obs)
	closeOnCleanup(t, c)

	type wait struct {
		err  error
		took time.Duration
	}
	call := func() <-chan wait {
		w := make(chan wait, 1)
		start := time.Now()
		go func() { _, err := c.Next(context.Background()); w <- wait{err, time.Since(start)} }()
		return w
	}
	own := call()
	<-st.entered
	early := call()
	waitFor(t, func() bool { return c.queued() == 1 })
	time.Sleep(timeout / 2)
	late := call()
	waitFor(t, func() bool { return c.queued() == 2 })

	for _, w := range []struct {
		name string
		wait <-chan wait
		want error
	}{{"own statement", own, context.DeadlineExceeded}, {"queued", early, ErrTimeout}, {"queued later", late, ErrTimeout}} {
		r := <-w.wait
		if !errors.Is(r.err, w.want) {
			t.Errorf("%s: %v, want %v", w.name, r.err, w.want)
		}
		if r.took < timeout || r.took > timeout+time.Second {
			t.Errorf("%s: gave up after %v, want the timeout %v (less than a second late)", w.name, r.took, timeout)
		}
	}
	close(st.release) // a statement for the expired queue may still be waiting: it commits
	n, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { obs.mu.Lock(); defer obs.mu.Unlock(); return obs.abandoned == int(n-1) })
}

// Two coalescers in one process, as in these tests, each expiring callers often while the
// other recycles waiters: a waiter one of them last served must never be reset under the
// other's mutex while the first may still read it (a data race the race detector reports,
// and a caller of one expired by the other's clock).
func TestCoalescersShareNoWaiters(t *testing.T) {
	var wg sync.WaitGroup
	for range 2 {
		c := NewCoalescer(&latencyStore{took: 200 * time.Microsecond}, 16, 2*time.Millisecond, nopObserver{})
		closeOnCleanup(t, c)
		for range 8 {
			wg.Go(func() {
				for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
					if _, err := c.Next(context.Background()); err != nil && !errors.Is(err, ErrTimeout) {
						t.Errorf("Next: %v, want a number or ErrTimeout", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}

// A caller that timed out while queued leaves its waiter in the queue, so that waiter must
// not serve the next caller: it would be queued twice and cost a second number. One P, so
// the pool hands the next caller the waiter just returned to it, if it was returned.
func TestCoalescerExpiredWaiterIsNotReused(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const timeout = 100 * time.Millisecond
	st := &fakeStore{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	c := NewCoalescer(st, 100, timeout, &recorder{})
	closeOnCleanup(t, c)

	go c.Next(context.Background()) // its statement holds until the gate opens
	<-st.entered
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrTimeout) {
		t.Fatalf("queued caller got %v, want ErrTimeout", err)
	}
	next := make(chan error, 1)
	go func() { _, err := c.Next(context.Background()); next <- err }()
	waitFor(t, func() bool { return c.queued() == 2 }) // the expired caller's waiter, and this one
	st.gate <- struct{}{}
	st.gate <- struct{}{}
	if err := <-next; err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if want := []int{1, 1}; !slices.Equal(st.sizes, want) {
		t.Errorf("batch sizes %v, want %v (the expired caller's number must not be taken again)", st.sizes, want)
	}
}
