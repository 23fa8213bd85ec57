package mlclient

import "time"

// Metric is one named sample, as in ADR-009's contract.
type Metric struct {
	Name      string    `json:"name"`
	Value     float64   `json:"value"`
	Timestamp time.Time `json:"timestamp"`
}

// RequestContext names the workload a call is about: a namespace and a
// Deployment, optionally one pod. With PROMETHEUS_URL set on the sidecar,
// naming the workload is enough: the sidecar fetches the features itself.
type RequestContext struct {
	Namespace string `json:"namespace"`
	Resource  string `json:"resource"`
	Pod       string `json:"pod,omitempty"`
}

// EnrichmentMode says when the sidecar fetches features from Prometheus.
type EnrichmentMode string

const (
	// EnrichmentDefault lets the sidecar decide: MissingOnly when Prometheus is configured.
	EnrichmentDefault EnrichmentMode = ""
	// EnrichmentNever sends only the metrics given.
	EnrichmentNever EnrichmentMode = "NEVER"
	// EnrichmentMissingOnly fetches the features not given.
	EnrichmentMissingOnly EnrichmentMode = "MISSING_ONLY"
	// EnrichmentAlways fetches every feature, replacing those given.
	EnrichmentAlways EnrichmentMode = "ALWAYS"
)

// Enrichment controls feature fetching for one call.
type Enrichment struct {
	Mode EnrichmentMode
	// EvaluationTime replays an incident as of a past instant (zero: now).
	EvaluationTime time.Time
}

// AnomalyRequest is ADR-009's anomaly detection request.
type AnomalyRequest struct {
	Metrics    []Metric       `json:"metrics"`
	Context    RequestContext `json:"context"`
	Enrichment Enrichment     `json:"-"`
}

// AnomalyResponse is ADR-009's anomaly detection response, plus Metadata.
type AnomalyResponse struct {
	AnomalyDetected bool     `json:"anomaly_detected"`
	Confidence      float64  `json:"confidence"`
	AnomalyScore    float64  `json:"anomaly_score"`
	Recommendations []string `json:"recommendations"`
	Metadata        Metadata `json:"-"`
}

// IssueContext is ADR-009's prediction input.
type IssueContext struct {
	CurrentState string   `json:"current_state"`
	RecentEvents []string `json:"recent_events"`
	Metrics      []Metric `json:"metrics"`
}

// PredictionRequest is ADR-009's prediction request.
type PredictionRequest struct {
	IssueContext IssueContext   `json:"issue_context"`
	Context      RequestContext `json:"context"`
	Enrichment   Enrichment     `json:"-"`
}

// PredictedIssue is one issue the model expects.
type PredictedIssue struct {
	Issue            string        `json:"issue"`
	Probability      float64       `json:"probability"`
	TimeToOccurrence time.Duration `json:"time_to_occurrence"`
}

// PredictionResponse is ADR-009's prediction response, plus Metadata.
type PredictionResponse struct {
	PredictedIssues  []PredictedIssue `json:"predicted_issues"`
	SuggestedActions []string         `json:"suggested_actions"`
	Metadata         Metadata         `json:"-"`
}

// Event is one thing that happened to a workload.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Namespace string    `json:"namespace,omitempty"`
	Resource  string    `json:"resource,omitempty"`
	Value     float64   `json:"value,omitempty"`
}

// HistoricalData is ADR-009's pattern analysis input.
type HistoricalData struct {
	// TimeRange is a Go duration string such as "24h".
	TimeRange string   `json:"time_range"`
	Events    []Event  `json:"events"`
	Metrics   []Metric `json:"metrics"`
}

// PatternRequest is ADR-009's pattern analysis request.
type PatternRequest struct {
	HistoricalData HistoricalData `json:"historical_data"`
	Context        RequestContext `json:"context"`
}

// Pattern is one recurring behaviour.
type Pattern struct {
	Pattern     string  `json:"pattern"`
	Confidence  float64 `json:"confidence"`
	Description string  `json:"description,omitempty"`
}

// Correlation links two event types or metrics.
type Correlation struct {
	Source      string  `json:"source"`
	Target      string  `json:"target"`
	Coefficient float64 `json:"coefficient"`
}

// PatternResponse is ADR-009's pattern analysis response, plus Metadata.
type PatternResponse struct {
	Patterns     []Pattern     `json:"patterns"`
	Correlations []Correlation `json:"correlations"`
	Metadata     Metadata      `json:"-"`
}

// FeatureSet names a feature vector the sidecar builds.
type FeatureSet string

const (
	// AnomalyFeatures is the 45-feature anomaly vector.
	AnomalyFeatures FeatureSet = "ANOMALY"
	// PredictiveFeatures is the 5-feature predictive vector.
	PredictiveFeatures FeatureSet = "PREDICTIVE"
)

// FeaturesRequest asks for a workload's feature vector without calling a model.
type FeaturesRequest struct {
	Context        RequestContext
	Set            FeatureSet
	EvaluationTime time.Time
}

// FeaturesResponse is the vector, each feature with its provenance.
type FeaturesResponse struct {
	Features []Feature
	Metadata Metadata
}

// Provenance says where a feature's value came from: FETCHED, GIVEN or IMPUTED.
type Provenance string

// Feature is one element of a feature vector.
type Feature struct {
	Name       string
	Value      float64
	Provenance Provenance
	// Reason says why a feature was imputed.
	Reason string
}

// Source names the rung of the degradation ladder that answered:
// ML_SERVICE, CACHE, STALE_CACHE or FALLBACK.
type Source string

const (
	SourceMLService  Source = "ML_SERVICE"
	SourceCache      Source = "CACHE"
	SourceStaleCache Source = "STALE_CACHE"
	SourceFallback   Source = "FALLBACK"
)

// Metadata says who answered and with which features.
type Metadata struct {
	Source         Source
	Degraded       bool
	DegradedReason string
	Backend        string
	Model          string
	ModelVersion   string
	RequestID      string
	Features       []Feature
	Warnings       []string
}
