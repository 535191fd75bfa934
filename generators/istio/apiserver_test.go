package istio

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestAPIServerAdmitsThePeerAuthentication creates the mesh-wide PeerAuthentication by
// server-side dry-run with strict field validation against Istio's upstream CRDs, whose
// schema and CEL rules check the mode enum and the selector rules.
func TestAPIServerAdmitsThePeerAuthentication(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config, "istio")
	client := testenv.NewClient(c.Config)
	ctx := context.Background()
	for _, spec := range []string{"mesh: {provider: istio}", "mesh: {provider: istio, rootNamespace: mesh-root}"} {
		objs, err := Generate(load(t, cat, spec), cat)
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: %v, %d objects", spec, err, len(objs))
		}
		data, err := generated.Marshal(objs[0].Object)
		if err != nil {
			t.Fatal(err)
		}
		u, err := testenv.DecodeYAML(data)
		if err != nil || len(u) != 1 {
			t.Fatalf("%v (%d objects)", err, len(u))
		}
		client.Namespaces(t, u[0].GetNamespace())
		if err := client.CreateStrict(ctx, u[0]); err != nil {
			t.Errorf("refused:\n%s\n%v", data, err)
		}
	}

	// The check has teeth: a mode by number, as a copied protobuf struct would encode it,
	// and a port-level override without a selector are refused.
	for what, js := range map[string]string{
		"mode as a number":                 `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"name":"bad","namespace":"istio-system"},"spec":{"mtls":{"mode":3}}}`,
		"port-level mTLS without selector": `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"name":"bad","namespace":"istio-system"},"spec":{"mtls":{"mode":"STRICT"},"portLevelMtls":{"8080":{"mode":"DISABLE"}}}}`,
	} {
		u, err := testenv.DecodeYAML([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := client.CreateStrict(ctx, u[0]); !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
			t.Errorf("%s was not refused for its content: %v", what, err)
		}
	}
}
