// Package kservev1 holds KServe's V1 prediction call, as far as the
// benchmark's Go programs use it: one row in, one prediction out.
package kservev1

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aiops-ml-sidecar/sidecar/bench/go/internal/jsonhttp"
)

// Predict POSTs {"instances": [row]} to model's :predict endpoint at baseURL
// and returns the one prediction.
func Predict(ctx context.Context, hc *http.Client, baseURL, model string, row []float64) (float64, error) {
	var a struct {
		Predictions []float64 `json:"predictions"`
	}
	in := map[string][][]float64{"instances": {row}}
	if err := jsonhttp.Post(ctx, hc, baseURL+"/v1/models/"+model+":predict", in, &a); err != nil {
		return 0, err
	}
	if len(a.Predictions) != 1 {
		return 0, fmt.Errorf("%s: %d predictions for one row", model, len(a.Predictions))
	}
	return a.Predictions[0], nil
}
