package xds

import (
	"slices"
	"time"
)

// RolloutStatus is the rollout as /debug/rollout shows it.
type RolloutStatus struct {
	// Generation is the version being rolled out, or the last one.
	Generation string `json:"generation"`
	// Previous is the last generation that completed before it: what
	// Envoys outside the reached stages get, and what a rollback returns to.
	Previous string `json:"previous"`
	// State is RolloutIdle, RolloutRolling, RolloutComplete or RolloutRolledBack.
	State string `json:"state"`
	// Reason says why, for a rollback.
	Reason string `json:"reason"`
	// Since is when the state began (RFC 3339).
	Since       string               `json:"since"`
	Stages      []RolloutStageStatus `json:"stages"`
	Generations []GenerationStatus   `json:"generations"`
	History     []RolloutEvent       `json:"history"`
}

// RolloutStageStatus is one stage of the rollout.
type RolloutStageStatus struct {
	Name    string   `json:"name"`
	Groups  []string `json:"groups"`
	Percent int      `json:"percent"`
	Hold    string   `json:"hold"`
	// Proxies are the node ids of the stage's connected Envoys.
	Proxies []string `json:"proxies"`
	// Acked is how many of them applied the generation.
	Acked int `json:"acked"`
	// State is StageWaiting, StageHolding, StagePromoted or StageRolledBack.
	State string `json:"state"`
}

// GenerationStatus says on how many of the connected Envoys a generation
// is applied: acknowledged, every resource type.
type GenerationStatus struct {
	Version string `json:"version"`
	Applied int    `json:"applied"`
	Proxies int    `json:"proxies"`
}

// RolloutEvent is one step of a rollout: started, promoted, rolled_back or
// complete.
type RolloutEvent struct {
	At         string `json:"at"`
	Generation string `json:"generation"`
	Event      string `json:"event"`
	Stage      string `json:"stage"`
	Reason     string `json:"reason"`
}

// Rollout returns the rollout's state.
func (s *Server) Rollout() RolloutStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.rollout
	st := RolloutStatus{State: RolloutIdle, Stages: []RolloutStageStatus{}, Generations: []GenerationStatus{}, History: slices.Clone(r.history)}
	if st.History == nil {
		st.History = []RolloutEvent{}
	}
	if s.current.policy == nil {
		return st
	}
	st.Generation, st.State, st.Reason, st.Since = s.current.policy.Version, r.state, r.reason, r.since.UTC().Format(time.RFC3339)
	if r.previous.policy != nil && r.previous.policy.Version != st.Generation {
		st.Previous = r.previous.policy.Version
	}
	for i, run := range r.stages {
		st.Stages = append(st.Stages, s.stageStatus(i, run))
	}
	st.Generations = append(st.Generations, GenerationStatus{Version: st.Generation, Applied: s.appliedCount(&s.current), Proxies: len(s.proxies)})
	if st.Previous != "" {
		st.Generations = append(st.Generations, GenerationStatus{Version: st.Previous, Applied: s.appliedCount(&r.previous), Proxies: len(s.proxies)})
	}
	return st
}

// stageStatus is one stage's status; its members are the connected Envoys
// it holds now. Callers hold mu.
func (s *Server) stageStatus(i int, run *stageRun) RolloutStageStatus {
	st := RolloutStageStatus{
		Name: run.spec.Name, Groups: slices.Clone(run.spec.Groups), Percent: run.spec.Percent,
		Hold: run.spec.Hold.D().String(), Proxies: []string{}, State: run.state,
	}
	if st.Groups == nil {
		st.Groups = []string{}
	}
	for _, id := range s.proxyIDs() {
		if s.memberStage(id) != i {
			continue
		}
		st.Proxies = append(st.Proxies, id)
		if s.appliedCurrent(s.proxies[id]) {
			st.Acked++
		}
	}
	return st
}

// WhenRolledOut runs fn (on a goroutine of its own) once the generation
// version has completed its rollout: at once if it has. It never runs for
// a generation rolled back or superseded first. The reloader saves the
// last good generation so.
func (s *Server) WhenRolledOut(version string, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.rollout
	if r.previous.policy != nil && r.previous.policy.Version == version {
		go fn()
		return
	}
	if s.current.policy == nil || s.current.policy.Version != version || r.state != RolloutRolling {
		return
	}
	if r.rolledOut == nil {
		r.rolledOut = map[string][]func(){}
	}
	r.rolledOut[version] = append(r.rolledOut[version], fn)
}
