package certmanager

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestAPIServerAdmitsEveryIssuerKind creates, by server-side dry-run with strict field
// validation, the objects of every issuer kind against cert-manager's upstream CRDs. (The
// CRDs hold the schema; cert-manager's own webhook, which no test runs, checks more.)
func TestAPIServerAdmitsEveryIssuerKind(t *testing.T) {
	cat := loadCatalogue(t)
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config, "certmanager")
	client := testenv.NewClient(c.Config)
	ctx := context.Background()
	p := load(t, cat, `tls:
  issuers:
  - {name: le, acme: {server: 'https://acme.example/dir', email: sec@acme.example, http01IngressClass: nginx}}
  - {name: le-default-class, acme: {server: 'https://acme.example/dir', email: sec@acme.example}}
  - {name: internal, ca: {secretName: internal-ca-pair}}
  - {name: vault, vault: {server: 'https://vault.example', path: pki/sign/web, role: issuer, serviceAccount: vault-issuer, caBundleSecretName: vault-ca}}
  - {name: vault-public, vault: {server: 'https://vault.example', path: pki/sign/web, role: issuer, mountPath: /v1/auth/k8s, serviceAccount: vault-issuer}}
  - {name: boot, selfSigned: {commonName: Acme Bootstrap CA}}
controls: {params: {TLS-05: {maxDuration: 720h}}}`)
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	// Five issuers, the bootstrap CA's three objects (self-signed issuer, CA Certificate, CA
	// issuer), and a token Role and RoleBinding for each of the two Vault issuers.
	if len(objs) != 12 {
		t.Fatalf("%d objects, want 12", len(objs))
	}
	for _, o := range objs {
		data, err := generated.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		u, err := testenv.DecodeYAML(data)
		if err != nil || len(u) != 1 {
			t.Fatalf("%s: %v (%d objects)", o.Object.GetName(), err, len(u))
		}
		if ns := u[0].GetNamespace(); ns != "" {
			client.Namespaces(t, ns)
		}
		if err := client.CreateStrict(ctx, u[0]); err != nil {
			t.Errorf("%s %s refused:\n%s\n%v", u[0].GetKind(), u[0].GetName(), data, err)
		}
	}

	// The check has teeth: what the CRD schemas forbid fails.
	for what, js := range map[string]string{
		"ClusterIssuer with an unknown field":   `{"apiVersion":"cert-manager.io/v1","kind":"ClusterIssuer","metadata":{"name":"bad"},"spec":{"ca":{"secretName":"x","secretKey":"tls.key"}}}`,
		"Certificate with an unknown algorithm": `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"bad","namespace":"cert-manager"},"spec":{"secretName":"x","commonName":"x","issuerRef":{"name":"x"},"privateKey":{"algorithm":"DSA"}}}`,
		"Certificate without a Secret to write": `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"bad","namespace":"cert-manager"},"spec":{"commonName":"x","issuerRef":{"name":"x"}}}`,
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
