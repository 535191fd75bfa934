package generators_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/fleet"
	"bulwark.dev/bulwark/pipeline"
)

var updateDigests = flag.Bool("update-digests", false, "rewrite testdata/digests.golden")

// TestDigestsAreStableAcrossCheckouts pins the OCI digest of each example at 1.0.0: a fresh
// clone on another machine must build byte-identical bundles, so CI on a clean checkout
// reproduces these exact digests.
func TestDigestsAreStableAcrossCheckouts(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	var sb strings.Builder
	for _, name := range []string{"brownfield-audit", "payments", "saas-starter"} {
		// Through the pipeline every command uses, so the pinned digests are those users get.
		b, err := pipeline.BuildFile(filepath.Join("..", "examples", name+".yaml"), nil, "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		d, err := oci.Digest(b, oci.PackOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s 1.0.0 %s\n", name, d)
	}
	// A fleet-size profile, whose layer is compressed in several chunks (the examples' fit in one).
	b, err := pipeline.BuildBytes("fleet.yaml", fleet.Profile(1000), "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := oci.Digest(b, oci.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&sb, "fleet-1000-namespaces 1.0.0 %s\n", d)
	path := filepath.Join("testdata", "digests.golden")
	if *updateDigests {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update-digests after reviewing the change)", err)
	}
	if string(want) != sb.String() {
		t.Errorf("bundle digests changed:\n got %s\nwant %s\nAny change to generated objects changes them; review and run go test -update-digests.", sb.String(), want)
	}
}
