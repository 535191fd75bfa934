package verify

import (
	"context"
	"errors"
	"testing"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/internal/exitcode"
)

func gateBundle(t *testing.T) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Assemble(bundle.Header{Profile: "p", Version: "1.0.0", Framework: "soc2", Catalogue: "1.0.0", Controls: []bundle.IndexControl{{ID: "NET-01"}}},
		[]bundle.Object{{Path: "network/a/networkpolicy-x.yaml", Data: []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: a}\n"),
			APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: "a", Name: "x", Controls: []string{"NET-01"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGatePolicy: the release gate's decisions before any cluster is asked.
func TestGatePolicy(t *testing.T) {
	ctx := context.Background()
	b := gateBundle(t)
	const pulled = "r.example/p@sha256:1111111111111111111111111111111111111111111111111111111111111111"

	t.Run("a directory has no signature to check", func(t *testing.T) {
		called := false
		_, err := Gate(ctx, b, GateOptions{Source: "out/p", CheckSignature: func(context.Context, string) error { called = true; return nil }})
		if exitcode.Of(err, 0) != exitcode.BadInput || called {
			t.Errorf("Gate = %v (exit %d), signature checked: %v; want exit 2 before any check", err, exitcode.Of(err, 0), called)
		}
	})
	t.Run("a refused signature stops the gate", func(t *testing.T) {
		refused := exitcode.AsFailed(errors.New("signature refused"))
		var got string
		_, err := Gate(ctx, b, GateOptions{Source: pulled, CheckSignature: func(_ context.Context, d string) error { got = d; return refused }})
		if !errors.Is(err, refused) || got != pulled[len(pulled)-71:] {
			t.Errorf("Gate = %v, checked digest %q", err, got)
		}
	})
	t.Run("no clusters and nothing wrong is exit 0", func(t *testing.T) {
		res, err := Gate(ctx, b, GateOptions{Source: "out/p"})
		if err != nil || res.Code != exitcode.OK {
			t.Errorf("Gate = %+v, %v", res, err)
		}
	})
	t.Run("a cluster that cannot be checked is exit 3", func(t *testing.T) {
		res, err := Gate(ctx, b, GateOptions{Source: pulled, Targets: []Target{{Name: "none"}}})
		if err != nil || res.Code != exitcode.Environment {
			t.Errorf("Gate = %+v, %v; want exit 3 for a cluster that could not be checked", res, err)
		}
	})
}

func TestPulledDigest(t *testing.T) {
	for src, want := range map[string]string{
		"r.example/p@sha256:" + "ab" + "00000000000000000000000000000000000000000000000000000000000000": "sha256:ab00000000000000000000000000000000000000000000000000000000000000",
		"out/p":                    "",
		"user@host/dir":            "",
		"r.example/p@sha256:short": "",
	} {
		if got, _ := pulledDigest(src); got != want {
			t.Errorf("pulledDigest(%q) = %q, want %q", src, got, want)
		}
	}
}
