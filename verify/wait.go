package verify

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"bulwark.dev/bulwark/bundles"
)

// Wait verifies until the cluster converges or timeout passes, backing off between
// attempts, with a progress line per attempt. The last report is returned either way; an
// error means the cluster could not be checked at all before the deadline.
func Wait(ctx context.Context, cfg *rest.Config, b *bundles.Bundle, opts Options, timeout time.Duration, progress io.Writer) (*Report, error) {
	deadline := time.Now().Add(timeout)
	delay := time.Second
	var (
		report *Report
		err    error
	)
	for attempt := 1; ; attempt++ {
		report, err = Run(ctx, cfg, b, opts)
		if err == nil && report.Converged {
			return report, nil
		}
		remaining := time.Until(deadline)
		if remaining <= 0 || ctx.Err() != nil {
			return report, err
		}
		if progress != nil {
			if err != nil {
				fmt.Fprintf(progress, "%s: attempt %d: %v; retrying for %s\n", opts.Cluster, attempt, err, remaining.Round(time.Second))
			} else {
				fmt.Fprintf(progress, "%s: attempt %d: %d findings failing; waiting up to %s\n", opts.Cluster, attempt, report.Failures(), remaining.Round(time.Second))
			}
		}
		if delay > remaining {
			delay = remaining
		}
		select {
		case <-ctx.Done():
			return report, err
		case <-time.After(delay):
		}
		if delay *= 2; delay > 15*time.Second {
			delay = 15 * time.Second
		}
	}
}

// Target is one cluster to verify.
type Target struct {
	Name   string
	Config *rest.Config
}

// Result is one cluster's outcome.
type Result struct {
	Report *Report
	Err    error
}

// RunMany verifies several clusters concurrently, one report each, in target order. A
// cluster that cannot be checked gets a report carrying the error.
func RunMany(ctx context.Context, targets []Target, b *bundles.Bundle, opts Options, wait time.Duration, progress io.Writer) []Result {
	results := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func(i int, t Target) {
			defer wg.Done()
			o := opts
			o.Cluster = t.Name
			var r *Report
			var err error
			if wait > 0 {
				r, err = Wait(ctx, t.Config, b, o, wait, progress)
			} else {
				r, err = Run(ctx, t.Config, b, o)
			}
			if err != nil && r == nil {
				r = &Report{APIVersion: "bulwark.dev/v1alpha1", Kind: "VerifyReport", Cluster: t.Name, Findings: []Finding{}, Error: err.Error(),
					Bundle: BundleRef{Profile: b.Index.Spec.Profile, Version: b.Index.Spec.Version, Digest: o.Digest, Framework: b.Index.Spec.Framework, Catalogue: b.Index.Spec.Catalogue}}
			}
			results[i] = Result{Report: r, Err: err}
		}(i, t)
	}
	wg.Wait()
	return results
}
