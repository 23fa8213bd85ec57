package mlclient_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/aiops-ml-sidecar/sidecar/clients/go/mlclient"
)

// The tests start the sidecar built from this repository (dist/src/main.js,
// built by the test command) in front of stand-ins for the Python service
// and Prometheus, and call every method over real gRPC.

var addr string

func TestMain(m *testing.M) {
	ml := httptest.NewServer(http.HandlerFunc(fakeMLService))
	prom := httptest.NewServer(http.HandlerFunc(fakePrometheus))
	stop, err := startSidecar(ml.URL, prom.URL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	ml.Close()
	prom.Close()
	os.Exit(code)
}

func startSidecar(mlURL, promURL string) (func(), error) {
	root, _ := filepath.Abs("../../..")
	main := filepath.Join(root, "dist", "src", "main.js")
	if _, err := os.Stat(main); err != nil {
		return nil, fmt.Errorf("%s is missing: run the test command (npm test), which builds it", main)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr = "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("node", main,
		"--set", "fallback.enabled=false", "--set", "cache.max_entries=0", "--set", "retry.max_attempts=1",
		"--set", "server.drain_delay=0s", "--set", "breaker.failure_threshold=1000")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SIDECAR_GRPC_ADDR="+addr, "SIDECAR_ADMIN_ADDR=127.0.0.1:0",
		"ML_SERVICE_URL="+mlURL, "PROMETHEUS_URL="+promURL, "LOG_LEVEL=info")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if strings.Contains(s.Text(), `"msg":"sidecar serving"`) {
				close(ready)
				break
			}
		}
		for s.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("sidecar did not start")
	}
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}, nil
}

// The x-request-id of the last request the stand-in ML service took.
var lastID atomic.Value

func lastMLRequestID() string {
	id, _ := lastID.Load().(string)
	return id
}

