// Package adr009 holds the ML service's anomaly call (ADR-009's REST
// contract) as far as the benchmark's Go programs use it.
package adr009

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+DetectPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("content-type", "application/json")
	res, err := hc.Do(r)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("backend: HTTP %d: %s", res.StatusCode, raw)
	}
	var a AnomalyAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
