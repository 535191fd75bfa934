package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// FixtureUser is who makes a catalogue fixture's admission request.
type FixtureUser struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// FixtureUsers reads testdata/fixture-users.yaml of the catalogue (testdata is its directory):
// the user of each listed fixture, keyed by its slash path under testdata/fixtures, and alice,
// the ordinary user of every other fixture. Both the catalogue's own CEL evaluation and the
// Kyverno engine tests read it, so a fixture has one author whichever evaluates it.
func FixtureUsers(t testing.TB, testdata string) (byFixture map[string]FixtureUser, alice FixtureUser) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "fixture-users.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Users    map[string]FixtureUser `json:"users"`
		Fixtures map[string]string      `json:"fixtures"`
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		t.Fatalf("fixture-users.yaml: %v", err)
	}
	alice, ok := f.Users["alice"]
	if !ok {
		t.Fatal("fixture-users.yaml: no user alice")
	}
	byFixture = map[string]FixtureUser{}
	for fixture, name := range f.Fixtures {
		u, ok := f.Users[name]
		if !ok {
			t.Fatalf("fixture-users.yaml: %s names unknown user %s", fixture, name)
		}
		if _, err := os.Stat(filepath.Join(testdata, "fixtures", filepath.FromSlash(fixture))); err != nil {
			t.Fatalf("fixture-users.yaml: %v", err)
		}
		byFixture[fixture] = u
	}
	return byFixture, alice
}

// MinimalProfile is the smallest valid profile: one named namespace, every default. It has
// no sensitive tier, no mesh, no issuers, no registries, no signing keys and no ingress
// namespaces, so eight enabled controls have nothing to act on: MinimalUnrealised.
const MinimalProfile = `apiVersion: bulwark.dev/v1alpha1
kind: Profile
metadata:
  name: demo
spec:
  framework: soc2
  namespaces:
    include: [payments]
`

// MinimalUnrealised are the enabled controls MinimalProfile's bundle emits nothing for, with
// a word each reason must contain.
var MinimalUnrealised = map[string]string{
	"AVL-03": "sensitive",
	"SUP-03": "sensitive",
	"SUP-01": "spec.images.allowedRegistries",
	"SUP-04": "spec.images.signatureKeys",
	"TLS-01": "spec.mesh.provider",
	"TLS-02": "spec.mesh.provider",
	"TLS-04": "spec.tls.issuers",
	"NET-03": "spec.network.ingressNamespaces",
}
