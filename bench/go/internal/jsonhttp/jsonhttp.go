// Package jsonhttp POSTs a JSON body and decodes the JSON answer, the one
// exchange the benchmark's Go programs make with the model servers.
package jsonhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Post sends in as JSON to url and decodes the answer into out; any status
// but 200 is an error that carries the body.
func Post(ctx context.Context, hc *http.Client, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("content-type", "application/json")
	res, err := hc.Do(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("backend: HTTP %d: %s", res.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}
