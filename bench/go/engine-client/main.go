// Command engine-client drives one path the way the coordination engine
// would, for bench/run.ts: open-loop at a fixed rate (or one call at a time),
// printing {"p50","p90","p99","rps","errors"} as JSON on stdout, latencies in
// milliseconds. It is the same Go program both ways, so the latency the
// sidecar adds is taken as Dapr takes its own: one client, with and without
// the hop.
//
//	-mode direct  -target http://127.0.0.1:PORT  net/http POSTing the ADR-009
//	              JSON and decoding the answer with encoding/json, the way the
//	              engine calls the ML service today (its pool: 100 idle
//	              connections, 10 per host);
//	-mode sidecar -target 127.0.0.1:PORT         the engine's client package
//	              (clients/go/mlclient), gRPC over HTTP/2 cleartext, each call
//	              naming a workload of its own so that every call misses the
//	              sidecar's cache;
//	-mode kserve  -target http://127.0.0.1:PORT  net/http POSTing KServe V1's
//	              {"instances": [row]} to the anomaly-detector model, as the
//	              engine would call the model the platform deploys (needs
//	              -features: the row is the vector in the model's order).
//
// Each call carries one metric, cpu_usage; with -features FILE (a JSON list
// of names, e.g. test/fixtures/anomaly_feature_names_45.json) it carries
// those instead, the engine's real request, the first value new on every
// call.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiops-ml-sidecar/sidecar/bench/go/internal/adr009"
	"github.com/aiops-ml-sidecar/sidecar/bench/go/internal/kservev1"
	"github.com/aiops-ml-sidecar/sidecar/clients/go/mlclient"
)

func main() {
	mode := flag.String("mode", "", "direct or sidecar")
	target := flag.String("target", "", "the backend's URL (direct) or the sidecar's host:port (sidecar)")
	rate := flag.Int("rate", 0, "calls per second, open-loop; 0: one call at a time")
	n := flag.Int("n", 0, "calls to measure")
	warmup := flag.Int("warmup", 0, "calls before measuring, at the same rate")
	tag := flag.String("tag", "0", "makes this run's workload names its own")
	deadline := flag.Duration("deadline", 10*time.Second, "each call's deadline; a call past it is an error")
	callsOut := flag.String("calls", "", "also write each measured call as \"start_ns latency_ns\" (wall clock) to this file")
	featuresFile := flag.String("features", "", "a JSON list of feature names: each call carries these, not cpu_usage alone")
	flag.Parse()

	names := []string{"cpu_usage"}
	if *featuresFile != "" {
		raw, err := os.ReadFile(*featuresFile)
		if err == nil {
			err = json.Unmarshal(raw, &names)
		}
		if err != nil || len(names) == 0 {
			fmt.Fprintln(os.Stderr, "-features:", err, len(names))
			os.Exit(2)
		}
	}
	// The vector of call i: the first value i, so that every call is new; the rest fixed.
	values := func(i int) []float64 {
		v := make([]float64, len(names))
		for k := range v {
			v[k] = 0.1 + float64(k%9)/10
		}
		v[0] = float64(i)
		return v
	}

	var call func(ctx context.Context, i int) error
	switch *mode {
	case "direct":
		hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 10, IdleConnTimeout: 90 * time.Second}}
		call = func(ctx context.Context, i int) error {
			v := values(i)
			metrics := make([]adr009.Metric, len(names))
			for k, name := range names {
				metrics[k] = adr009.Metric{Name: name, Value: v[k]}
			}
			a, err := adr009.Detect(ctx, hc, *target, &adr009.AnomalyRequest{
				Metrics: metrics,
				Context: adr009.Workload{Namespace: "shop", Resource: fmt.Sprintf("api-%s-%d", *tag, i)},
			})
			if err != nil {
				return err
			}
			if !a.AnomalyDetected {
				return fmt.Errorf("unexpected answer %+v", a)
			}
			return nil
		}
	case "sidecar":
		ml := mlclient.NewMLServiceClient(*target)
		call = func(ctx context.Context, i int) error {
			v := values(i)
			metrics := make([]mlclient.Metric, len(names))
			for k, name := range names {
				metrics[k] = mlclient.Metric{Name: name, Value: v[k]}
			}
			a, err := ml.DetectAnomaly(ctx, &mlclient.AnomalyRequest{
				Metrics: metrics,
				Context: mlclient.RequestContext{Namespace: "shop", Resource: fmt.Sprintf("api-%s-%d", *tag, i)},
			})
			if err != nil {
				return err
			}
			if !a.AnomalyDetected || a.Metadata.Degraded {
				return fmt.Errorf("unexpected answer %+v", a)
			}
			return nil
		}
	case "kserve":
		if *featuresFile == "" {
			fmt.Fprintln(os.Stderr, "-mode kserve needs -features: the model's input row")
			os.Exit(2)
		}
		hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 10, IdleConnTimeout: 90 * time.Second}}
		call = func(ctx context.Context, i int) error {
			label, err := kservev1.Predict(ctx, hc, *target, "anomaly-detector", values(i))
			if err != nil {
				return err
			}
			if label != -1 && label != 1 {
				return fmt.Errorf("unexpected prediction %v", label)
			}
			return nil
		}
	default:
		fmt.Fprintln(os.Stderr, "-mode must be direct, sidecar or kserve")
		os.Exit(2)
	}

	starts := make([]int64, *warmup+*n)
	one := func(i int) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), *deadline)
		defer cancel()
		t0 := time.Now()
		starts[i] = t0.UnixNano()
		err := call(ctx, i)
		return time.Since(t0), err
	}
	// Calls [from, from+count): one at a time, or each started at its due time.
	// Returns the latencies of the calls that succeeded, and their indices.
	drive := func(from, count int) (lat []time.Duration, idx []int, errs int64, elapsed time.Duration) {
		lat = make([]time.Duration, count)
		ok := make([]bool, count)
		var failed atomic.Int64
		start := time.Now()
		if *rate == 0 {
			for k := range count {
				d, err := one(from + k)
				lat[k], ok[k] = d, err == nil
				if err != nil && failed.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, err)
				}
			}
		} else {
			var wg sync.WaitGroup
			interval := time.Second / time.Duration(*rate)
			for k := range count {
				if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
					time.Sleep(wait)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, err := one(from + k)
					lat[k], ok[k] = d, err == nil
					if err != nil && failed.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, err)
					}
				}()
			}
			wg.Wait()
		}
		elapsed = time.Since(start)
		kept := lat[:0]
		for k, d := range lat {
			if ok[k] {
				kept = append(kept, d)
				idx = append(idx, from+k)
			}
		}
		return kept, idx, failed.Load(), elapsed
	}
	drive(0, *warmup)
	lat, idx, errs, elapsed := drive(*warmup, *n)
	if *callsOut != "" {
		var b strings.Builder
		for k, d := range lat {
			fmt.Fprintf(&b, "%d %d\n", starts[idx[k]], d.Nanoseconds())
		}
		if err := os.WriteFile(*callsOut, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		if len(lat) == 0 {
			return -1
		}
		return float64(lat[min(len(lat)-1, int(p/100*float64(len(lat))))]) / 1e6
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"p50": at(50), "p90": at(90), "p99": at(99),
		"rps":    float64(len(lat)) / elapsed.Seconds(),
		"errors": errs,
	})
}
