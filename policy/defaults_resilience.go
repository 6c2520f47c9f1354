package policy

// applyResilienceDefaults fills the resilience and TLS fields left out.
func applyResilienceDefaults(p *Policy) {
	for _, l := range p.Listeners {
		if l.TLS != nil && l.TLS.MinVersion == "" {
			l.TLS.MinVersion = DefaultTLSMinVersion
		}
	}
	for _, s := range p.Services {
		if s.Protocol == "" {
			s.Protocol = HTTP1
		}
		if t := s.TLS; t != nil && len(t.SAN) == 0 && t.SNI != "" {
			t.SAN = []string{t.SNI}
		}
		defaultCircuitBreaker(s.CircuitBreaker)
		defaultOutlierDetection(s.OutlierDetection)
		defaultHealthCheck(s.HealthCheck)
		if b := s.RetryBudget; b != nil {
			setIfZero(&b.Percent, DefaultRetryBudgetPercent)
			if !b.Has("min_concurrency") {
				b.MinConcurrency = DefaultRetryMinConcurrency
			}
		}
	}
	for _, r := range p.Routes {
		defaultRetries(r.Retries)
	}
}

func defaultCircuitBreaker(cb *CircuitBreaker) {
	for ; cb != nil; cb = cb.HighPriority {
		setIfZero(&cb.MaxConnections, DefaultMaxConnections)
		setIfZero(&cb.MaxRequests, DefaultMaxRequests)
		if !cb.Has("max_pending") {
			cb.MaxPending = DefaultMaxPending
		}
		if !cb.Has("max_retries") {
			cb.MaxRetries = DefaultMaxRetries
		}
	}
}

func defaultOutlierDetection(o *OutlierDetection) {
	if o == nil {
		return
	}
	// With no detector named, eject on consecutive 5xx, Envoy's default.
	if o.Consecutive5xx == 0 && o.ConsecutiveGatewayFailure == 0 && o.SuccessRate == nil {
		o.Consecutive5xx = DefaultConsecutive5xx
	}
	setIfZero(&o.Interval, Duration(DefaultOutlierInterval))
	setIfZero(&o.BaseEjectionTime, Duration(DefaultBaseEjectionTime))
	if !o.Has("max_ejection_percent") {
		o.MaxEjectionPercent = DefaultMaxEjectionPercent
	}
	if sr := o.SuccessRate; sr != nil {
		setIfZero(&sr.MinimumHosts, DefaultSuccessRateMinHosts)
		setIfZero(&sr.RequestVolume, DefaultSuccessRateVolume)
		setIfZero(&sr.StdevFactor, DefaultSuccessRateStdev)
	}
}

func defaultHealthCheck(hc *HealthCheck) {
	if hc == nil {
		return
	}
	setIfZero(&hc.Interval, Duration(DefaultHealthCheckInterval))
	setIfZero(&hc.Timeout, Duration(DefaultHealthCheckTimeout))
	setIfZero(&hc.HealthyThreshold, DefaultHealthyThreshold)
	setIfZero(&hc.UnhealthyThreshold, DefaultUnhealthyThreshold)
}

func defaultRetries(rt *Retries) {
	if rt == nil {
		return
	}
	if len(rt.On) == 0 {
		rt.On = append([]string(nil), DefaultRetryOn...)
	}
	if rt.Backoff == nil {
		rt.Backoff = &Backoff{}
	}
	setIfZero(&rt.Backoff.Base, Duration(DefaultRetryBackoffBase))
	setIfZero(&rt.Backoff.Max, rt.Backoff.Base*defaultRetryBackoffMaxRatio)
}

func setIfZero[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}
