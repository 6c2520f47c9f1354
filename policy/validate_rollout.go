package policy

import "fmt"

// rollout checks the rollout section: named stages, each either groups or
// a percentage, percentages growing, a group in one stage only.
func (v *validator) rollout() {
	r := v.p.Rollout
	if r == nil {
		return
	}
	if len(r.Stages) == 0 {
		v.errorf(r.Pos(), "rollout.stages", "a rollout needs at least one stage, such as { name: canary, groups: [canary] }")
	}
	v.positiveDuration(r.Source, "hold", r.Hold, "rollout")
	if r.Has("max_5xx_ratio") && (r.Max5xxRatio < 0 || r.Max5xxRatio > 1 || r.Max5xxRatio != r.Max5xxRatio) {
		v.errorf(r.At("max_5xx_ratio"), "rollout.max_5xx_ratio", "must be between 0 and 1, got %v", r.Max5xxRatio)
	}
	seen, groups := names{}, names{}
	lastPercent := 0
	for i, s := range r.Stages {
		path := fmt.Sprintf("rollout.stages[%d]", i)
		if s.Name == "" {
			v.errorf(s.Pos(), path+".name", "a stage needs a name")
		} else {
			v.unique(seen, "stage", s.Name, s.At("name"), path+".name")
		}
		v.positiveDuration(s.Source, "hold", s.Hold, path)
		v.rolloutStageTarget(s, path, groups, &lastPercent)
	}
}

// rolloutStageTarget checks that a stage names groups or a percentage,
// not both, and that percentages grow from stage to stage.
func (v *validator) rolloutStageTarget(s *RolloutStage, path string, groups names, lastPercent *int) {
	switch {
	case len(s.Groups) == 0 && !s.Has("percent"):
		v.errorf(s.Pos(), path, "a stage needs groups or a percent of the connected proxies")
	case len(s.Groups) > 0 && s.Has("percent"):
		v.errorf(s.At("percent"), path+".percent", "a stage has groups or a percent, not both")
	case s.Has("percent") && (s.Percent < 1 || s.Percent > 100):
		v.errorf(s.At("percent"), path+".percent", "must be between 1 and 100, got %d", s.Percent)
	case s.Has("percent") && s.Percent <= *lastPercent:
		v.errorf(s.At("percent"), path+".percent", "counts earlier stages, so it must be above the previous stage's %d, got %d", *lastPercent, s.Percent)
	case s.Has("percent"):
		*lastPercent = s.Percent
	}
	for j, g := range s.Groups {
		gpath := fmt.Sprintf("%s.groups[%d]", path, j)
		if g == "" {
			v.errorf(s.At("groups"), gpath, "a node group needs a name")
			continue
		}
		v.unique(groups, "node group", g, s.At("groups"), gpath)
	}
}
