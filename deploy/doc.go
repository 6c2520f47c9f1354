// Package deploy holds deployment files that are not Go: the Prometheus
// scrape configuration and the Grafana dashboard. Its tests check that
// they parse and that every metric the dashboard queries is one Tollgate
// documents (docs/operations.md, "Metrics").
package deploy
