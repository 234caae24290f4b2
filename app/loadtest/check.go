package loadtest

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// maxListed bounds how many violations an error message lists.
const maxListed = 10

// succeeded returns the ops that got a number. Failed ops are left out of every check: a
// failed request may have consumed a number, which is only a gap.
func succeeded(ops []Op) []Op {
	var ok []Op
	for _, o := range ops {
		if o.OK() {
			ok = append(ok, o)
		}
	}
	return ok
}

// CheckUnique fails if any number was handed out more than once, listing the first ones
// (in numeric order) with the clients that got them.
func CheckUnique(ops []Op) error {
	clients := map[int64][]int{}
	for _, o := range succeeded(ops) {
		clients[o.Number] = append(clients[o.Number], o.Client)
	}
	var dups []int64
	for n, cs := range clients {
		if len(cs) > 1 {
			dups = append(dups, n)
		}
	}
	if len(dups) == 0 {
		return nil
	}
	slices.Sort(dups)
	var b strings.Builder
	fmt.Fprintf(&b, "%d numbers handed out more than once:", len(dups))
	for _, n := range dups[:min(len(dups), maxListed)] {
		fmt.Fprintf(&b, " %d to clients %v;", n, clients[n])
	}
	return errors.New(strings.TrimSuffix(b.String(), ";"))
}

// CheckPerClientIncreasing fails if any client got a number not larger than the one its
// previous request got. Each client is sequential, so this holds in every correct counter.
func CheckPerClientIncreasing(ops []Op) error {
	ok := succeeded(ops)
	slices.SortStableFunc(ok, byCall)
	last := map[int]Op{}
	var bad []string
	count := 0
	for _, o := range ok {
		if prev, seen := last[o.Client]; seen && o.Number <= prev.Number {
			count++
			if len(bad) < maxListed {
				bad = append(bad, fmt.Sprintf("client %d got %d at %v after %d at %v", o.Client, o.Number, o.Call, prev.Number, prev.Call))
			}
		}
		last[o.Client] = o
	}
	if count > 0 {
		return fmt.Errorf("%d numbers not larger than the same client's previous one: %s", count, strings.Join(bad, "; "))
	}
	return nil
}

// counterModel is the sequential specification: the state is the last number handed out,
// and each get must return a larger one (gaps allowed).
var counterModel = porcupine.Model{
	Partition: partitionByNumber,
	Init:      func() any { return int64(math.MinInt64) },
	Step: func(state, _, output any) (bool, any) {
		n := output.(int64)
		return n > state.(int64), n
	},
	Hash:              func(state any) uint64 { return uint64(state.(int64)) },
	DescribeOperation: func(_, output any) string { return fmt.Sprintf("get() -> %d", output) },
	DescribeState:     func(state any) string { return fmt.Sprint(state) },
}

// partitionByNumber splits a history, sorted by number, at every point where each op below
// was called no later than every op above returned (and never between equal numbers).
// That is exact for counterModel: any linearization lists the numbers in increasing order,
// so one exists for the whole history iff one exists for each part, the parts' orders
// concatenated respecting real time at the cuts. Without it porcupine's search explodes
// (it gave up after a minute on 4,000 ops from 64 clients); with it a correct history is
// all single-op parts and only the parts around a violation are searched.
func partitionByNumber(history []porcupine.Operation) [][]porcupine.Operation {
	h := slices.Clone(history)
	slices.SortFunc(h, func(a, b porcupine.Operation) int { return cmp.Compare(a.Output.(int64), b.Output.(int64)) })
	minReturnFrom := make([]int64, len(h)+1) // minReturnFrom[i]: earliest Return among h[i:]
	minReturnFrom[len(h)] = math.MaxInt64
	for i := len(h) - 1; i >= 0; i-- {
		minReturnFrom[i] = min(minReturnFrom[i+1], h[i].Return)
	}
	var parts [][]porcupine.Operation
	start, maxCall := 0, int64(math.MinInt64)
	for i := range h {
		maxCall = max(maxCall, h[i].Call)
		if i+1 == len(h) || (h[i].Output != h[i+1].Output && maxCall <= minReturnFrom[i+1]) {
			parts = append(parts, h[start:i+1])
			start = i + 1
		}
	}
	return parts
}

// CheckLinearizable checks that the successful ops are linearizable for counterModel. It
// first looks for a pair of ops proving they are not (one returned before the other was
// called, yet got a number at least as large) and reports it; otherwise porcupine decides,
// given at most timeout. With unique numbers the pair search alone is exact; porcupine also
// catches overlapping requests that got the same number.
func CheckLinearizable(ops []Op, timeout time.Duration) error {
	ok := succeeded(ops)
	if a, b, found := realTimeViolation(ok); found {
		return fmt.Errorf("not linearizable: client %d got %d in [%v, %v], which ended before client %d called at %v and got %d",
			a.Client, a.Number, a.Call, a.Return, b.Client, b.Call, b.Number)
	}
	history := make([]porcupine.Operation, len(ok))
	for i, o := range ok {
		history[i] = porcupine.Operation{ClientId: o.Client, Call: int64(o.Call), Return: int64(o.Return), Output: o.Number}
	}
	switch porcupine.CheckOperationsTimeout(counterModel, history, timeout) {
	case porcupine.Ok:
		return nil
	case porcupine.Illegal:
		return fmt.Errorf("not linearizable (porcupine: illegal) over %d successful ops: overlapping requests got the same number (see CheckUnique)", len(ok))
	default:
		return fmt.Errorf("linearizability unknown: porcupine gave up after %v on %d successful ops (raise the timeout or check a shorter history)", timeout, len(ok))
	}
}

// realTimeViolation finds ops a, b with a.Return < b.Call but a.Number >= b.Number. For a
// history of unique numbers under counterModel, the only possible linearization is numeric
// order, so such a pair exists exactly when the history is not linearizable.
func realTimeViolation(ok []Op) (a, b Op, found bool) {
	byNumber := slices.Clone(ok)
	// Equal numbers in decreasing Return order, so that of two duplicates the walk below
	// meets the earlier one first and reports the pair if they did not overlap.
	slices.SortFunc(byNumber, func(x, y Op) int {
		return cmp.Or(cmp.Compare(x.Number, y.Number), cmp.Compare(y.Return, x.Return))
	})
	// Walk from the largest number down, remembering the earliest-returning op so far:
	// every op seen has a number >= the current one.
	var earliest Op
	for i := len(byNumber) - 1; i >= 0; i-- {
		o := byNumber[i]
		if i < len(byNumber)-1 && earliest.Return < o.Call {
			return earliest, o, true
		}
		if i == len(byNumber)-1 || o.Return < earliest.Return {
			earliest = o
		}
	}
	return Op{}, Op{}, false
}

func byCall(a, b Op) int { return cmp.Compare(a.Call, b.Call) }

// CheckHistory runs every check on a history: unique numbers, strictly increasing per
// client, and linearizable (within timeout).
func CheckHistory(ops []Op, timeout time.Duration) error {
	if err := CheckUnique(ops); err != nil {
		return err
	}
	if err := CheckPerClientIncreasing(ops); err != nil {
		return err
	}
	return CheckLinearizable(ops, timeout)
}
