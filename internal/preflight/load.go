package preflight

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tollgate/tollgate/policy"
)

// Bounds of the load test: whatever the flags say, it ends.
const (
	// DefaultLoadDuration is how long a load test runs by default.
	DefaultLoadDuration = 10 * time.Second
	// MaxLoadDuration and MaxLoadRequests bound a load test.
	MaxLoadDuration = time.Minute
	MaxLoadRequests = 10000
	loadTimeout     = 10 * time.Second
	loadWorkers     = 256
)

// ParseLoadRate reads --load: a rate as policies write them (50/s, 600/m)
// or a bare count per second.
func ParseLoadRate(s string) (policy.Rate, error) {
	if n, err := strconv.Atoi(s); err == nil {
		s = strconv.Itoa(n) + "/s"
	}
	return policy.ParseRate(s)
}

// CheckLoadBounds refuses a load test past MaxLoadDuration or
// MaxLoadRequests.
func CheckLoadBounds(r policy.Rate, d time.Duration) error {
	switch n := loadRequests(r, d); {
	case d <= 0 || d > MaxLoadDuration:
		return fmt.Errorf("--duration %v: a load test runs for more than 0s and at most %v", d, MaxLoadDuration)
	case n > MaxLoadRequests:
		return fmt.Errorf("--load %s for %v sends %d requests: at most %d", r, d, n, MaxLoadRequests)
	}
	return nil
}

func loadRequests(r policy.Rate, d time.Duration) int {
	return int(float64(r.Count) * d.Seconds() / r.Per.Seconds())
}

// loadOutcome counts the load test's answers.
type loadOutcome struct {
	sent, ok, limited, serverErrors, failed int
}

// runLoad sends GET Path through the gateway at the rate for the
// duration, with vegeta's attacker, and counts the answers (a transport
// error or timeout is failed, status 0).
func runLoad(o LiveOptions) loadOutcome {
	target := vegeta.Target{Method: http.MethodGet, URL: strings.TrimSuffix(o.Gateway, "/") + o.Path,
		Header: http.Header{"User-Agent": {"tollgate-preflight"}}}
	atk := vegeta.NewAttacker(vegeta.Timeout(loadTimeout), vegeta.MaxWorkers(loadWorkers), vegeta.KeepAlive(true))
	var out loadOutcome
	pace := vegeta.Rate{Freq: o.Load.Count, Per: o.Load.Per}
	for res := range atk.Attack(vegeta.NewStaticTargeter(target), pace, o.Duration, "tollgate-preflight") {
		out.sent++
		switch c := int(res.Code); {
		case c == 0:
			out.failed++
		case c == http.StatusTooManyRequests:
			out.limited++
		case c >= 500:
			out.serverErrors++
		case c < 400:
			out.ok++
		}
	}
	return out
}

// checkLoad runs the bounded load test and judges it: 429s appear when
// more requests were sent than the tightest limit on the path admits (and
// not while well under it), no 5xx or failed request, and, with counters
// in Redis, Tollgate's Redis error counter flat and no degraded mode.
func checkLoad(ctx context.Context, p *policy.Policy, o LiveOptions) Result {
	const id, title = "load-test", "a load test through the gateway: the rate limiter and Redis hold"
	if o.Load.Count == 0 {
		return notApplicable(id, title, "no --load")
	}
	urls := o.statsURLs()
	var before Metrics
	if len(urls) > 0 {
		before, _ = scrape(ctx, o.Client, urls)
	}
	got := runLoad(o)
	detail := fmt.Sprintf("%d requests (%s for %v): %d 2xx/3xx, %d 429, %d 5xx, %d failed",
		got.sent, perText(o.Load.Count, o.Load.Per), o.Duration, got.ok, got.limited, got.serverErrors, got.failed)
	var f findings
	judgeLimiter(&f, p, o, got)
	if got.serverErrors+got.failed > 0 {
		f = append(f, Finding{At: "--gateway", Message: fmt.Sprintf("%d answers were 5xx and %d requests failed under load: the gateway or its services do not hold %s", got.serverErrors, got.failed, perText(o.Load.Count, o.Load.Per))})
	}
	if p.RateLimitStore != nil && p.RateLimitStore.Redis != nil {
		judgeRedis(&f, ctx, p, o, before)
	}
	return f.result(id, title, detail)
}

// judgeLimiter compares the 429s with what the tightest limit that counts
// the load test's requests (anonymous, from one address) admits.
func judgeLimiter(f *findings, p *policy.Policy, o LiveOptions, got loadOutcome) {
	r := loadRoute(p, o)
	if r == nil {
		return
	}
	var tightest *policy.RateLimit
	for _, l := range enforced(p.RateLimitsFor(r)) {
		if len(l.Tiers) > 0 || l.When == policy.WhenAuthenticated || (!anonymousReach(r) && !l.BeforeAuth()) {
			continue
		}
		if tightest == nil || capacity(l, o.Duration) < capacity(tightest, o.Duration) {
			tightest = l
		}
	}
	if tightest == nil {
		if got.limited > 0 {
			f.add(r.Pos(), "%d requests got 429 on route %s, which has no limit for them", got.limited, r.Name)
		}
		return
	}
	admits := capacity(tightest, o.Duration)
	switch {
	case float64(got.sent) > admits && got.limited == 0:
		f.add(algorithmPos(tightest), "limit %s admits at most %.0f requests in %v, %d were sent and none got 429: the rate limiter does not hold",
			tightest.Name, admits, o.Duration, got.sent)
	case float64(got.sent) <= admits/2 && got.limited > 0:
		f.add(algorithmPos(tightest), "%d requests got 429 though %d is under half of what limit %s admits in %v (%.0f)",
			got.limited, got.sent, tightest.Name, o.Duration, admits)
	}
}

// loadRoute is the route the load test's requests take, on the listener
// whose port the gateway URL names (else the only one).
func loadRoute(p *policy.Policy, o LiveOptions) *policy.Route {
	u, err := url.Parse(o.Gateway)
	if err != nil {
		return nil
	}
	listener := ""
	for _, l := range p.Listeners {
		if strconv.Itoa(l.Port) == u.Port() {
			listener = l.Name
		}
	}
	return p.Decide(policy.Request{Listener: listener, Method: http.MethodGet, Host: u.Host, Path: o.Path}).Route
}

// judgeRedis wants Tollgate's Redis error counter flat across the load
// test and no degraded mode at its end.
func judgeRedis(f *findings, ctx context.Context, p *policy.Policy, o LiveOptions, before Metrics) {
	const errorsMetric, degradedMetric = "tollgate_ratelimit_redis_errors_total", "tollgate_ratelimit_degraded"
	at := p.RateLimitStore.Pos()
	after, err := scrape(ctx, o.Client, o.statsURLs())
	was, okBefore := before.Sum(errorsMetric, nil)
	now, okAfter := after.Sum(errorsMetric, nil)
	if err != nil || !okBefore || !okAfter {
		f.add(at, "counters live in Redis but %s is not in the stats given: give --prometheus with Tollgate's /metrics", errorsMetric)
		return
	}
	if now > was {
		f.add(at, "Redis failed %.0f times during the load test: the store does not hold %s", now-was, perText(o.Load.Count, o.Load.Per))
	}
	if d, _ := after.Sum(degradedMetric, nil); d > 0 {
		f.add(at, "the rate limiter is in a degraded mode (%s) after the load test", degradedMetric)
	}
}
