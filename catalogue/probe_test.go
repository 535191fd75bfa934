package catalogue

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestProbeFixtures: every control with a rule names a deny and an admit fixture that need
// no particular user, and, as verify sends them (Pod fixtures of autogen rules wrapped in a
// Deployment), the deny fixture breaks that control and no other, and the admit fixture
// breaks none: on a cluster a probe refused by another control first would prove nothing.
func TestProbeFixtures(t *testing.T) {
	cat := load(t)
	params := fixtureParams(t, cat)
	users, alice := fixtureUsers(t)
	probed := 0
	for i := range cat.Controls {
		c := &cat.Controls[i]
		if c.Rule == nil {
			if c.ProbeFixtures != nil {
				t.Errorf("%s has no rule but names probe fixtures", c.ID)
			}
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			pf := c.ProbeFixtures
			switch {
			case pf == nil && c.NoProbe != "":
				t.Skipf("not probed: %s", c.NoProbe)
			case pf == nil:
				t.Fatalf("%s has a rule but neither probeFixtures nor noProbe", c.ID)
			case c.NoProbe != "":
				t.Errorf("%s has probeFixtures and noProbe", c.ID)
			}
			if !strings.HasPrefix(pf.Deny, "deny-") || !strings.HasPrefix(pf.Admit, "admit-") {
				t.Errorf("probeFixtures %+v: deny names a deny-*.yaml, admit an admit-*.yaml", pf)
			}
			for _, f := range []string{pf.Deny, pf.Admit} {
				if _, special := users[c.ID+"/"+f]; special {
					t.Errorf("%s needs user %s: verify sends probes as whoever runs it", f, users[c.ID+"/"+f].Username)
				}
			}
			deny, admit, err := c.ProbeObjects()
			if err != nil {
				t.Fatal(err)
			}
			if c.Rule.Autogen && deny.GetKind() == "Pod" {
				t.Errorf("a Pod fixture of an autogen rule was sent as a Pod")
			}
			req := admission{operation: "CREATE", username: alice.Username, groups: alice.Groups}
			breaks := func(obj *unstructured.Unstructured) []string {
				var ids []string
				for j := range cat.Controls {
					other := &cat.Controls[j]
					// verify sends a probe of a control for every namespace to one outside
					// the sensitive tier when there is one.
					if other.Rule == nil || (other.Tier == "sensitive" && c.Tier != "sensitive") {
						continue
					}
					got := evaluate(t, other, params[other.ID], obj, req)
					if len(got.errs) > 0 {
						t.Errorf("%s on %s: %v", other.ID, obj.GetName(), got)
					}
					if len(got.failures) > 0 {
						ids = append(ids, other.ID)
					}
				}
				return ids
			}
			want := append([]string{c.ID}, pf.AlsoBreaks...)
			slices.Sort(want)
			if got := breaks(deny); !slices.Equal(got, want) {
				t.Errorf("deny probe %s (%s) breaks %v, want %v", pf.Deny, deny.GetKind(), got, want)
			}
			for _, other := range pf.AlsoBreaks {
				if o, ok := cat.Get(other); !ok || o.Rule == nil {
					t.Errorf("alsoBreaks names %s, not a control with a rule", other)
				}
			}
			if got := breaks(admit); len(got) > 0 {
				t.Errorf("admit probe %s (%s) breaks %v, want none", pf.Admit, admit.GetKind(), got)
			}
		})
		probed++
	}
	if probed < 38 {
		t.Errorf("only %d controls probed", probed)
	}
}
