// Package adr009 holds the ML service's anomaly call (ADR-009's REST
// contract) as far as the benchmark's Go programs use it.
package adr009

import (
	"context"
	"net/http"

	"github.com/aiops-ml-sidecar/sidecar/bench/go/internal/jsonhttp"
)

// DetectPath is where the ML service answers anomaly calls.
const DetectPath = "/api/v1/anomaly/detect"

// Metric is one named value of a request.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Workload names the workload a request is about.
type Workload struct {
	Namespace string `json:"namespace"`
	Resource  string `json:"resource"`
}

// AnomalyRequest is the body POSTed to DetectPath.
type AnomalyRequest struct {
	Metrics []Metric `json:"metrics"`
	Context Workload `json:"context"`
}

// AnomalyAnswer is the service's answer to it.
type AnomalyAnswer struct {
	AnomalyDetected bool     `json:"anomaly_detected"`
	Confidence      float64  `json:"confidence"`
	AnomalyScore    float64  `json:"anomaly_score"`
	Recommendations []string `json:"recommendations"`
}

// Detect POSTs req to the service at baseURL and decodes its answer; any
// status but 200 is an error.
func Detect(ctx context.Context, hc *http.Client, baseURL string, req *AnomalyRequest) (*AnomalyAnswer, error) {
	var a AnomalyAnswer
	if err := jsonhttp.Post(ctx, hc, baseURL+DetectPath, req, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
