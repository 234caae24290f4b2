package loadtest

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// linearizableHistory simulates clients closed-loop against a correct counter: each op
// takes effect at a random instant inside its interval, and numbers (with random gaps)
// follow the order of those instants.
func linearizableHistory(clients, opsPerClient int, seed uint64) []Op {
	rng := rand.New(rand.NewPCG(seed, 1))
	type timed struct {
		op     Op
		effect time.Duration
	}
	var all []timed
	for c := range clients {
		now := time.Duration(rng.IntN(1000)) * time.Microsecond
		for range opsPerClient {
			latency := time.Duration(200+rng.IntN(20000)) * time.Microsecond
			effect := now + time.Duration(rng.Int64N(int64(latency)))
			all = append(all, timed{Op{Client: c, Call: now, Return: now + latency, Status: 200}, effect})
			now += latency + time.Duration(rng.IntN(100))*time.Microsecond
		}
	}
	slices.SortFunc(all, func(a, b timed) int { return cmp.Compare(a.effect, b.effect) })
	ops := make([]Op, len(all))
	n := int64(0)
	for i, t := range all {
		n += 1 + int64(rng.IntN(3))
		t.op.Number = n
		ops[i] = t.op
	}
	slices.SortFunc(ops, byCall)
	return ops
}
