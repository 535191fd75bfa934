package generators_test

import (
	"slices"
	"strings"
	"testing"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/pipeline"
)

// minimalProfile and unrealisedInMinimal are the shared minimal profile and what its bundle
// does not realise.
const minimalProfile = testenv.MinimalProfile

var unrealisedInMinimal = testenv.MinimalUnrealised

func buildMinimal(t *testing.T) *bundle.Bundle {
	t.Helper()
	b, err := pipeline.BuildBytes("minimal.yaml", []byte(minimalProfile), "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realisedByObjects are the controls at least one bundle object names.
func realisedByObjects(b *bundle.Bundle) map[string]bool {
	m := map[string]bool{}
	for _, o := range b.Index.Spec.Objects {
		for _, id := range o.Controls {
			m[id] = true
		}
	}
	return m
}

func verifyOnly(c *catalogue.Control) bool { return generators.VerifyOnly(c) }

// TestMinimalProfileClaimsOnlyRealisedControls: the index, and so the summary, diff and
// validate, lists exactly the controls an object or a verify probe realises; the eight the
// minimal profile gives nothing to act on are listed as not realised, with the reason.
func TestMinimalProfileClaimsOnlyRealisedControls(t *testing.T) {
	b := buildMinimal(t)
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	objs := realisedByObjects(b)
	for id := range unrealisedInMinimal {
		if objs[id] {
			t.Fatalf("%s is realised by an object of the minimal bundle: the test's premise is wrong", id)
		}
	}
	listed := map[string]bool{}
	for _, c := range b.Index.Spec.Controls {
		listed[c.ID] = true
		ctl, _ := cat.Get(c.ID)
		if !objs[c.ID] && !verifyOnly(ctl) {
			t.Errorf("index claims %s, which no object realises and verify does not probe alone", c.ID)
		}
		if slices.Contains(c.TSC, "A1.2") {
			t.Errorf("index claims TSC A1.2 through %s", c.ID)
		}
	}
	for id := range objs {
		if !listed[id] {
			t.Errorf("an object realises %s but the index does not list it", id)
		}
	}
	for _, id := range []string{"LOG-01", "LOG-02"} {
		if !listed[id] {
			t.Errorf("verify-only control %s is not listed", id)
		}
	}
	if got, want := len(b.Index.Spec.Controls), len(cat.Controls)-len(unrealisedInMinimal); got != want {
		t.Errorf("index lists %d controls, want %d", got, want)
	}
	got := map[string]string{}
	for _, n := range b.Index.Spec.NotRealised {
		got[n.ID] = n.Reason
	}
	for id, word := range unrealisedInMinimal {
		if !strings.Contains(got[id], word) {
			t.Errorf("notRealised %s: reason %q does not mention %q", id, got[id], word)
		}
	}
	if len(got) != len(unrealisedInMinimal) {
		t.Errorf("notRealised lists %d controls, want %d: %v", len(got), len(unrealisedInMinimal), got)
	}
	if !strings.Contains(string(b.Files[bundle.IndexFile]), "notRealised:") {
		t.Error("the serialised index has no notRealised list")
	}
}

// TestMinimalProfileOCIAnnotationClaimsOnlyRealisedControls: dev.bulwark.controls names
// the realised controls and none of the unrealised ones.
func TestMinimalProfileOCIAnnotationClaimsOnlyRealisedControls(t *testing.T) {
	b := buildMinimal(t)
	ann, err := oci.Annotations(b, oci.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Split(ann[oci.AnnotationControls], ",")
	for id := range unrealisedInMinimal {
		if slices.Contains(ids, id) {
			t.Errorf("%s claims %s", oci.AnnotationControls, id)
		}
	}
	if !slices.Contains(ids, "LOG-01") || !slices.Contains(ids, "POD-00") {
		t.Errorf("%s = %q lacks realised controls", oci.AnnotationControls, ann[oci.AnnotationControls])
	}
}

// TestExamplesClaimEqualsBundle: for every example, the index's controls are exactly those
// an object names plus the verify-only ones, and every enabled control is either listed or
// not realised with a reason the generator that skipped it gave.
func TestExamplesClaimEqualsBundle(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"brownfield-audit", "payments", "saas-starter"} {
		t.Run(name, func(t *testing.T) {
			p, _, err := pipeline.Load("../examples/"+name+".yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := pipeline.Build(p, cat, "1.0.0")
			if err != nil {
				t.Fatal(err)
			}
			objs := realisedByObjects(b)
			seen := map[string]bool{}
			for _, c := range b.Index.Spec.Controls {
				seen[c.ID] = true
				ctl, _ := cat.Get(c.ID)
				if !objs[c.ID] && !verifyOnly(ctl) {
					t.Errorf("index claims %s, which nothing realises", c.ID)
				}
			}
			for _, n := range b.Index.Spec.NotRealised {
				if seen[n.ID] || objs[n.ID] {
					t.Errorf("%s is both realised and not", n.ID)
				}
				if n.Reason == "" || strings.HasPrefix(n.Reason, "no generator") {
					t.Errorf("%s not realised without a specific reason: %q", n.ID, n.Reason)
				}
				seen[n.ID] = true
			}
			for _, c := range cat.Controls {
				if p.ControlEnabled(c.ID) != seen[c.ID] {
					t.Errorf("%s: enabled %v, but listed as realised or not: %v", c.ID, p.ControlEnabled(c.ID), seen[c.ID])
				}
			}
		})
	}
}

// TestRealisedWhenMatchesBuilds: 'controls show' says a control is realised "always when
// enabled" only if every test bundle with it enabled realises it, and names a condition for
// every control some bundle leaves unrealised.
func TestRealisedWhenMatchesBuilds(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	bundles := []*bundle.Bundle{buildMinimal(t)}
	for _, name := range []string{"brownfield-audit", "payments", "saas-starter"} {
		b, err := pipeline.BuildFile("../examples/"+name+".yaml", nil, "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		bundles = append(bundles, b)
	}
	for _, b := range bundles {
		for _, n := range b.Index.Spec.NotRealised {
			c, _ := cat.Get(n.ID)
			if generators.RealisedWhen(c) == "" {
				t.Errorf("%s: %s is not realised (%s), but RealisedWhen says always", b.Index.Spec.Profile, n.ID, n.Reason)
			}
		}
	}
	for _, c := range cat.Controls {
		if generators.VerifyOnly(&c) && generators.RealisedWhen(&c) != "" {
			t.Errorf("%s is verify-only but has a condition", c.ID)
		}
	}
}

// TestDiffReportsControlsBecomingRealised: giving the minimal profile a mesh makes its
// bundle realise TLS-01, TLS-02 and NET-03, and diff says those controls were added;
// when every enabled control was claimed regardless, diff reported none.
func TestDiffReportsControlsBecomingRealised(t *testing.T) {
	a := buildMinimal(t)
	b, err := pipeline.BuildBytes("mesh.yaml", []byte(minimalProfile+"  mesh: {provider: istio}\n"), "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	d := bundle.Diff(a, b)
	if want := []string{"NET-03", "TLS-01", "TLS-02"}; !slices.Equal(d.ControlsAdded, want) {
		t.Errorf("controls added %v, want %v", d.ControlsAdded, want)
	}
	if len(d.ControlsRemoved) != 0 {
		t.Errorf("controls removed %v", d.ControlsRemoved)
	}
	if slices.Contains(d.TSCTouched, "A1.2") {
		t.Errorf("diff touches A1.2, which neither bundle realises: %v", d.TSCTouched)
	}
}
