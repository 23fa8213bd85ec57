// Command example calls a running sidecar the way the coordination engine
// does: go run ./example -addr 127.0.0.1:50051 -namespace production -deployment payment-service
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/aiops-ml-sidecar/sidecar/clients/go/mlclient"
)

func main() {
	addr := flag.String("addr", mlclient.DefaultAddress, "the sidecar's address")
	ns := flag.String("namespace", "production", "workload namespace")
	deployment := flag.String("deployment", "payment-service", "workload Deployment")
	flag.Parse()

	ml := mlclient.NewMLServiceClient(*addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Name the workload; give what you know. With PROMETHEUS_URL set on the
	// sidecar, it fetches the rest of the 45 features itself.
	resp, err := ml.DetectAnomaly(ctx, &mlclient.AnomalyRequest{
		Metrics: []mlclient.Metric{{Name: "memory_usage", Value: 0.93, Timestamp: time.Now()}},
		Context: mlclient.RequestContext{Namespace: *ns, Resource: *deployment},
	})
	switch {
	case errors.Is(err, mlclient.ErrUnavailable), errors.Is(err, mlclient.ErrDeadlineExceeded):
		log.Fatalf("ML unavailable, fall back to rule-based remediation: %v", err)
	case errors.Is(err, mlclient.ErrInvalidArgument):
		var e *mlclient.Error
		errors.As(err, &e)
		log.Fatalf("bad request: %v (fields: %+v)", err, e.Violations)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Printf("anomaly=%v confidence=%.2f score=%.2f recommendations=%v\n",
		resp.AnomalyDetected, resp.Confidence, resp.AnomalyScore, resp.Recommendations)
	fmt.Printf("answered by %s (%s %s), degraded=%v %s\n",
		resp.Metadata.Source, resp.Metadata.Backend, resp.Metadata.Model, resp.Metadata.Degraded, resp.Metadata.DegradedReason)
}
