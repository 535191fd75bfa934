package demo

import (
	"context"
	"strings"
	"testing"
)

// TestDemoRunsTheMainJob runs `bulwark demo` as a new user would, with the registry it
// starts itself.
func TestDemoRunsTheMainJob(t *testing.T) {
	var log strings.Builder
	res, err := Run(context.Background(), Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !strings.HasPrefix(res.Registry, "127.0.0.1:") {
		t.Errorf("demo registry on %s, want loopback", res.Registry)
	}
	if !strings.Contains(res.First, "@sha256:") || res.First == res.Second {
		t.Errorf("digests %q and %q", res.First, res.Second)
	}
	if strings.Join(res.Diff.ControlsRemoved, ",") != "AVL-02" {
		t.Errorf("the second version should remove AVL-02, diff says %v", res.Diff.ControlsRemoved)
	}
	for _, want := range []string{"pulled it back", "identical", "tags: 1.1.0 1.0.0"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("narrative lacks %q:\n%s", want, log.String())
		}
	}
	if _, err := Run(context.Background(), Options{Example: "nope.yaml", Log: &log}); err == nil {
		t.Error("an unknown example ran")
	}
}
