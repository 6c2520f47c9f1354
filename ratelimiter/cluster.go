package ratelimiter

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// On a Redis Cluster, each counter has its own hash tag (clusterKey), so
// counters spread over every master instead of sitting on the one that
// owns a shared tag. A decision's charges are grouped by slot: one
// decide.lua per slot, all of them sent at once in one pipeline, which
// go-redis splits by master and writes to every master in parallel, so a
// decision costs one round-trip time however many masters it touches.
//
// The all-or-nothing rule (no limit is charged for a request another limit
// refused) holds by refund: each slot's script charges its part only if
// every enforced charge of that part admits, as on one node; when a part
// refuses, the parts that charged are undone by refund.lua (a second round
// trip, on refused decisions only, in the background: the refusal is
// answered after the first). Between charge and refund a concurrent
// decision can see the refused request's charge, so near a limit it may be
// refused where a single node would admit it; the counters end as if the
// refused request never came. Refusals are therefore marked Tentative, so
// that the over-limit cache keeps them only briefly. A refund that fails
// (the master went away in between) is counted in
// tollgate_ratelimit_redis_errors_total and its charge stays until the
// counter expires.

//go:embed refund.lua
var refundSource string

var refundScript = redis.NewScript(refundSource)

// clusterKey is a counter's key on a Cluster: its own hash tag.
func clusterKey(k string) string { return "tollgate:{" + k + "}" }

// clusterStore keeps counters in a Redis Cluster.
type clusterStore struct {
	client  *redis.ClusterClient
	timeout time.Duration
	now     func() time.Time
	metrics *Metrics
	// refunds are the refunds in flight (tests wait for them).
	refunds sync.WaitGroup
}

// part is the charges of one decision that live in one slot.
type part struct {
	idx   []int
	keys  []string
	args  []any
	reply []int64
}

// Apply implements Store.
func (s *clusterStore) Apply(ctx context.Context, charges []Charge) ([]Result, error) {
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	parts := s.split(charges)
	start := time.Now()
	err := s.decide(ctx, parts)
	s.metrics.redisTime.Observe(time.Since(start).Seconds())
	if err != nil {
		// The failure mode answers, and a failed decision charges
		// nothing: the parts that did charge are refunded. (A part that
		// timed out may still run once its master answers again; that
		// is as ambiguous as a timeout on a single node.)
		s.metrics.redisErrors.Inc()
		s.refund(ctx, charges, parts)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	results := make([]Result, len(charges))
	for _, p := range parts {
		fillResults(results, charges, p.idx, p.reply)
	}
	for i := range results {
		results[i].Tentative = !results[i].Allowed
	}
	if len(parts) > 1 && !admits(charges, results) {
		s.refund(ctx, charges, parts)
	}
	return results, nil
}

// split groups charges by slot, in the order of their first charge.
func (s *clusterStore) split(charges []Charge) []*part {
	bySlot := map[int]*part{}
	var parts []*part
	for i, c := range charges {
		slot := keySlot(clusterKey(c.Key))
		p := bySlot[slot]
		if p == nil {
			p = &part{}
			bySlot[slot] = p
			parts = append(parts, p)
		}
		p.idx = append(p.idx, i)
	}
	for _, p := range parts {
		p.keys, p.args = scriptArgs(charges, p.idx, s.now, clusterKey)
	}
	return parts
}

// decide runs every part's script: one command for one part, else one
// pipeline (one round-trip time: go-redis writes to each master in
// parallel). A master that lacks the script (NOSCRIPT: restarted, or a
// replica just promoted) gets it by EVAL in a second pipeline.
func (s *clusterStore) decide(ctx context.Context, parts []*part) error {
	if len(parts) == 1 {
		p := parts[0]
		reply, err := decideScript.Run(ctx, s.client, p.keys, p.args...).Int64Slice()
		if err == nil {
			err = checkReply(reply, len(p.idx))
		}
		if err == nil {
			p.reply = reply
		}
		return err
	}
	cmds := s.pipeline(ctx, parts, func(pipe redis.Pipeliner, p *part) *redis.Cmd {
		return decideScript.EvalSha(ctx, pipe, p.keys, p.args...)
	})
	var missing []*part
	for i, p := range parts {
		if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		again := s.pipeline(ctx, missing, func(pipe redis.Pipeliner, p *part) *redis.Cmd {
			return decideScript.Eval(ctx, pipe, p.keys, p.args...)
		})
		for i, p := range missing {
			cmds[indexOf(parts, p)] = again[i]
		}
	}
	for i, p := range parts {
		if reply, ok := answered(cmds[i], len(p.idx)); ok {
			p.reply = reply
		}
	}
	for i, p := range parts {
		if err := cmds[i].Err(); err != nil {
			return err
		}
		if p.reply == nil {
			return checkReply(nil, len(p.idx))
		}
	}
	return nil
}

// answered is the reply of a part's script if its master sent one, even
// when go-redis marked the command failed because another master of the
// pipeline failed (it sets every command's error then): that master did
// charge, and a refund needs its reply.
func answered(cmd *redis.Cmd, n int) ([]int64, bool) {
	vals, ok := cmd.Val().([]any)
	if !ok || len(vals) != 4*n+1 {
		return nil, false
	}
	reply := make([]int64, len(vals))
	for i, v := range vals {
		if reply[i], ok = v.(int64); !ok {
			return nil, false
		}
	}
	return reply, true
}

// pipeline sends one command per part in one pipeline and returns them;
// each command carries its own error.
func (s *clusterStore) pipeline(ctx context.Context, parts []*part, cmd func(redis.Pipeliner, *part) *redis.Cmd) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(parts))
	_, _ = s.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, p := range parts {
			cmds[i] = cmd(pipe, p)
		}
		return nil
	})
	return cmds
}

