package xds

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// rolloutTick is how often a rolling generation's stage is looked at:
// often enough that a NACK rolls back promptly, rarely enough to cost
// nothing with thousands of Envoys.
const rolloutTick = 250 * time.Millisecond

// watchRollout looks at the rollout every rolloutTick until ctx ends.
func (s *Server) watchRollout(ctx context.Context) {
	t := time.NewTicker(rolloutTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.mu.Lock()
			s.checkRollout(now)
			s.mu.Unlock()
		}
	}
}

// checkRollout moves the stage being rolled out on: back on a NACK or a
// 5xx rise, to holding once its Envoys applied the generation, forward
// once the hold passed with stats covering it. Callers hold mu.
func (s *Server) checkRollout(now time.Time) {
	r := &s.rollout
	if s.current.policy != nil {
		s.metrics.rolloutApplied.Set(float64(s.appliedCount(&s.current)))
	}
	if r.state != RolloutRolling {
		return
	}
	st := r.stages[r.stage]
	st.members, st.acked = nil, 0
	for _, id := range s.proxyIDs() {
		if s.memberStage(id) == r.stage {
			st.members = append(st.members, id)
		}
	}
	for _, id := range st.members {
		p := s.proxies[id]
		if n := s.rejectedCurrent(p); n != nil {
			s.rollBack(now, st, "nack", describeNACK(id, n))
			return
		}
		if s.appliedCurrent(p) {
			st.acked++
		}
	}
	if len(st.members) == 0 {
		s.promote(now, st, "no connected proxy in the stage")
		return
	}
	if st.acked < len(st.members) {
		st.state, st.holdFrom = StageWaiting, time.Time{}
		return
	}
	if st.holdFrom.IsZero() {
		st.state, st.holdFrom = StageHolding, now
		s.log.Info("rollout stage applied; holding", "version", s.current.policy.Version, stageLog(st), "hold", st.spec.Hold.D())
	}
	s.checkHold(now, st)
}

// checkHold rolls back when the stage's 5xx ratio since its hold began is
// over the threshold, and promotes once the hold has passed and every
// Envoy of the stage that streams stats reported after it. Callers hold mu.
func (s *Server) checkHold(now time.Time, st *stageRun) {
	holdEnd := st.holdFrom.Add(st.spec.Hold.D())
	awaited := func(id string) bool {
		p := s.proxies[id]
		return p != nil && now.Sub(p.connectedAt) < statsGrace
	}
	ratio, requests, covered := s.stats.window(st.members, st.holdFrom, holdEnd, awaited)
	s.metrics.rollout5xx.Set(ratio)
	if max := s.current.policy.Rollout.Max5xxRatio; requests > 0 && ratio > max {
		s.rollBack(now, st, "5xx", fmt.Sprintf("5xx ratio %.3f over %d requests during the hold, above max_5xx_ratio %v", ratio, requests, max))
		return
	}
	if now.Before(holdEnd) || !covered {
		return
	}
	s.promote(now, st, fmt.Sprintf("applied on %d of %d proxies; 5xx ratio %.3f over %d requests", st.acked, len(st.members), ratio, requests))
}

// appliedCurrent reports whether an Envoy is served the newest generation
// and acknowledged every type of it. Callers hold mu.
func (s *Server) appliedCurrent(p *proxyState) bool {
	return p.generation == s.current.policy.Version && applied(p)
}

// applied reports whether an Envoy acknowledged every type of the
// snapshot it is served. A type with no resources that it never asked for
// (secrets, without TLS) counts as applied. Callers hold mu.
func applied(p *proxyState) bool {
	if p.served == nil {
		return false
	}
	for _, t := range servedTypes {
		want := p.served.GetVersion(t)
		if p.acked[t] == "" && len(p.served.GetResources(t)) == 0 {
			continue
		}
		if p.acked[t] != want {
			return false
		}
	}
	return true
}

// appliedCount is how many connected Envoys applied a generation.
// Callers hold mu.
func (s *Server) appliedCount(b *built) int {
	if b.policy == nil {
		return 0
	}
	n := 0
	for _, p := range s.proxies {
		if p.generation == b.policy.Version && applied(p) {
			n++
		}
	}
	return n
}

// rejectedCurrent is a rejection, by an Envoy served the newest
// generation, of a version that generation brought: not one the previous
// generation already had, which the Envoy may have rejected before and
// which the new generation is not to blame for. Callers hold mu.
func (s *Server) rejectedCurrent(p *proxyState) *NACK {
	if p.generation != s.current.policy.Version {
		return nil
	}
	prev := s.rollout.previous.snapshots[p.group]
	for t, n := range p.rejected {
		if prev != nil && n.Version != "" && n.Version == prev.GetVersion(t) {
			continue
		}
		if (n.Version != "" && n.Version == p.served.GetVersion(t)) || (n.Version == "" && !n.At.Before(p.servedAt)) {
			return n
		}
	}
	return nil
}

// typeName is the short name of a type URL: Listener, Cluster, ...
func typeName(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}
