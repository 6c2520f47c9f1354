package xds

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// The states of a rollout, as /debug/rollout and tollgate_rollout_state
// name them.
const (
	RolloutIdle       = "idle"        // no generation yet
	RolloutRolling    = "rolling"     // a generation is going through its stages
	RolloutComplete   = "complete"    // every Envoy was given the newest generation
	RolloutRolledBack = "rolled_back" // the newest generation was taken back
)

// The states of one stage.
const (
	StageWaiting    = "waiting"     // not reached, or its Envoys have not all applied the generation
	StageHolding    = "holding"     // applied everywhere in the stage; watched for the hold
	StagePromoted   = "promoted"    // passed: the next stage was given the generation
	StageRolledBack = "rolled_back" // a NACK or a 5xx rise in it took the generation back
)

// rollout is which generation each Envoy gets; Server.mu guards it.
//
// The newest generation (Server.current) goes to the Envoys of the stages
// reached so far; every other Envoy gets previous, the last generation
// that completed. Stages are the new generation's policy's; membership is
// decided when the rollout begins (and for an Envoy connecting later, when
// it connects) and kept, so an Envoy never flips between generations
// because another connected.
type rollout struct {
	previous built // the last generation that completed; zero before the first
	state    string
	reason   string
	since    time.Time
	stages   []*stageRun
	stage    int            // index of the stage being rolled out
	member   map[string]int // node id → stage index, for this rollout
	rejected string         // the version rolled back last: not rolled out again
	history  []RolloutEvent
	// rolledOut are callbacks waiting for a version to complete
	// (WhenRolledOut): the reloader's save of the last good generation.
	rolledOut map[string][]func()
}

// stageRun is one stage of the rollout in progress.
type stageRun struct {
	spec     *policy.RolloutStage
	state    string
	holdFrom time.Time // when every Envoy of the stage had applied the generation
	members  []string  // the stage's connected Envoys at the last look
	acked    int       // how many of them applied the generation
}

// maxHistory bounds the rollout events kept for /debug/rollout.
const maxHistory = 100

// generationFor is the generation an Envoy gets. Callers hold mu.
func (s *Server) generationFor(id string, _ *proxyState) *built {
	r := &s.rollout
	if r.previous.policy == nil {
		return &s.current
	}
	switch r.state {
	case RolloutRolledBack:
		return &r.previous
	case RolloutRolling:
		if s.memberStage(id) <= r.stage {
			return &s.current
		}
		return &r.previous
	}
	return &s.current
}

// beginRollout starts rolling out s.current, just set. The first
// generation, one whose policy names no stages, and one every Envoy has
// already (the previous one again) complete at once: there is nothing to
// stage, or nothing to go back to. Callers hold mu.
func (s *Server) beginRollout(now time.Time) {
	r := &s.rollout
	cur := s.current.policy
	for v := range r.rolledOut {
		if v != cur.Version {
			delete(r.rolledOut, v) // superseded before it completed: never the last good one
		}
	}
	if r.state == RolloutRolledBack && cur.Version == r.rejected {
		return // the same generation again: it stays rolled back
	}
	r.state, r.reason, r.since, r.stage, r.stages = RolloutRolling, "", now, 0, nil
	s.event(now, "started", "", "")
	if r.previous.policy == nil || cur.Rollout == nil || cur.Version == r.previous.policy.Version {
		s.completeRollout(now)
		return
	}
	for _, spec := range cur.Rollout.Stages {
		r.stages = append(r.stages, &stageRun{spec: spec, state: StageWaiting})
	}
	r.member = s.assignStages(s.proxyIDs())
	s.metrics.setRolloutState(r.state)
}

// assignStages gives each Envoy its stage: the first group stage naming
// its group, else the first percent stage with room (percentages count
// the whole fleet, Envoys taken in node id order), else the last stage.
// Callers hold mu.
func (s *Server) assignStages(ids []string) map[string]int {
	stages := s.rollout.stages
	member := map[string]int{}
	for _, id := range ids {
		for i, st := range stages {
			if slices.Contains(st.spec.Groups, s.proxies[id].group) {
				member[id] = i
				break
			}
		}
	}
	claimed := len(member)
	for i, st := range stages {
		if st.spec.Percent == 0 {
			continue
		}
		target := int(math.Ceil(float64(st.spec.Percent) * float64(len(ids)) / 100))
		for _, id := range ids {
			if _, ok := member[id]; !ok && claimed < target {
				member[id] = i
				claimed++
			}
		}
	}
	for _, id := range ids {
		if _, ok := member[id]; !ok {
			member[id] = len(stages) - 1
		}
	}
	return member
}

