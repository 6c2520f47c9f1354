package policy

import (
	"testing"
	"time"
)

func TestRolloutErrorsArePositioned(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"bad.yaml": `listeners: [{ name: l, port: 8080 }]
rollout:
  hold: 0s
  max_5xx_ratio: 1.5
  stages:
    - { groups: [a] }
    - { name: both, groups: [b], percent: 10 }
    - { name: both, percent: 50 }
    - { name: down, percent: 40 }
    - { name: none }
    - { name: again, groups: [a], hold: -1s }
    - { name: over, percent: 101 }
---
rollout: { stages: [] }
`,
	})
	checkErrors(t, dir, []string{
		`3:9: rollout.hold: must be positive`,
		`4:18: rollout.max_5xx_ratio: must be between 0 and 1, got 1.5`,
		`6:7: rollout.stages[0].name: a stage needs a name`,
		`7:43: rollout.stages[1].percent: a stage has groups or a percent, not both`,
		`8:15: rollout.stages[2].name: stage "both" is already defined at`,
		`9:30: rollout.stages[3].percent: counts earlier stages, so it must be above the previous stage's 50, got 40`,
		`10:7: rollout.stages[4]: a stage needs groups or a percent of the connected proxies`,
		`11:30: rollout.stages[5].groups[0]: node group "a" is already defined at`,
		`11:41: rollout.stages[5].hold: must be positive`,
		`12:30: rollout.stages[6].percent: must be between 1 and 100, got 101`,
		`14:10: rollout: rollout is already defined at`,
	})
}

func TestRolloutDefaults(t *testing.T) {
	dir := writePolicy(t, map[string]string{"p.yaml": `listeners: [{ name: l, port: 8080 }]
rollout:
  stages: [{ name: canary, groups: [canary] }, { name: rest, percent: 100, hold: 2s }]
`})
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Rollout
	if r.Hold.D() != DefaultRolloutHold || r.Max5xxRatio != DefaultRolloutMax5xxRatio ||
		r.Stages[0].Hold.D() != DefaultRolloutHold || r.Stages[1].Hold.D() != 2*time.Second {
		t.Errorf("rollout after defaults = %+v, stages %+v %+v", r, r.Stages[0], r.Stages[1])
	}
	q, err := Load(writePolicy(t, map[string]string{"p.yaml": "listeners: [{ name: l, port: 8080 }]\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if q.Rollout != nil {
		t.Errorf("a policy without rollout got %+v, want none (no staging)", q.Rollout)
	}
}
