package bundletest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"bulwark.dev/bulwark/bundle"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Bundle builds a bundle by hand through bundle.Assemble, so tests of the format, the
// registry client and signatures need no generator: every file is an object of NET-01, and
// the index lists NET-01 and POD-03.
func Bundle(t testing.TB, version string, files map[string]string) *bundle.Bundle {
	t.Helper()
	var objs []bundle.Object
	for p, data := range files {
		objs = append(objs, bundle.Object{Path: p, Data: []byte(data), APIVersion: "v1", Kind: "ConfigMap", Name: p,
			Controls: []string{"NET-01"}, TSC: []string{"CC6.6"}})
	}
	b, err := bundle.Assemble(bundle.Header{Profile: "demo", Version: version, Framework: "soc2", Catalogue: "1.0.0",
		Controls: []bundle.IndexControl{{ID: "NET-01", TSC: []string{"CC6.6"}, Probe: "default-deny"}, {ID: "POD-03", TSC: []string{"CC6.1"}, Enforcement: "Enforce"}},
	}, objs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DemoFiles returns n small objects whose content depends on extra.
func DemoFiles(n int, extra string) map[string]string {
	files := map[string]string{}
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("network/ns-%02d/networkpolicy-deny.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  labels:\n    bulwark.dev/version: 1.0.0\ndata: {x: %q}\n", i, extra)
	}
	return files
}

// PaymentsSizedFiles returns about as many files, of about the size and variety, as the
// payments example bundle: policies with long CEL expressions, per-namespace network
// policies, and mesh and TLS objects. The bytes vary per file as real objects do, so
// compression works as hard as on a real bundle.
func PaymentsSizedFiles(n int) map[string]string {
	dirs := []string{"kyverno", "network", "mesh", "tls"}
	files := map[string]string{}
	for i := 0; i < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		noise := hex.EncodeToString(sum[:])
		var sb strings.Builder
		fmt.Fprintf(&sb, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: obj-%03d\n  namespace: team-%d\n  labels:\n    app.kubernetes.io/managed-by: bulwark\n    bulwark.dev/version: 1.0.0\n", i, i%12)
		sb.WriteString("data:\n")
		for j := 0; j < 12; j++ {
			fmt.Fprintf(&sb, "  rule-%02d: \"object.spec.containers.all(c, has(c.securityContext) && c.securityContext.runAsNonRoot == true) && %s[%d] != '%s'\"\n", j, noise[:8], j, noise[j:j+16])
		}
		files[fmt.Sprintf("%s/team-%02d/obj-%03d.yaml", dirs[i%len(dirs)], i%12, i)] = sb.String()
	}
	return files
}

// FastRetries keeps tests that inject server errors from waiting out the real backoff.
var FastRetries = &remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2}

// StartRegistry serves go-containerregistry's in-process registry on 127.0.0.1, behind
// wrap when given, for unit edge cases; integration_test.go uses a real registry.
func StartRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
