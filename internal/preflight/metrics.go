package preflight

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the metric families of one or more Prometheus text-format
// scrapes, by name. Envoy's /stats/prometheus names its cluster series
// envoy_cluster_*{envoy_cluster_name="SERVICE"} (Tollgate names each
// cluster after its service) and its connection managers'
// envoy_http_*{envoy_http_conn_manager_prefix="LISTENER"}.
type Metrics map[string]*dto.MetricFamily

// maxScrape bounds what one scrape may read.
const maxScrape = 64 << 20

// scrape reads every URL and merges their families.
func scrape(ctx context.Context, c *http.Client, urls []string) (Metrics, error) {
	out := Metrics{}
	for _, u := range urls {
		m, err := scrapeOne(ctx, c, u)
		if err != nil {
			return nil, err
		}
		for name, fam := range m {
			if have, ok := out[name]; ok {
				have.Metric = append(have.Metric, fam.Metric...)
				continue
			}
			out[name] = fam
		}
	}
	return out, nil
}

func scrapeOne(ctx context.Context, c *http.Client, u string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", u, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrape))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u, err)
	}
	return fams, nil
}

// matching are the series of a family whose labels include every pair of
// want.
func (m Metrics) matching(name string, want map[string]string) []*dto.Metric {
	fam := m[name]
	if fam == nil {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(fam.Metric), func(s *dto.Metric) bool {
		for k, v := range want {
			if !slices.ContainsFunc(s.Label, func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
				return true
			}
		}
		return false
	})
}

// Sum adds the counter, gauge or untyped series of name that carry the
// labels; ok is false when there is no such series.
func (m Metrics) Sum(name string, labels map[string]string) (sum float64, ok bool) {
	for _, s := range m.matching(name, labels) {
		ok = true
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		}
	}
	return sum, ok
}

// bucket is a cumulative histogram bucket.
type bucket struct {
	le    float64
	count float64
}

// Histogram merges the histogram series of name that carry the labels.
func (m Metrics) Histogram(name string, labels map[string]string) (buckets []bucket, count float64) {
	byLE := map[float64]float64{}
	for _, s := range m.matching(name, labels) {
		h := s.Histogram
		if h == nil {
			continue
		}
		count += float64(h.GetSampleCount())
		for _, b := range h.Bucket {
			byLE[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	for le, c := range byLE {
		buckets = append(buckets, bucket{le, c})
	}
	slices.SortFunc(buckets, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	return buckets, count
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// quantile estimates the q-quantile of a histogram as Prometheus's
// histogram_quantile does: linear within the bucket it falls in, the
// highest finite bound when it falls in +Inf.
func quantile(q float64, buckets []bucket, count float64) float64 {
	if count == 0 || len(buckets) == 0 {
		return math.NaN()
	}
	rank := q * count
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower
			}
			if b.count == below {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below)
		}
		if !math.IsInf(b.le, 1) {
			lower = b.le
		}
		below = b.count
	}
	return lower
}
