package policy

import "time"

// Rollout stages a new generation over the fleet instead of sending it to
// every Envoy at once: the first stage's proxies get it; it is promoted to
// the next stage once every proxy of the stage applied it and the stage's
// 5xx ratio stayed at or under Max5xxRatio for the stage's hold; a NACK or
// a higher 5xx ratio rolls it back. A policy without a rollout section
// sends every generation to every Envoy at once.
//
// The rollout section of the new generation governs its own rollout.
type Rollout struct {
	Source `yaml:"-"`

	// Stages in order. A proxy belongs to the first stage that claims it;
	// proxies no stage claims belong to the last stage, so that a
	// generation that completes reaches every Envoy.
	Stages []*RolloutStage `yaml:"stages"`
	// Hold is how long each stage is watched once its proxies applied
	// the generation, unless the stage sets its own. Default
	// DefaultRolloutHold.
	Hold Duration `yaml:"hold"`
	// Max5xxRatio is the largest share of a stage's requests answered
	// 5xx during its hold (0 to 1) before the generation is rolled back.
	// Default DefaultRolloutMax5xxRatio.
	Max5xxRatio float64 `yaml:"max_5xx_ratio"`
}

// RolloutStage is one step of a rollout: either the proxies of some node
// groups, or a share of the connected proxies.
type RolloutStage struct {
	Source `yaml:"-"`

	Name string `yaml:"name"`
	// Groups are node groups (Envoy's --service-cluster) whose proxies
	// make the stage.
	Groups []string `yaml:"groups"`
	// Percent is the share of all connected proxies (1 to 100) that have
	// the generation once this stage is reached, counting earlier stages:
	// stages of 10 then 100 reach a tenth of the fleet, then the rest.
	Percent int `yaml:"percent"`
	// Hold is this stage's hold; default the rollout's hold.
	Hold Duration `yaml:"hold"`
}

// The rollout defaults.
const (
	// DefaultRolloutHold watches a stage long enough for Envoy's stats
	// (flushed every few seconds) to show a change's effect.
	DefaultRolloutHold = 30 * time.Second
	// DefaultRolloutMax5xxRatio tolerates the odd failing request.
	DefaultRolloutMax5xxRatio = 0.05
)

// mergeRollout takes the rollout section of one document; it may be
// written once in the whole policy.
func (p *Policy) mergeRollout(r *Rollout, errs *Errors) {
	if r == nil {
		return
	}
	if p.Rollout != nil {
		errs.addf(r.Pos(), "rollout", "rollout is already defined at %s", p.Rollout.Pos())
		return
	}
	p.Rollout = r
}

// applyRolloutDefaults resolves the holds and the threshold of a rollout
// section; a policy without one stays without (no staging).
func applyRolloutDefaults(p *Policy) {
	r := p.Rollout
	if r == nil {
		return
	}
	if !r.Has("hold") {
		r.Hold = Duration(DefaultRolloutHold)
	}
	if !r.Has("max_5xx_ratio") {
		r.Max5xxRatio = DefaultRolloutMax5xxRatio
	}
	for _, s := range r.Stages {
		if !s.Has("hold") {
			s.Hold = r.Hold
		}
	}
}
