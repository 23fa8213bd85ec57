// Package deploy checks the Kubernetes manifests in this folder: they render
// with kustomize (in-process, the same library kubectl uses) and every object
// decodes strictly into the k8s.io/api types, so a misspelt or misplaced field
// fails here rather than on a cluster.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

func render(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		out[r.GetKind()+"/"+r.GetName()] = y
	}
	return out
}

func strict[T any](t *testing.T, name string, doc []byte) *T {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		t.Fatalf("%s does not decode strictly: %v", name, err)
	}
	return &v
}

func sidecarOf(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.InitContainers {
		if c.Name == "ml-sidecar" {
			return c
		}
	}
	t.Fatalf("no ml-sidecar init container in %s", d.Name)
	return corev1.Container{}
}

func TestExampleRendersAndDecodesStrictly(t *testing.T) {
	objs := render(t, "example")
	var deployment *appsv1.Deployment
	var configMap *corev1.ConfigMap
	var podMonitor *monitoringv1.PodMonitor
	var rule *monitoringv1.PrometheusRule
	for name, doc := range objs {
		switch {
		case strings.HasPrefix(name, "Deployment/"):
			deployment = strict[appsv1.Deployment](t, name, doc)
		case strings.HasPrefix(name, "ConfigMap/"):
			configMap = strict[corev1.ConfigMap](t, name, doc)
		case strings.HasPrefix(name, "PodMonitor/"):
			podMonitor = strict[monitoringv1.PodMonitor](t, name, doc)
		case strings.HasPrefix(name, "PrometheusRule/"):
			rule = strict[monitoringv1.PrometheusRule](t, name, doc)
		default:
			t.Fatalf("unexpected object %s", name)
		}
	}
	if deployment == nil || configMap == nil || podMonitor == nil || rule == nil {
		t.Fatalf("want a Deployment, a ConfigMap, a PodMonitor and a PrometheusRule, got %v", keys(objs))
	}

	c := sidecarOf(t, deployment)
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("ml-sidecar must be a native sidecar (restartPolicy: Always), got %v", c.RestartPolicy)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.GRPC == nil || p.GRPC.Port != 50052 {
			t.Errorf("%s probe must be gRPC on the health port 50052, got %+v", name, p)
		}
	}
	if s := c.ReadinessProbe.GRPC.Service; s == nil || *s != "aiops.ml.v1.MLService" {
		t.Errorf("readiness must ask for aiops.ml.v1.MLService, got %v", s)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("sidecar must run non-root, read-only, without privilege escalation: %+v", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("sidecar needs resource requests and limits: %+v", c.Resources)
	}
	// A CPU quota under one core throttles the sidecar's bursts for the rest
	// of each 100 ms period (bench/FINDINGS.md, change 21).
	if lim := c.Resources.Limits.Cpu(); !lim.IsZero() && lim.Cmp(resource.MustParse("1")) < 0 {
		t.Errorf("sidecar's CPU limit %s is under one core", lim)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["SIDECAR_GRPC_ADDR"] != "127.0.0.1:50051" {
		t.Errorf("the API must stay on loopback, got %q", env["SIDECAR_GRPC_ADDR"])
	}
	for _, k := range []string{"PROMETHEUS_URL", "PROMETHEUS_TOKEN_FILE", "PROMETHEUS_CA_FILE"} {
		if env[k] == "" {
			t.Errorf("%s must be set for Thanos", k)
		}
	}

	// The config volume refers to the generated ConfigMap (name with its hash).
	var cmVolume, tokenVolume bool
	for _, v := range deployment.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == configMap.Name {
			cmVolume = true
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken != nil {
					tokenVolume = true
				}
			}
		}
	}
	if !cmVolume {
		t.Errorf("no volume mounts ConfigMap %s", configMap.Name)
	}
	if !tokenVolume {
		t.Errorf("no projected service-account token for Thanos")
	}
	if grace := deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; grace == nil || *grace < 30 {
		t.Errorf("terminationGracePeriodSeconds must exceed server.shutdown_grace (25s), got %v", grace)
	}
	// The PodMonitor scrapes the sidecar's admin port on the engine's pods.
	selector, err := metav1.LabelSelectorAsSelector(&podMonitor.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !selector.Matches(labels.Set(deployment.Spec.Template.Labels)) {
		t.Errorf("PodMonitor selector %v does not select the engine's pods %v", selector, deployment.Spec.Template.Labels)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if n := len(podMonitor.Spec.PodMetricsEndpoints); n != 1 {
		t.Fatalf("want one scrape endpoint, got %d", n)
	}
	ep := podMonitor.Spec.PodMetricsEndpoints[0]
	port := ""
	if ep.Port != nil {
		port = *ep.Port
	}
	if ports[port] != 9464 || ep.Path != "/metrics" {
		t.Errorf("PodMonitor must scrape /metrics on the sidecar's admin port 9464 (%v), got port %q path %q", ports, port, ep.Path)
	}
	if env["SIDECAR_ADMIN_ADDR"] != "0.0.0.0:9464" {
		t.Errorf("the admin listener must be reachable on the pod IP for the PodMonitor, got %q", env["SIDECAR_ADMIN_ADDR"])
	}
	if len(rule.Spec.Groups) == 0 {
		t.Error("the PrometheusRule has no rule groups")
	}

	// The engine's own container is untouched.
	if n := len(deployment.Spec.Template.Spec.Containers); n != 1 || deployment.Spec.Template.Spec.Containers[0].Name != "coordination-engine" {
		t.Errorf("the engine's containers changed: %+v", deployment.Spec.Template.Spec.Containers)
	}
}

func TestConfigMapCarriesTheDocumentedSidecarYaml(t *testing.T) {
	root, err := os.ReadFile("../sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	copyInComponent, err := os.ReadFile("sidecar/sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root, copyInComponent) {
		t.Fatal("deploy/sidecar/sidecar.yaml differs from sidecar.yaml: copy it again (cp sidecar.yaml deploy/sidecar/)")
	}
	objs := render(t, "example")
	for name, doc := range objs {
		if strings.HasPrefix(name, "ConfigMap/") {
			cm := strict[corev1.ConfigMap](t, name, doc)
			if cm.Data["sidecar.yaml"] != string(root) {
				t.Errorf("ConfigMap %s does not carry sidecar.yaml", name)
			}
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// promtool is the path of Debian's promtool, which scripts/test.sh installs;
// without it the monitoring tests fail rather than skip.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: scripts/test.sh installs it (Debian's prometheus package)")
	}
	return path
}

// TestAlertRulesPassPromtool runs the PrometheusRule's groups through
// promtool as Prometheus would load them (check rules) and through the unit
// tests in monitoring/alerts_test.yaml (test rules): each alert fires on
// what it is about, after its `for`, and not on what it is not.
func TestAlertRulesPassPromtool(t *testing.T) {
	bin := promtool(t)
	var spec []byte
	for name, doc := range render(t, "example") {
		if !strings.HasPrefix(name, "PrometheusRule/") {
			continue
		}
		var obj struct {
			Spec map[string]any `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatal(err)
		}
		var err error
		if spec, err = yaml.Marshal(obj.Spec); err != nil {
			t.Fatal(err)
		}
	}
	if spec == nil {
		t.Fatal("no PrometheusRule rendered")
	}
	dir := t.TempDir()
	tests, err := os.ReadFile("monitoring/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{"rules.yaml": spec, "alerts_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDashboardQueriesParse checks monitoring/grafana-dashboard.json the way
// Grafana and Prometheus will use it: every panel and query reads from the
// ${datasource} variable, panel ids are unique, and every query, with the
// dashboard's variables filled in, is PromQL that promtool accepts (each is
// checked as a recording rule). Which metrics and labels they name is
// checked against the sidecar's registry in test/unit/monitoring.test.ts.
func TestDashboardQueriesParse(t *testing.T) {
	bin := promtool(t)
	raw, err := os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	type source struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID         int     `json:"id"`
			Type       string  `json:"type"`
			Title      string  `json:"title"`
			Datasource *source `json:"datasource"`
			Targets    []struct {
				Expr       string  `json:"expr"`
				Datasource *source `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer(`$namespace`, `self-healing-platform`, `$pod`, `.*`, `$__rate_interval`, `5m`)
	want := source{Type: "prometheus", UID: "${datasource}"}
	ids := map[int]bool{}
	var rules []map[string]string
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || *p.Datasource != want || len(p.Targets) == 0 {
			t.Errorf("panel %q must query the ${datasource} variable, and something: %+v", p.Title, p.Datasource)
		}
		for i, q := range p.Targets {
			if q.Datasource == nil || *q.Datasource != want {
				t.Errorf("panel %q query %d must use the ${datasource} variable", p.Title, i)
			}
			rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:panel_%d:query_%d", p.ID, i), "expr": fill.Replace(q.Expr)})
		}
	}
	if dash.UID == "" || len(rules) < 20 {
		t.Fatalf("want a dashboard uid and its queries, got uid %q and %d queries", dash.UID, len(rules))
	}
	file, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
