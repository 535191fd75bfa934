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
