package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/examples"
	"bulwark.dev/bulwark/pipeline"
)

// Options tune the demo.
type Options struct {
	// Example is the file name of a shipped example profile.
	Example string
	// Registry is host[:port] of a registry to use; empty starts one on 127.0.0.1.
	Registry string
	// Log receives the narrative; results go to the returned value.
	Log io.Writer
}

// Result is what the demo pushed.
type Result struct {
	Registry string
	First    string // REG/REPO@sha256:... of version 1.0.0
	Second   string // of version 1.1.0
	Diff     *bundle.DiffResult
}

// Run executes the demo.
func Run(ctx context.Context, opts Options) (*Result, error) {
	logf := func(format string, args ...any) { fmt.Fprintf(opts.Log, format+"\n", args...) }
	if opts.Example == "" {
		opts.Example = "payments.yaml"
	}
	data, err := examples.Profiles.ReadFile(opts.Example)
	if err != nil {
		return nil, fmt.Errorf("no shipped example %q: %w", opts.Example, err)
	}
	p, cat, err := pipeline.LoadBytes("examples/"+opts.Example, data)
	if err != nil {
		return nil, err
	}
	logf("profile %s: %s, %d namespaces named, enforcement %s", opts.Example, p.Metadata.Name, len(p.Spec.Namespaces.Include), p.Spec.Enforcement)

	first, err := pipeline.Build(p, cat, "1.0.0")
	if err != nil {
		return nil, err
	}
	logf("built bundle %s 1.0.0: %d objects realising %d controls", p.Metadata.Name, len(first.Index.Spec.Objects), len(first.Index.Spec.Controls))

	reg := opts.Registry
	if reg == "" {
		addr, stop, err := startRegistry()
		if err != nil {
			return nil, err
		}
		defer stop()
		reg = addr
		logf("started a registry on %s (set BULWARK_REGISTRY to use your own)", reg)
	}
	repo := reg + "/bulwark/" + p.Metadata.Name
	c, err := oci.New()
	if err != nil {
		return nil, err
	}
	d1, err := c.Push(ctx, first, repo+":1.0.0", oci.PushOptions{SemverAliases: true})
	if err != nil {
		return nil, err
	}
	logf("pushed %s:1.0.0 (also tagged 1 and 1.0)", repo)

	pulled, pulledDigest, err := c.Pull(ctx, repo+":1.0.0")
	if err != nil {
		return nil, err
	}
	if pulledDigest.String() != d1.String() || !sameFiles(first, pulled) {
		return nil, fmt.Errorf("pulled bundle differs from the pushed one")
	}
	logf("pulled it back: %d files, identical, digest %s", len(pulled.Files), pulledDigest.DigestStr())

	// A second version: the team disables one control and waives another for a namespace.
	p.Spec.Controls.Disable = append(p.Spec.Controls.Disable, "AVL-02")
	second, err := pipeline.Build(p, cat, "1.1.0")
	if err != nil {
		return nil, err
	}
	d2, err := c.Push(ctx, second, repo+":1.1.0", oci.PushOptions{SemverAliases: true})
	if err != nil {
		return nil, err
	}
	logf("pushed %s:1.1.0 with AVL-02 disabled", repo)
	diff := bundle.Diff(pulled, second)
	var buf bytes.Buffer
	if err := diff.WriteText(&buf); err != nil {
		return nil, err
	}
	logf("diff 1.0.0 → 1.1.0:\n%s", strings.TrimRight(buf.String(), "\n"))
	tags, err := c.Tags(ctx, repo)
	if err != nil {
		return nil, err
	}
	logf("tags: %s", strings.Join(tags, " "))
	return &Result{Registry: reg, First: d1.String(), Second: d2.String(), Diff: diff}, nil
}

func sameFiles(a, b *bundle.Bundle) bool {
	if len(a.Files) != len(b.Files) {
		return false
	}
	for p, data := range a.Files {
		if !bytes.Equal(data, b.Files[p]) {
			return false
		}
	}
	return true
}

// startRegistry serves an in-memory OCI registry on a loopback port.
func startRegistry() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("starting a registry on 127.0.0.1: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(nopLogger())), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