func fakeMLService(w http.ResponseWriter, r *http.Request) {
	lastID.Store(r.Header.Get("x-request-id"))
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	w.Header().Set("content-type", "application/json")
	switch r.URL.Path {
	case "/api/v1/anomaly/detect":
		metrics, _ := body["metrics"].([]any)
		for _, m := range metrics {
			if m.(map[string]any)["name"] == "slow" {
				select {
				case <-time.After(3 * time.Second):
				case <-r.Context().Done():
					return
				}
			}
			if m.(map[string]any)["name"] == "down" {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"error":"model warming up"}`)
				return
			}
		}
		fmt.Fprintf(w, `{"anomaly_detected":true,"confidence":0.95,"anomaly_score":8.7,"recommendations":["Scale up replicas","Check for memory leak"],"echo":%d}`, len(metrics))
	case "/api/v1/prediction/predict":
		fmt.Fprint(w, `{"predicted_issues":[{"issue":"pod_oom","probability":0.85,"time_to_occurrence":"5m"}],"suggested_actions":["increase_memory_limit","add_hpa"]}`)
	case "/api/v1/pattern/analyze":
		fmt.Fprint(w, `{"patterns":[{"pattern":"daily_spike","confidence":0.88}],"correlations":[{"source":"high_cpu","target":"pod_restart","coefficient":0.7}]}`)
	case "/health":
		fmt.Fprint(w, `{"status":"ok"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"not found"}`)
	}
}

// fakePrometheus answers the scope query with one pod on one node, and every
// feature query with a flat 0.5.
func fakePrometheus(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	q := r.Form.Get("query")
	w.Header().Set("content-type", "application/json")
	switch r.URL.Path {
	case "/api/v1/query":
		t := r.Form.Get("time")
		if strings.Contains(q, "kube_pod_info") {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"production","pod":"payment-service-7d9f4-abcde","node":"node-a"},"value":[%s,"1"]}]}}`, t)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%s,"0.5"]}]}}`, t)
	case "/api/v1/query_range":
		start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		var points []string
		for t := start; t <= end; t += step {
			points = append(points, fmt.Sprintf(`[%g,"0.5"]`, t))
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[%s]}]}}`, strings.Join(points, ","))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestDetectAnomalyTakesADR009TypesAndReturnsMetadata(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	resp, err := ml.DetectAnomaly(context.Background(), &mlclient.AnomalyRequest{
		Metrics: []mlclient.Metric{{Name: "cpu_usage", Value: 0.855, Timestamp: time.Date(2026, 1, 25, 10, 0, 0, 0, time.UTC)}},
		Context: mlclient.RequestContext{Namespace: "production", Resource: "payment-service"},
		// The caller's metric only: no enrichment for this call.
		Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.AnomalyDetected || resp.Confidence != 0.95 || resp.AnomalyScore != 8.7 || len(resp.Recommendations) != 2 {
		t.Fatalf("unexpected response %+v", resp)
	}
	md := resp.Metadata
	if md.Source != mlclient.SourceMLService || md.Degraded || md.Backend != "rest" || md.RequestID == "" {
		t.Fatalf("unexpected metadata %+v", md)
	}
	if len(md.Features) != 1 || md.Features[0].Provenance != "GIVEN" {
		t.Fatalf("unexpected features %+v", md.Features)
	}
}

func TestDetectAnomalyNamingAWorkloadGetsTheWholeVector(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	resp, err := ml.DetectAnomaly(context.Background(), &mlclient.AnomalyRequest{
		Context: mlclient.RequestContext{Namespace: "production", Resource: "payment-service"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Metadata.Features); n != 45 {
		t.Fatalf("want 45 features, got %d", n)
	}
}

func TestPredictTurnsTimeToOccurrenceIntoADuration(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	resp, err := ml.Predict(context.Background(), &mlclient.PredictionRequest{
		IssueContext: mlclient.IssueContext{CurrentState: "degraded", RecentEvents: []string{"pod_restart"},
			Metrics: []mlclient.Metric{{Name: "memory_usage", Value: 0.9}}},
		Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.PredictedIssues) != 1 || resp.PredictedIssues[0].Issue != "pod_oom" || resp.PredictedIssues[0].TimeToOccurrence != 5*time.Minute {
		t.Fatalf("unexpected response %+v", resp)
	}
}

func TestAnalyzePatterns(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	resp, err := ml.AnalyzePatterns(context.Background(), &mlclient.PatternRequest{
		HistoricalData: mlclient.HistoricalData{TimeRange: "24h", Events: []mlclient.Event{{Type: "high_cpu", Timestamp: time.Now()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Patterns) != 1 || resp.Patterns[0].Pattern != "daily_spike" || resp.Correlations[0].Coefficient != 0.7 {
		t.Fatalf("unexpected response %+v", resp)
	}
}

func TestGetFeaturesReturnsTheVectorWithProvenance(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	resp, err := ml.GetFeatures(context.Background(), &mlclient.FeaturesRequest{
		Context: mlclient.RequestContext{Namespace: "production", Resource: "payment-service"},
		Set:     mlclient.PredictiveFeatures,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Features) != 5 || resp.Features[0].Name != "cpu_usage" || resp.Features[0].Value != 0.5 || resp.Features[0].Provenance != "FETCHED" {
		t.Fatalf("unexpected features %+v", resp.Features)
	}
}

func TestAContextDeadlineIsHonoured(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	started := time.Now()
	_, err := ml.DetectAnomaly(ctx, &mlclient.AnomalyRequest{Metrics: []mlclient.Metric{{Name: "slow", Value: 1}}, Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever}})
	if !errors.Is(err, mlclient.ErrDeadlineExceeded) {
		t.Fatalf("want ErrDeadlineExceeded, got %v", err)
	}
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Fatalf("took %v", elapsed)
	}
}

func TestInvalidArgumentNamesTheField(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	_, err := ml.DetectAnomaly(context.Background(), &mlclient.AnomalyRequest{Metrics: []mlclient.Metric{{Name: "", Value: 1}}, Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever}})
	if !errors.Is(err, mlclient.ErrInvalidArgument) {
		t.Fatalf("want ErrInvalidArgument, got %v", err)
	}
	if errors.Is(err, mlclient.ErrUnavailable) {
		t.Fatal("an invalid argument must not look unavailable")
	}
	var e *mlclient.Error
	if !errors.As(err, &e) || len(e.Violations) != 1 || e.Violations[0].Field != "metrics[0].name" {
		t.Fatalf("want a field violation on metrics[0].name, got %+v", e)
	}
}

func TestAnUpstreamOutageIsUnavailable(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	_, err := ml.DetectAnomaly(context.Background(), &mlclient.AnomalyRequest{Metrics: []mlclient.Metric{{Name: "down", Value: 1}}, Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever}})
	if !errors.Is(err, mlclient.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}

func TestTheConnectProtocolWorksToo(t *testing.T) {
	ml := mlclient.NewMLServiceClient("http://"+addr, mlclient.WithConnectProtocol(), mlclient.WithHTTPClient(http.DefaultClient))
	resp, err := ml.AnalyzePatterns(context.Background(), &mlclient.PatternRequest{HistoricalData: mlclient.HistoricalData{TimeRange: "1h"}})
	if err != nil || len(resp.Patterns) != 1 {
		t.Fatalf("got %+v, %v", resp, err)
	}
}

func TestARequestIDTravelsToTheSidecarAndBack(t *testing.T) {
	ml := mlclient.NewMLServiceClient(addr)
	ctx := mlclient.WithRequestID(context.Background(), "remediation-42.1")
	resp, err := ml.DetectAnomaly(ctx, &mlclient.AnomalyRequest{Metrics: []mlclient.Metric{{Name: "cpu_usage", Value: 0.5}}, Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever}})
	if err != nil || resp.Metadata.RequestID != "remediation-42.1" {
		t.Fatalf("want the answer under remediation-42.1, got %+v, %v", resp, err)
	}
	if got := lastMLRequestID(); got != "remediation-42.1" {
		t.Fatalf("the model service was sent x-request-id %q", got)
	}

	_, err = ml.DetectAnomaly(ctx, &mlclient.AnomalyRequest{Metrics: []mlclient.Metric{{Name: "down", Value: 1}}, Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever}})
	var e *mlclient.Error
	if !errors.As(err, &e) || e.RequestID != "remediation-42.1" {
		t.Fatalf("want an error under remediation-42.1, got %+v", err)
	}
	_, err = ml.DetectAnomaly(ctx, &mlclient.AnomalyRequest{Metrics: []mlclient.Metric{{Name: "", Value: 1}}, Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever}})
	if !errors.As(err, &e) || e.Code != connect.CodeInvalidArgument || e.RequestID != "remediation-42.1" {
		t.Fatalf("want INVALID_ARGUMENT under remediation-42.1, got %+v", err)
	}

	// Without one, and with one the sidecar refuses, the sidecar's own id comes back.
	for _, c := range []context.Context{context.Background(), mlclient.WithRequestID(context.Background(), "has spaces")} {
		_, err = ml.DetectAnomaly(c, &mlclient.AnomalyRequest{Metrics: []mlclient.Metric{{Name: "down", Value: 1}}, Enrichment: mlclient.Enrichment{Mode: mlclient.EnrichmentNever}})
		if !errors.As(err, &e) || len(e.RequestID) != 36 {
			t.Fatalf("want the sidecar's own UUID, got %+v", err)
		}
	}
}
