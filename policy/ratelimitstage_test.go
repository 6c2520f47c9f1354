package policy

import (
	"testing"
)

func TestLoadLimitStages(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"g.yaml": `
listeners: [{ name: public, port: 8080 }]
services: { api: { endpoints: [127.0.0.1:9001] } }
routes:
  - { name: keys, to: api, rate_limits: [flood, per-client] }
  - { name: open, to: api, rate_limits: [per-client] }
rate_limits:
  flood: { stage: before_auth, key: [client_ip, route, header:X-Tenant], fixed_window: { limit: 5, window: 1m } }
  per-client: { key: [client_id], token_bucket: { rate: 10/s } }
  explicit: { stage: after_auth, when: authenticated, key: [user], token_bucket: { rate: 10/s } }
`}))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]LimitStage{"flood": StageBeforeAuth, "per-client": StageAfterAuth, "explicit": StageAfterAuth} {
		if got := p.RateLimits[name].Stage; got != want {
			t.Errorf("%s: stage %q, want %q", name, got, want)
		}
	}
	if !p.UsesBeforeAuthLimits(p.Routes) || p.UsesBeforeAuthLimits(p.Routes[1:]) {
		t.Error("UsesBeforeAuthLimits: want true for both routes, false for the open route alone")
	}
}

var invalidLimitStageCases = []struct {
	name   string
	policy string
	want   []string
}{
	{"unknown stage", "rate_limits:\n  a: { stage: pre_auth, token_bucket: { rate: 1/s } }\n", []string{
		`2:15: rate_limits.a.stage: unknown stage "pre_auth"; expected before_auth or after_auth`,
	}},
	{"identity condition", "rate_limits:\n  a: { stage: before_auth, when: anonymous, token_bucket: { rate: 1/s } }\n  b: { stage: before_auth, when: authenticated, token_bucket: { rate: 1/s } }\n  c: { stage: before_auth, when: tier:gold, token_bucket: { rate: 1/s } }\n", []string{
		`2:34: rate_limits.a.when: a before_auth limit cannot say when: anonymous`,
		`3:34: rate_limits.b.when: a before_auth limit cannot say when: authenticated`,
		`4:34: rate_limits.c.when: a before_auth limit cannot say when: tier:gold`,
	}},
	{"identity keys", "rate_limits:\n  a: { stage: before_auth, key: [client_ip, client_id, user, tier], fixed_window: { limit: 1, window: 1s } }\n", []string{
		`2:33: rate_limits.a.key[1]: a before_auth limit cannot count by client_id, which authentication establishes`,
		`2:33: rate_limits.a.key[2]: a before_auth limit cannot count by user`,
		`2:33: rate_limits.a.key[3]: a before_auth limit cannot count by tier`,
	}},
	{"listed by a tier", "rate_limits:\n  a: { stage: before_auth, key: [client_ip], token_bucket: { rate: 1/s } }\ntiers:\n  gold: { rate_limits: [a] }\n  free: { rate_limits: [a] }\n", []string{
		`2:15: rate_limits.a.stage: a before_auth limit cannot belong to a tier (listed by tiers: free, gold)`,
	}},
	{"wrong type", "rate_limits:\n  a: { stage: [before_auth], token_bucket: { rate: 1/s } }\n", []string{
		`2:15: rate_limits.a.stage: expected`,
	}},
}

func TestLoadRejectsInvalidLimitStagesWithPositions(t *testing.T) {
	for _, tc := range invalidLimitStageCases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}
