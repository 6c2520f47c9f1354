package kubernetes

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The scrape configuration keeps, per job, the pods whose name label its
// regex matches and which carry prometheus.io/scrape: "true"; each job
// finds exactly its Deployment's pods, at the port and path of the
// admin endpoint (Tollgate's /metrics is tested to answer in
// TestTollgateProbesAndPortsMatchItsArguments).
func TestPrometheusScrapeFindsEachDeployment(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(Dir(), "prometheus-scrape.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName             string           `json:"job_name"`
			KubernetesSDConfigs []map[string]any `json:"kubernetes_sd_configs"`
			RelabelConfigs      []struct {
				SourceLabels []string `json:"source_labels"`
				Regex        string   `json:"regex"`
				Action       string   `json:"action"`
				Replacement  string   `json:"replacement"`
				TargetLabel  string   `json:"target_label"`
			} `json:"relabel_configs"`
		} `json:"scrape_configs"`
	}
	if err := unmarshalStrict(data, &cfg); err != nil {
		t.Fatal(err)
	}
	objs := render(t, "base")
	wantPath := map[string]string{"tollgate": "/metrics", "envoy": "/stats/prometheus"}
	for _, job := range cfg.ScrapeConfigs {
		var found []string
		for name, d := range Deployments(objs) {
			pod := d.Spec.Template
			labels := map[string]string{
				"__meta_kubernetes_pod_label_app_kubernetes_io_name":    pod.Labels["app.kubernetes.io/name"],
				"__meta_kubernetes_pod_annotation_prometheus_io_scrape": pod.Annotations["prometheus.io/scrape"],
			}
			kept := true
			for _, r := range job.RelabelConfigs {
				if r.Action == "keep" && !regexp.MustCompile("^(?:"+r.Regex+")$").MatchString(labels[r.SourceLabels[0]]) {
					kept = false
				}
			}
			if !kept {
				continue
			}
			found = append(found, name)
			if got := pod.Annotations["prometheus.io/path"]; got != wantPath[job.JobName] {
				t.Errorf("job %s: %s's path annotation %q, want %q", job.JobName, name, got, wantPath[job.JobName])
			}
			if got := pod.Annotations["prometheus.io/port"]; got == "" || got != portString(containerPort(t, pod.Spec.Containers[0], "admin")) {
				t.Errorf("job %s: %s's port annotation %q is not its admin port", job.JobName, name, got)
			}
		}
		if len(found) != 1 || found[0] != job.JobName {
			t.Errorf("job %s keeps the pods of %v, want only %s's", job.JobName, found, job.JobName)
		}
	}
	if len(cfg.ScrapeConfigs) != 2 {
		t.Errorf("%d jobs, want envoy and tollgate (the job names deploy/prometheus.yml and the dashboard use)", len(cfg.ScrapeConfigs))
	}
}
