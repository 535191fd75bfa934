package verify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/exitcode"
)

// GateOptions are the release gate's inputs besides the bundle.
type GateOptions struct {
	// Source is where the bundle came from: a directory, or REG/REPO@sha256:... for a bundle
	// pulled from a registry.
	Source string
	// Digest, when set, is the digest GitOps tools must report. Otherwise it is the pulled
	// digest, or for a directory the digest it packs to.
	Digest string
	// CheckSignature, when set, must accept the pulled bundle's digest before any cluster is
	// asked anything; a bundle from a directory carries no signature and is refused.
	CheckSignature func(ctx context.Context, digest string) error
	// Targets are the clusters to verify, concurrently.
	Targets []Target
	// Options apply to every cluster; Digest is filled in by the gate.
	Options Options
	// Wait polls each cluster until it converges or this long has passed.
	Wait time.Duration
	// Progress receives --wait's progress lines.
	Progress io.Writer
}

// GateResult is what the gate found: a report per cluster (nil for a cluster that could not
// be checked) and the exit code the release pipeline acts on.
type GateResult struct {
	Reports []*Report
	// Code is 0 when every cluster converged, 1 when one did not, 3 when one could not be
	// checked (unreachable, forbidden, timeout), the worst of them.
	Code int
}

// Gate is `bulwark verify`: the bundle's signature policy, the digest GitOps must report,
// then every cluster, folded into one exit code. An error is returned only for input that
// stops the gate before any cluster is asked (exit 2) or a refused signature (exit 1).
func Gate(ctx context.Context, b *bundle.Bundle, g GateOptions) (*GateResult, error) {
	pulled, fromRegistry := pulledDigest(g.Source)
	if g.CheckSignature != nil {
		if !fromRegistry {
			return nil, exitcode.AsBadInput(fmt.Errorf("a signature can only be checked on a bundle from a registry, not the directory %s", g.Source))
		}
		if err := g.CheckSignature(ctx, pulled); err != nil {
			return nil, err
		}
	}
	opts := g.Options
	opts.Digest = g.Digest
	if opts.Digest == "" {
		if fromRegistry {
			opts.Digest = pulled
		} else {
			d, err := oci.Digest(b, oci.PackOptions{})
			if err != nil {
				return nil, exitcode.AsBadInput(fmt.Errorf("computing the digest of %s: %w", g.Source, err))
			}
			opts.Digest = d.String()
			opts.DigestFromDirectory = true
		}
	}
	results := RunMany(ctx, g.Targets, b, opts, g.Wait, g.Progress)
	out := &GateResult{Reports: make([]*Report, len(results)), Code: exitcode.OK}
	for i, r := range results {
		out.Reports[i] = r.Report
		switch {
		case r.Err != nil:
			out.Code = exitcode.Environment
		case !r.Report.Converged && out.Code == exitcode.OK:
			out.Code = exitcode.Failed
		}
	}
	return out, nil
}

// pulledDigest extracts the digest from a pulled reference (REG/REPO@sha256:...).
func pulledDigest(source string) (string, bool) {
	i := strings.LastIndex(source, "@")
	if i < 0 || !digestRE.MatchString(source[i+1:]) {
		return "", false
	}
	return source[i+1:], true
}
