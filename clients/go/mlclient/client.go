// Package mlclient is the coordination engine's client for the AIOps ML
// sidecar. It speaks gRPC to the sidecar on the pod's localhost and keeps
// the Go types of ADR-009's HTTP client (AnomalyRequest, AnomalyResponse and
// their siblings), so adopting it is a one-line change:
//
//	ml := mlclient.NewMLServiceClient("127.0.0.1:50051")
//	resp, err := ml.DetectAnomaly(ctx, &mlclient.AnomalyRequest{Context: mlclient.RequestContext{
//		Namespace: "production", Resource: "payment-service"}})
//
// Deadlines come from ctx; errors are *Error values that errors.Is matches
// against ErrUnavailable, ErrDeadlineExceeded, ErrInvalidArgument and the
// other sentinels; every response carries Metadata saying which rung of the
// sidecar's degradation ladder answered and with which features.
package mlclient

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	mlv1 "github.com/aiops-ml-sidecar/sidecar/clients/go/gen/aiops/ml/v1"
	"github.com/aiops-ml-sidecar/sidecar/clients/go/gen/aiops/ml/v1/mlv1connect"
)

// DefaultAddress is where the sidecar listens in the engine's pod.
const DefaultAddress = "127.0.0.1:50051"

type options struct {
	timeout    time.Duration
	httpClient connect.HTTPClient
	protocol   []connect.ClientOption
}

// Option configures the client.
type Option func(*options)

// WithTimeout bounds calls whose context carries no deadline (default 30s,
// the engine's own ML timeout). A context deadline always wins.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithHTTPClient replaces the HTTP/2 cleartext client (for tests or TLS).
func WithHTTPClient(c connect.HTTPClient) Option { return func(o *options) { o.httpClient = c } }

// WithConnectProtocol speaks the Connect protocol instead of gRPC.
func WithConnectProtocol() Option { return func(o *options) { o.protocol = nil } }

// MLServiceClient calls the sidecar. It is safe for concurrent use.
type MLServiceClient struct {
	rpc     mlv1connect.MLServiceClient
	timeout time.Duration
}

