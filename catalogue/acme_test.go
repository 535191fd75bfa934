package catalogue

import (
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestACMESolverOnlyFromCertManager runs every rule against the objects cert-manager's ACME
// HTTP-01 solver creates in an application namespace (testdata/acme-solver, as cert-manager
// v1.21.2 builds them), with the payments profile's parameters. Created by cert-manager's
// controller they must all be admitted, or certificate issuance breaks under Enforce; created by
// anyone else, with the same labels, the controls the solver needs exempting from must still
// deny them, and no others.
func TestACMESolverOnlyFromCertManager(t *testing.T) {
	cat := load(t)
	params := fixtureParams(t, cat)
	certManager := admission{operation: "CREATE", username: "system:serviceaccount:cert-manager:cert-manager",
		groups: []string{"system:serviceaccounts", "system:serviceaccounts:cert-manager", "system:authenticated"}}
	impostors := map[string]admission{
		"alice":     {operation: "CREATE", username: "alice", groups: []string{"system:authenticated"}},
		"namesake":  {operation: "CREATE", username: "system:serviceaccount:payments:cert-manager", groups: []string{"system:serviceaccounts", "system:serviceaccounts:payments", "system:authenticated"}},
		"anonymous": {operation: "CREATE", username: "system:anonymous", groups: []string{"system:unauthenticated"}},
	}
	// What denies the solver's objects when cert-manager is not the one creating them.
	exempted := map[string][]string{
		"pod.yaml":     {"SUP-01", "SUP-03", "TLS-02"},
		"ingress.yaml": {"TLS-03"},
		"service.yaml": nil,
	}
	denying := func(obj *unstructured.Unstructured, req admission) []string {
		var ids []string
		for i := range cat.Controls {
			c := &cat.Controls[i]
			if c.Rule == nil {
				continue
			}
			got := evaluate(t, c, params[c.ID], obj, req)
			if len(got.errs) > 0 {
				t.Errorf("%s %s: %v", c.ID, obj.GetName(), got)
			}
			if got.matched && len(got.failures) > 0 {
				ids = append(ids, c.ID)
			}
		}
		return ids
	}
	for file, want := range exempted {
		obj, err := readObject(filepath.Join("testdata", "acme-solver", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := denying(obj, certManager); len(got) > 0 {
			t.Errorf("%s created by cert-manager's controller: denied by %v, want admitted", file, got)
		}
		for who, req := range impostors {
			if got := denying(obj, req); !slices.Equal(got, want) {
				t.Errorf("%s created by %s: denied by %v, want %v", file, who, got, want)
			}
		}
	}

	// cert-manager's own default Service type is NodePort, which NET-04 refuses whoever
	// creates it: Bulwark's ACME ClusterIssuer asks for ClusterIP instead of an exemption.
	svc, err := readObject(filepath.Join("testdata", "acme-solver", "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(svc.Object, "NodePort", "spec", "type"); err != nil {
		t.Fatal(err)
	}
	if got := denying(svc, certManager); !slices.Equal(got, []string{"NET-04"}) {
		t.Errorf("NodePort solver Service created by cert-manager: denied by %v, want [NET-04]", got)
	}
}