// memberStage is an Envoy's stage in the rollout in progress; an Envoy
// connected since it began goes to the stage naming its group, else the
// last. Callers hold mu.
func (s *Server) memberStage(id string) int {
	r := &s.rollout
	if i, ok := r.member[id]; ok {
		return i
	}
	i := len(r.stages) - 1
	if p := s.proxies[id]; p != nil {
		for j, st := range r.stages {
			if slices.Contains(st.spec.Groups, p.group) {
				i = j
				break
			}
		}
		r.member[id] = i
	}
	return i
}

// completeRollout makes the newest generation the last good one and runs
// what waited for it. Callers hold mu.
func (s *Server) completeRollout(now time.Time) {
	r := &s.rollout
	r.previous = s.current
	r.state, r.since = RolloutComplete, now
	s.event(now, "complete", "", "")
	s.metrics.setRolloutState(r.state)
	for _, fn := range r.rolledOut[s.current.policy.Version] {
		go fn() // outside mu: saving the state file writes to disk
	}
	delete(r.rolledOut, s.current.policy.Version)
}

// rollBack takes the newest generation back from every Envoy: they all
// get the previous one. It is not offered again until another generation
// comes: the reloader applies a policy only when its version changes, and
// beginRollout keeps the same version rolled back. Callers hold mu.
func (s *Server) rollBack(now time.Time, st *stageRun, why, reason string) {
	r := &s.rollout
	st.state = StageRolledBack
	r.state, r.reason, r.since, r.rejected = RolloutRolledBack, reason, now, s.current.policy.Version
	s.event(now, "rolled_back", st.spec.Name, reason)
	s.metrics.rollbacks.WithLabelValues(why).Inc()
	s.metrics.setRolloutState(r.state)
	delete(r.rolledOut, s.current.policy.Version)
	s.log.Warn("rollout rolled back; every Envoy gets the previous generation", "version", s.current.policy.Version,
		"previous", r.previous.policy.Version, "stage", st.spec.Name, "reason", reason)
	s.serveEveryProxy()
}

// promote passes a stage and gives the next one the generation, or
// completes the rollout after the last. Callers hold mu.
func (s *Server) promote(now time.Time, st *stageRun, reason string) {
	r := &s.rollout
	st.state = StagePromoted
	s.event(now, "promoted", st.spec.Name, reason)
	s.log.Info("rollout stage promoted", "version", s.current.policy.Version, "stage", st.spec.Name, "reason", reason)
	r.stage++
	if r.stage == len(r.stages) {
		s.completeRollout(now)
	}
	s.serveEveryProxy()
}

// serveEveryProxy sets every Envoy's snapshot to what the rollout gives it
// now. Callers hold mu.
func (s *Server) serveEveryProxy() {
	for _, id := range s.proxyIDs() {
		if err := s.serveProxy(id, s.proxies[id]); err != nil {
			s.log.Error("serving a proxy its rollout generation", "node", id, "err", err)
		}
	}
}

// event records a rollout event. Callers hold mu.
func (s *Server) event(now time.Time, event, stage, reason string) {
	r := &s.rollout
	r.history = append(r.history, RolloutEvent{At: now.UTC().Format(time.RFC3339), Generation: s.current.policy.Version, Event: event, Stage: stage, Reason: reason})
	if len(r.history) > maxHistory {
		r.history = slices.Delete(r.history, 0, len(r.history)-maxHistory)
	}
	s.metrics.rolloutEvents.WithLabelValues(event).Inc()
}

// forgetRolloutGroup drops an idle group's snapshots of the previous
// generation. Callers hold mu.
func (s *Server) forgetRolloutGroup(group string) {
	delete(s.rollout.previous.snapshots, group)
}

// stageLog is a stage's attributes for a log line.
func stageLog(st *stageRun) slog.Attr {
	return slog.Group("stage", "name", st.spec.Name, "proxies", len(st.members), "applied", st.acked)
}

// describeNACK says which Envoy rejected what, for a rollback's reason.
func describeNACK(id string, n *NACK) string {
	return fmt.Sprintf("%s rejected %s: %s", id, typeName(n.TypeURL), n.Error)
}