// NewMLServiceClient returns a client for the sidecar at addr ("host:port",
// or a URL such as "http://127.0.0.1:50051"). It speaks gRPC over HTTP/2
// cleartext with prior knowledge, keeping one connection alive.
func NewMLServiceClient(addr string, opts ...Option) *MLServiceClient {
	o := options{timeout: 30 * time.Second, protocol: []connect.ClientOption{connect.WithGRPC()}}
	for _, f := range opts {
		f(&o)
	}
	if o.httpClient == nil {
		protocols := new(http.Protocols)
		protocols.SetUnencryptedHTTP2(true)
		o.httpClient = &http.Client{Transport: &http.Transport{
			Protocols:         protocols,
			DialContext:       (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2: true,
			TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
			IdleConnTimeout:   90 * time.Second,
		}}
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &MLServiceClient{rpc: mlv1connect.NewMLServiceClient(o.httpClient, strings.TrimSuffix(base, "/"), o.protocol...), timeout: o.timeout}
}

type requestIDKey struct{}

// WithRequestID returns a context whose calls carry id as their
// x-request-id. The sidecar logs a failed call under it (every call at
// LOG_LEVEL=debug), forwards it to the model service, and returns it in the
// answer's Metadata.RequestID or the Error's RequestID, so one id follows a remediation from the engine's log
// to the sidecar's and the model's. An id the sidecar does not accept (1 to
// 128 letters, digits, '_', '.', ':' or '-') is replaced by one of its own,
// which comes back the same way.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// newRequest wraps msg, with the context's request id as x-request-id.
func newRequest[T any](ctx context.Context, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		r.Header().Set("x-request-id", id)
	}
	return r
}

func (c *MLServiceClient) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// DetectAnomaly asks for an anomaly verdict (POST /api/v1/anomaly/detect upstream).
func (c *MLServiceClient) DetectAnomaly(ctx context.Context, req *AnomalyRequest) (*AnomalyResponse, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	res, err := c.rpc.DetectAnomaly(ctx, newRequest(ctx, &mlv1.DetectAnomalyRequest{
		Metrics:    toMetrics(req.Metrics),
		Context:    toContext(req.Context),
		Enrichment: toEnrichment(req.Enrichment),
	}))
	if err != nil {
		return nil, wrap(err)
	}
	m := res.Msg
	return &AnomalyResponse{
		AnomalyDetected: m.GetAnomalyDetected(),
		Confidence:      m.GetConfidence(),
		AnomalyScore:    m.GetAnomalyScore(),
		Recommendations: m.GetRecommendations(),
		Metadata:        fromMetadata(m.GetMetadata()),
	}, nil
}

// Predict asks for predicted issues (POST /api/v1/prediction/predict upstream).
func (c *MLServiceClient) Predict(ctx context.Context, req *PredictionRequest) (*PredictionResponse, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	res, err := c.rpc.Predict(ctx, newRequest(ctx, &mlv1.PredictRequest{
		IssueContext: &mlv1.IssueContext{
			CurrentState: req.IssueContext.CurrentState,
			RecentEvents: req.IssueContext.RecentEvents,
			Metrics:      toMetrics(req.IssueContext.Metrics),
		},
		Context:    toContext(req.Context),
		Enrichment: toEnrichment(req.Enrichment),
	}))
	if err != nil {
		return nil, wrap(err)
	}
	out := &PredictionResponse{SuggestedActions: res.Msg.GetSuggestedActions(), Metadata: fromMetadata(res.Msg.GetMetadata())}
	for _, i := range res.Msg.GetPredictedIssues() {
		out.PredictedIssues = append(out.PredictedIssues, PredictedIssue{
			Issue:            i.GetIssue(),
			Probability:      i.GetProbability(),
			TimeToOccurrence: i.GetTimeToOccurrence().AsDuration(),
		})
	}
	return out, nil
}

// AnalyzePatterns asks for patterns and correlations (POST /api/v1/pattern/analyze upstream).
func (c *MLServiceClient) AnalyzePatterns(ctx context.Context, req *PatternRequest) (*PatternResponse, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	h := &mlv1.HistoricalData{TimeRange: req.HistoricalData.TimeRange, Metrics: toMetrics(req.HistoricalData.Metrics)}
	for _, e := range req.HistoricalData.Events {
		ev := &mlv1.Event{Type: e.Type, Namespace: e.Namespace, Resource: e.Resource, Value: e.Value}
		if !e.Timestamp.IsZero() {
			ev.Timestamp = timestamppb.New(e.Timestamp)
		}
		h.Events = append(h.Events, ev)
	}
	res, err := c.rpc.AnalyzePatterns(ctx, newRequest(ctx, &mlv1.AnalyzePatternsRequest{HistoricalData: h, Context: toContext(req.Context)}))
	if err != nil {
		return nil, wrap(err)
	}
	out := &PatternResponse{Metadata: fromMetadata(res.Msg.GetMetadata())}
	for _, p := range res.Msg.GetPatterns() {
		out.Patterns = append(out.Patterns, Pattern{Pattern: p.GetPattern(), Confidence: p.GetConfidence(), Description: p.GetDescription()})
	}
	for _, x := range res.Msg.GetCorrelations() {
		out.Correlations = append(out.Correlations, Correlation{Source: x.GetSource(), Target: x.GetTarget(), Coefficient: x.GetCoefficient()})
	}
	return out, nil
}

// GetFeatures returns a workload's feature vector from Prometheus/Thanos
// without calling a model: what the engine would log as "sent".
func (c *MLServiceClient) GetFeatures(ctx context.Context, req *FeaturesRequest) (*FeaturesResponse, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	set := mlv1.FeatureSet_ANOMALY
	if req.Set == PredictiveFeatures {
		set = mlv1.FeatureSet_PREDICTIVE
	}
	res, err := c.rpc.GetFeatures(ctx, newRequest(ctx, &mlv1.GetFeaturesRequest{
		Context:    toContext(req.Context),
		FeatureSet: set,
		Enrichment: toEnrichment(Enrichment{EvaluationTime: req.EvaluationTime}),
	}))
	if err != nil {
		return nil, wrap(err)
	}
	return &FeaturesResponse{Features: fromFeatures(res.Msg.GetFeatures()), Metadata: fromMetadata(res.Msg.GetMetadata())}, nil
}

func toMetrics(ms []Metric) []*mlv1.Metric {
	out := make([]*mlv1.Metric, 0, len(ms))
	for _, m := range ms {
		pm := &mlv1.Metric{Name: m.Name, Value: m.Value}
		if !m.Timestamp.IsZero() {
			pm.Timestamp = timestamppb.New(m.Timestamp)
		}
		out = append(out, pm)
	}
	return out
}

func toContext(c RequestContext) *mlv1.WorkloadContext {
	if c == (RequestContext{}) {
		return nil
	}
	return &mlv1.WorkloadContext{Namespace: c.Namespace, Resource: c.Resource, Pod: c.Pod}
}

func toEnrichment(e Enrichment) *mlv1.Enrichment {
	if e.Mode == EnrichmentDefault && e.EvaluationTime.IsZero() {
		return nil
	}
	out := &mlv1.Enrichment{Mode: mlv1.EnrichmentMode(mlv1.EnrichmentMode_value[string(e.Mode)])}
	if !e.EvaluationTime.IsZero() {
		out.EvaluationTime = timestamppb.New(e.EvaluationTime)
	}
	return out
}

func fromFeatures(fs []*mlv1.Feature) []Feature {
	out := make([]Feature, 0, len(fs))
	for _, f := range fs {
		out = append(out, Feature{Name: f.GetName(), Value: f.GetValue(), Provenance: Provenance(f.GetProvenance().String()), Reason: f.GetReason()})
	}
	return out
}

func fromMetadata(m *mlv1.ResponseMetadata) Metadata {
	if m == nil {
		return Metadata{}
	}
	return Metadata{
		Source:         Source(m.GetSource().String()),
		Degraded:       m.GetDegraded(),
		DegradedReason: m.GetDegradedReason(),
		Backend:        m.GetBackend(),
		Model:          m.GetModel(),
		ModelVersion:   m.GetModelVersion(),
		RequestID:      m.GetRequestId(),
		Features:       fromFeatures(m.GetFeatures()),
		Warnings:       m.GetWarnings(),
	}
}
