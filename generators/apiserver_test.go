package generators

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestRealAPIServerAcceptsEveryManifest applies every object of every example bundle to a
// real kube-apiserver holding the upstream Kyverno, Istio and cert-manager CRDs, by
// server-side dry-run: the server runs its schema, CEL and admission validation.
func TestRealAPIServerAcceptsEveryManifest(t *testing.T) {
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config)
	ctx := context.Background()
	client := testenv.NewClient(c.Config)
	for _, name := range []string{"saas-starter", "payments", "brownfield-audit"} {
		t.Run(name, func(t *testing.T) {
			p, cat := loadExample(t, name)
			b, err := Build(p, cat, "1.0.0")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range b.Index.Spec.Objects {
				if o.Namespace != "" {
					client.Namespaces(t, o.Namespace)
				}
				objs, err := testenv.DecodeYAML(b.Files[o.File])
				if err != nil || len(objs) != 1 {
					t.Fatalf("%s: %v (%d objects)", o.File, err, len(objs))
				}
				if err := client.Apply(ctx, objs[0], true); err != nil {
					t.Errorf("%s refused by the API server: %v", o.File, err)
				}
			}
		})
	}

	// The check has teeth: objects the upstream schemas forbid are refused.
	broken := map[string]string{
		"PeerAuthentication with an unknown mode": `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"name":"bad","namespace":"payments"},"spec":{"mtls":{"mode":"STRONG"}}}`,
		"ValidatingPolicy with a bad action":      `{"apiVersion":"policies.kyverno.io/v1","kind":"ValidatingPolicy","metadata":{"name":"bad"},"spec":{"validationActions":["Block"],"validations":[{"expression":"true"}]}}`,
		"ClusterIssuer with an unknown field":     `{"apiVersion":"cert-manager.io/v1","kind":"ClusterIssuer","metadata":{"name":"bad"},"spec":{"ca":{"secretName":"x"},"colour":"blue"}}`,
	}
	for what, js := range broken {
		objs, err := testenv.DecodeYAML([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Apply(ctx, objs[0], true); err == nil || !(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || strings.Contains(err.Error(), "field not declared in schema")) {
			t.Errorf("%s was not refused: %v", what, err)
		}
	}
}
