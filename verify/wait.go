package verify

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/internal/exitcode"
)

// Poll intervals of Wait: quick at first (a GitOps sync often lands within seconds), then
// backing off so a long wait does not load the API server.
const (
	waitFirst = time.Second
	waitMax   = 15 * time.Second
)

// Wait verifies until the cluster converges or timeout passes, backing off between
// attempts and writing one progress line per attempt to progress (nil: none). It returns
// the last report either way, so a cluster that never converged is a report with Converged
// false and a nil error. Unreachable clusters are retried until the deadline (the error is
// then the last one); bad input and refused credentials or permissions are returned at
// once, since waiting cannot fix them.
func Wait(ctx context.Context, cfg *rest.Config, b *bundle.Bundle, opts Options, timeout time.Duration, progress io.Writer) (*Report, error) {
	deadline := time.Now().Add(timeout)
	delay := waitFirst
	var (
		report *Report
		err    error
	)
	for attempt := 1; ; attempt++ {
		r, rerr := Run(ctx, cfg, b, opts)
		if rerr == nil {
			report, err = r, nil
			if r.Converged {
				return r, nil
			}
		} else {
			err = rerr
			if permanent(rerr) {
				return report, rerr
			}
		}
		remaining := time.Until(deadline)
		if remaining <= 0 || ctx.Err() != nil {
			// err is nil when the last attempt checked the cluster: not converged, exit 1.
			return report, err
		}
		wait := min(delay, remaining)
		if progress != nil {
			fmt.Fprintln(progress, progressLine(opts.Cluster, attempt, r, rerr, wait, remaining))
		}
		select {
		case <-ctx.Done():
			return report, err
		case <-time.After(wait):
		}
		delay = min(2*delay, waitMax)
	}
}

// permanent reports errors no amount of waiting fixes.
func permanent(err error) bool {
	return exitcode.Of(err, exitcode.Environment) == exitcode.BadInput ||
		apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}

func progressLine(cluster string, attempt int, r *Report, err error, wait, remaining time.Duration) string {
	if cluster == "" {
		cluster = "cluster"
	}
	var state string
	switch {
	case err != nil:
		state = err.Error()
	default:
		state = fmt.Sprintf("not converged, %d failing", r.Failures())
		if f := r.FirstFailure(); f != nil {
			state += " (first: " + f.Message + ")"
		}
	}
	return fmt.Sprintf("%s: attempt %d: %s; next check in %s, %s left", cluster, attempt, state,
		wait.Round(time.Second), remaining.Round(time.Second))
}

// Target is one cluster to verify.
type Target struct {
	// Name names the cluster in its report (the kubeconfig context).
	Name   string
	Config *rest.Config
}

// Result is one cluster's outcome: a report always, and the error that kept the cluster
// from being checked, if any.
type Result struct {
	Report *Report
	Err    error
}

// maxParallel bounds how many clusters are verified at once.
const maxParallel = 16

// RunMany verifies several clusters concurrently, one report each, in target order; with
// wait > 0 each is polled as Wait does. A cluster that cannot be checked gets a report
// carrying the error.
func RunMany(ctx context.Context, targets []Target, b *bundle.Bundle, opts Options, wait time.Duration, progress io.Writer) []Result {
	results := make([]Result, len(targets))
	var (
		wg sync.WaitGroup
		mu sync.Mutex // progress lines from several clusters must not interleave
	)
	sem := make(chan struct{}, maxParallel)
	var w io.Writer
	if progress != nil {
		w = lockedWriter{w: progress, mu: &mu}
	}
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			o := opts
			o.Cluster = t.Name
			var (
				r   *Report
				err error
			)
			if wait > 0 {
				r, err = Wait(ctx, t.Config, b, o, wait, w)
			} else {
				r, err = Run(ctx, t.Config, b, o)
			}
			if err != nil {
				if r == nil {
					r = newReport(b, o)
				}
				r.Error = err.Error()
				r.Converged = false
			}
			results[i] = Result{Report: r, Err: err}
		}()
	}
	wg.Wait()
	return results
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