func indexOf(parts []*part, p *part) int {
	for i, q := range parts {
		if q == p {
			return i
		}
	}
	return -1
}

// refund undoes the parts that charged, for a decision another part
// refused or failed. A part charged when each of its enforced charges admitted; it
// charged those of its charges that admitted (shadow ones included).
func (s *clusterStore) refund(ctx context.Context, charges []Charge, parts []*part) {
	var undo []*part
	for _, p := range parts {
		if p.reply == nil {
			continue // failed: charged nothing, or nothing we can know
		}
		r := &part{}
		charged := true
		for j, i := range p.idx {
			if p.reply[4*j] == 1 {
				r.idx = append(r.idx, i)
			} else if !charges[i].Shadow {
				charged = false
			}
		}
		if !charged || len(r.idx) == 0 {
			continue
		}
		r.args = []any{p.reply[len(p.reply)-1]}
		for _, i := range r.idx {
			c := charges[i]
			r.keys = append(r.keys, clusterKey(c.Key))
			r.args = append(r.args, c.Rule.Algorithm.code(), c.Rule.Period.Microseconds(), max(c.Rule.Rate, 1), c.Hits)
		}
		undo = append(undo, r)
	}
	if len(undo) == 0 {
		return
	}
	// In the background, so that the refusal is answered after one round
	// trip, and whether or not the caller is still waiting: the answer
	// cannot wait for it, the counters need it.
	timeout := s.timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	s.refunds.Add(1)
	go func() {
		defer s.refunds.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		cmds := s.pipeline(ctx, undo, func(pipe redis.Pipeliner, p *part) *redis.Cmd {
			return refundScript.Eval(ctx, pipe, p.keys, p.args...)
		})
		for _, c := range cmds {
			if c.Err() != nil {
				s.metrics.redisErrors.Inc()
			}
		}
	}()
}

// keySlot is Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash
// tag (the part between the first "{" and the next "}", if not empty),
// else of the whole key, modulo 16384.
func keySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
