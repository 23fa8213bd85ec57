// Command bare-proxy is the hand-written Go alternative to the sidecar, for
// bench/run.ts: a connect-go server (gRPC over HTTP/2 cleartext) whose
// DetectAnomaly POSTs the ADR-009 JSON to the backend with a pooled net/http
// client and answers with what it decodes. Nothing else: no validation,
// cache, breaker, retries or metrics. Its row is what a native gRPC → REST
// hop costs on the same machine, the Go counterpart of bench/bare-proxy.ts.
//
//	bare-proxy PORT BACKEND_URL   prints "ready PORT" when it listens on 127.0.0.1
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	"github.com/aiops-ml-sidecar/sidecar/bench/go/internal/adr009"
	mlv1 "github.com/aiops-ml-sidecar/sidecar/clients/go/gen/aiops/ml/v1"
	"github.com/aiops-ml-sidecar/sidecar/clients/go/gen/aiops/ml/v1/mlv1connect"
)

type proxy struct {
	mlv1connect.UnimplementedMLServiceHandler
	url    string
	client *http.Client
}

func (p *proxy) DetectAnomaly(ctx context.Context, req *connect.Request[mlv1.DetectAnomalyRequest]) (*connect.Response[mlv1.DetectAnomalyResponse], error) {
	in := adr009.AnomalyRequest{Context: adr009.Workload{Namespace: req.Msg.GetContext().GetNamespace(), Resource: req.Msg.GetContext().GetResource()}}
	for _, m := range req.Msg.GetMetrics() {
		in.Metrics = append(in.Metrics, adr009.Metric{Name: m.GetName(), Value: m.GetValue()})
	}
	a, err := adr009.Detect(ctx, p.client, p.url, &in)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	return connect.NewResponse(&mlv1.DetectAnomalyResponse{
		AnomalyDetected: a.AnomalyDetected,
		Confidence:      a.Confidence,
		AnomalyScore:    a.AnomalyScore,
		Recommendations: a.Recommendations,
	}), nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: bare-proxy PORT BACKEND_URL")
		os.Exit(2)
	}
	p := &proxy{
		url:    os.Args[2],
		client: &http.Client{Transport: &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 100, IdleConnTimeout: 90 * time.Second}},
	}
	mux := http.NewServeMux()
	mux.Handle(mlv1connect.NewMLServiceHandler(p))
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: protocols, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", ln.Addr().(*net.TCPAddr).Port)
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
