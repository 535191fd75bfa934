package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/internal/testenv"
)

// minimalProfile is the shared smallest valid profile (testenv.MinimalProfile).
const minimalProfile = testenv.MinimalProfile

// unrealisedInMinimal are the controls minimalProfile's bundle does not realise, sorted.
var unrealisedInMinimal = func() []string {
	ids := make([]string, 0, len(testenv.MinimalUnrealised))
	for id := range testenv.MinimalUnrealised {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}()

// minimalCounts are the enabled (every catalogue control) and realised counts of minimalProfile.
func minimalCounts(t *testing.T) (enabled, realised int) {
	t.Helper()
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	return len(cat.Controls), len(cat.Controls) - len(unrealisedInMinimal)
}

// TestValidateCountsRealisedControls: validate says how many enabled controls the bundle
// would realise and names the others with the reason, instead of "45 of 45 in force".
func TestValidateCountsRealisedControls(t *testing.T) {
	out, errOut, code := run(t, minimalProfile, "validate", "-f", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	enabled, realised := minimalCounts(t)
	if !strings.Contains(out, fmt.Sprintf("%d of %d enabled controls realised", realised, enabled)) {
		t.Errorf("validate does not count realised controls:\n%s", out)
	}
	for _, id := range unrealisedInMinimal {
		if !strings.Contains(out, id+" (") {
			t.Errorf("validate does not name %s as not realised with its reason:\n%s", id, out)
		}
	}
	out, _, _ = run(t, minimalProfile, "validate", "-f", "-", "-o", "json")
	var res ValidateResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Controls) != realised || len(res.NotRealised) != len(unrealisedInMinimal) {
		t.Errorf("validate -o json: %d controls, %d not realised; want %d, %d", len(res.Controls), len(res.NotRealised), realised, len(unrealisedInMinimal))
	}
	for _, id := range res.Controls {
		for _, not := range unrealisedInMinimal {
			if id == not {
				t.Errorf("validate -o json claims %s", id)
			}
		}
	}
}

// TestBuildSummaryClaimsOnlyRealisedControls: build --summary lists realised controls and
// their TSC points only, and says which enabled controls are not realised.
func TestBuildSummaryClaimsOnlyRealisedControls(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(minimalProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "", "build", "-f", path, "-o", filepath.Join(dir, "out"), "--summary")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	var controls, tsc, not string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "controls: "):
			controls = l
		case strings.HasPrefix(l, "TSC points: "):
			tsc = l
		case strings.HasPrefix(l, "not realised: "):
			not = l
		}
	}
	if _, realised := minimalCounts(t); !strings.HasPrefix(controls, fmt.Sprintf("controls: %d ", realised)) {
		t.Errorf("summary: %q", controls)
	}
	for _, id := range unrealisedInMinimal {
		if strings.Contains(controls, id) {
			t.Errorf("summary claims %s: %q", id, controls)
		}
		if !strings.Contains(not, id) {
			t.Errorf("summary does not say %s is not realised: %q", id, not)
		}
	}
	if strings.Contains(tsc, "A1.2") {
		t.Errorf("summary claims A1.2: %q", tsc)
	}
}

// TestControlsGapsListsEveryUncoveredPoint: controls gaps names every SOC 2 point no control
// serves, each with a reason, including the common criteria the catalogue used to omit.
func TestControlsGapsListsEveryUncoveredPoint(t *testing.T) {
	out, errOut, code := run(t, "", "controls", "gaps")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, p := range []string{"CC1.1", "CC1.5", "CC2.3", "CC3.4", "CC4.2", "CC5.3", "CC6.4", "CC6.5", "CC7.3", "CC7.4", "CC7.5",
		"CC9.1", "CC9.2", "C1.1", "C1.2", "PI1.1", "P8.1", "A1.2", "A1.3"} {
		if !strings.Contains(out, p+" ") {
			t.Errorf("controls gaps omits %s:\n%s", p, out)
		}
	}
	if !strings.Contains(out, "50 of 61") {
		t.Errorf("controls gaps does not count the uncovered points:\n%s", out)
	}
	out, _, _ = run(t, "", "controls", "gaps", "-o", "json")
	var gaps []struct {
		TSC     []string `json:"tsc"`
		Reason  string   `json:"reason"`
		Partial bool     `json:"partial"`
	}
	if err := json.Unmarshal([]byte(out), &gaps); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range gaps {
		if g.Reason == "" {
			t.Errorf("gap %v has no reason", g.TSC)
		}
		n += len(g.TSC)
	}
	if n != 51 { // 50 uncovered, and A1.2 partially covered
		t.Errorf("controls gaps -o json lists %d points, want 51", n)
	}
}

// TestControlsShowSaysWhenABundleRealisesIt: show states the condition under which a bundle
// realises a conditional control, and that verify-only controls have no object.
func TestControlsShowSaysWhenABundleRealisesIt(t *testing.T) {
	for id, want := range map[string]string{
		"AVL-03": "In a bundle: only when the profile has a sensitive tier",
		"SUP-04": "In a bundle: only when spec.images.signatureKeys",
		"TLS-02": "In a bundle: only when spec.mesh.provider is istio",
		"LOG-01": "by verify's probe alone",
		"POD-03": "In a bundle: always when enabled",
	} {
		out, _, code := run(t, "", "controls", "show", id)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("controls show %s lacks %q:\n%s", id, want, out)
		}
	}
}
