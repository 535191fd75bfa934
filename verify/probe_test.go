package verify

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/profile"
)

func TestProbeNamespace(t *testing.T) {
	exc := profile.Exception{Name: "e", Controls: []string{"POD-10"}, Namespaces: []string{"apps"}, Reason: "r", Expires: profile.Date{Time: testNow.AddDate(0, 1, 0)}}
	v := &verifier{b: &bundle.Bundle{Index: bundle.Index{Spec: bundle.IndexSpec{Scope: profile.Spec{Exceptions: []profile.Exception{exc}}}}},
		opts:    Options{Now: testNow},
		inScope: []nsInScope{{"apps", false}, {"cards", true}, {"web", false}}}
	probeFor := func(id, tier string) *catalogue.Control {
		return &catalogue.Control{ID: id, Tier: tier, ProbeFixtures: &catalogue.ProbeFixtures{Deny: "deny-x.yaml", Admit: "admit-x.yaml"}}
	}
	for _, tc := range []struct {
		control *catalogue.Control
		want    string
	}{
		{probeFor("POD-03", ""), "apps"},           // outside the sensitive tier first
		{probeFor("POD-10", ""), "web"},            // not where an exception waives it
		{probeFor("SUP-03", "sensitive"), "cards"}, // the sensitive tier's own control
	} {
		if got, why := v.probeNamespace(tc.control); got != tc.want {
			t.Errorf("%s: namespace %q (%s), want %q", tc.control.ID, got, why, tc.want)
		}
	}
	v.inScope = []nsInScope{{"cards", true}}
	if got, _ := v.probeNamespace(probeFor("POD-03", "")); got != "cards" {
		t.Errorf("only a sensitive namespace in scope: %q", got)
	}
	v.inScope = []nsInScope{{"apps", false}}
	if got, why := v.probeNamespace(probeFor("SUP-03", "sensitive")); got != "" || why == "" {
		t.Errorf("no sensitive namespace: %q (%s)", got, why)
	}
	if got, why := v.probeNamespace(probeFor("POD-10", "")); got != "" || why == "" {
		t.Errorf("the only namespace waived: %q (%s)", got, why)
	}
}

func TestProbeImagesFollowTheTrustedRegistries(t *testing.T) {
	pod := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers":     []any{map[string]any{"image": "ghcr.io/acme/app@sha256:00"}},
			"initContainers": []any{map[string]any{"image": "docker.io/library/nginx:1"}},
		}}}}}
	}
	image := func(u *unstructured.Unstructured, field string) string {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", field)
		return cs[0].(map[string]any)["image"].(string)
	}
	for _, tc := range []struct {
		registries []string
		want       string
	}{
		{nil, "ghcr.io/acme/app@sha256:00"},
		{[]string{"ghcr.io/acme/"}, "ghcr.io/acme/app@sha256:00"},
		{[]string{"ghcr.io/acme"}, "ghcr.io/acme/app@sha256:00"},
		{[]string{"registry.example:5000/team/", "ghcr.io/other/"}, "registry.example:5000/team/app@sha256:00"},
		{[]string{"registry.example"}, "registry.example/app@sha256:00"},
	} {
		v := &verifier{b: &bundle.Bundle{Index: bundle.Index{Spec: bundle.IndexSpec{Scope: profile.Spec{Images: profile.Images{AllowedRegistries: tc.registries}}}}}}
		u := pod()
		v.substituteImages(u)
		if got := image(u, "containers"); got != tc.want {
			t.Errorf("registries %v: image %s, want %s", tc.registries, got, tc.want)
		}
		if got := image(u, "initContainers"); got != "docker.io/library/nginx:1" {
			t.Errorf("registries %v: a deny fixture's untrusted image was moved to %s", tc.registries, got)
		}
	}
}

func TestRefusalsNameControls(t *testing.T) {
	msg := `admission webhook "vpol.validate.kyverno.svc-fail-finegrained-payments-soc2-pod-15" denied the request: Policy payments-soc2-pod-15 failed: POD-15: containers must set allowPrivilegeEscalation: false; POD-15: again; NET-04: x`
	if got := idsIn(msg); !slices.Equal(got, []string{"POD-15", "NET-04"}) {
		t.Errorf("ids %v", got)
	}
	if got := idsIn("payments-soc2-pod-15 failed"); len(got) != 0 {
		t.Errorf("a policy name is not a control id: %v", got)
	}
	c := &catalogue.Control{ID: "POD-03", ProbeFixtures: &catalogue.ProbeFixtures{AlsoBreaks: []string{"POD-15"}}}
	for _, tc := range []struct {
		named []string
		want  bool
	}{{[]string{"POD-15"}, true}, {[]string{"POD-15", "NET-04"}, false}, {nil, false}} {
		if got := onlyOverlaps(tc.named, c); got != tc.want {
			t.Errorf("onlyOverlaps(%v) = %v, want %v", tc.named, got, tc.want)
		}
	}
}

// TestProbeRefusalsMustBeTheBundlePolicys: a control's id in a refusal is not enough; only
// Kyverno's webhook refusing in the name of one of the control's bundle policies counts.
func TestProbeRefusalsMustBeTheBundlePolicys(t *testing.T) {
	policies := []string{"p-pod-03", "p-pod-03-ephemeralcontainers"}
	for msg, want := range map[string]bool{
		`admission webhook "vpol.validate.kyverno.svc-fail-finegrained-p-pod-03" denied the request: Policy p-pod-03 failed: POD-03: privileged`: true,
		`deployments.apps "x" is forbidden: ValidatingAdmissionPolicy 'fake' with binding 'fake' denied request: POD-03: x`:                      false,
		`admission webhook "validation.gatekeeper.sh" denied the request: POD-03: privileged`:                                                    false,
		`admission webhook "vpol.validate.kyverno.svc-fail" denied the request: Policy someone-elses failed: POD-03: x`:                          false,
	} {
		if got := byBundlePolicy(msg, policies); got != want {
			t.Errorf("byBundlePolicy(%q) = %v, want %v", msg, got, want)
		}
	}
}
