package generators

import (
	"sort"
	"testing"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/certmanager"
	"bulwark.dev/bulwark/generators/istio"
	"bulwark.dev/bulwark/generators/kyverno"
	"bulwark.dev/bulwark/generators/network"
	"bulwark.dev/bulwark/verify"
)

// registered is what each realisation of the catalogue has in code: the generators' and
// verify's registries of the controls they realise or check themselves.
func registered() map[string]map[string]bool {
	set := func(ids ...[]string) map[string]bool {
		m := map[string]bool{}
		for _, l := range ids {
			for _, id := range l {
				m[id] = true
			}
		}
		return m
	}
	return map[string]map[string]bool{
		"kyverno":     set(kyverno.Realised()),
		"psa":         set(kyverno.Realised()),
		"network":     set(network.Realised()),
		"istio":       set(istio.Realised()),
		"certmanager": set(certmanager.Realised()),
		"verify":      set(verify.Probes()),
	}
}

// missingRealisers returns, for every control realised by a generator, the realisations with
// neither a catalogue rule (kyverno) nor a registered realiser.
func missingRealisers(cat *catalogue.Catalogue, reg map[string]map[string]bool) []string {
	var missing []string
	for _, c := range cat.Controls {
		for _, r := range c.RealisedBy {
			if r.Generator == "kyverno" && c.Rule != nil {
				continue
			}
			if !reg[r.Generator][c.ID] {
				missing = append(missing, c.ID+" ("+r.Generator+")")
			}
		}
	}
	sort.Strings(missing)
	return missing
}

// TestEveryRealisationHasARealiser: a control the catalogue says a generator realises has a
// rule or code that realises it, and every registered id is a control of the catalogue
// that names that realisation, so neither side can drift from the other.
func TestEveryRealisationHasARealiser(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	reg := registered()
	for _, m := range missingRealisers(cat, reg) {
		t.Errorf("control %s has neither a rule nor a registered realiser", m)
	}
	for gen, ids := range reg {
		for id := range ids {
			c, ok := cat.Get(id)
			if !ok {
				t.Errorf("%s registers %s, which is not in the catalogue", gen, id)
				continue
			}
			if gen == "verify" || gen == "psa" || gen == "kyverno" {
				// verify checks controls realised elsewhere too; kyverno's realisers serve
				// kyverno and psa realisations alike.
				if gen == "kyverno" && !c.Realises("kyverno") && !c.Realises("psa") {
					t.Errorf("kyverno registers %s, which the catalogue realises with neither kyverno nor psa", id)
				}
				continue
			}
			if !c.Realises(gen) {
				t.Errorf("%s registers %s, but the catalogue does not say %s realises it", gen, id, gen)
			}
		}
	}
	// The check must fail when a realiser is missing: drop one and see it reported.
	broken := registered()
	delete(broken["network"], "NET-01")
	if got := missingRealisers(cat, broken); len(got) == 0 || got[0] != "NET-01 (network)" {
		t.Errorf("a missing realiser went unnoticed: %v", got)
	}
}
