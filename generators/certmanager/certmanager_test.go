package certmanager

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/cel-go/cel"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/profile"
)

func TestGolden(t *testing.T) { golden.Run(t, Generate) }

func loadCatalogue(t *testing.T) *catalogue.Catalogue {
	t.Helper()
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// load builds a profile through the real loader from a spec fragment.
func load(t *testing.T, cat *catalogue.Catalogue, spec string) *profile.Profile {
	t.Helper()
	if !strings.Contains(spec, "namespaces:") {
		spec = "namespaces: {include: [shop]}\n" + spec
	}
	doc := "apiVersion: bulwark.dev/v1alpha1\nkind: Profile\nmetadata: {name: test}\nspec:\n  framework: soc2\n" +
		"  " + strings.ReplaceAll(strings.TrimSpace(spec), "\n", "\n  ") + "\n"
	p, err := profile.LoadBytes("test.yaml", []byte(doc), profile.LoadOptions{KnownControls: cat.IDSet()})
	if err != nil {
		t.Fatalf("profile:\n%s\n%v", doc, err)
	}
	return p
}

// summary renders an object's identity and spec as compact JSON, so a case states exactly
// what the cluster receives.
func summary(t *testing.T, o generated.Object) string {
	t.Helper()
	var spec any
	switch obj := o.Object.(type) {
	case *cmapi.ClusterIssuer:
		spec = obj.Spec
	case *cmapi.Certificate:
		spec = obj.Spec
	case *rbacv1.Role:
		spec = obj.Rules
	case *rbacv1.RoleBinding:
		spec = map[string]any{"roleRef": obj.RoleRef, "subjects": obj.Subjects}
	default:
		t.Fatalf("unexpected %T", obj)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	id := o.Object.GetObjectKind().GroupVersionKind().Kind + " " + o.Object.GetName()
	if ns := o.Object.GetNamespace(); ns != "" {
		id = o.Object.GetObjectKind().GroupVersionKind().Kind + " " + ns + "/" + o.Object.GetName()
	}
	return id + " " + string(raw)
}

func TestIssuerKinds(t *testing.T) {
	cat := loadCatalogue(t)
	cases := []struct {
		name string
		spec string
		want []string
	}{{
		name: "acme with an ingress class; account key Secret defaulted",
		spec: "tls: {issuers: [{name: le, acme: {server: 'https://acme.example/dir', email: sec@acme.example, http01IngressClass: nginx}}]}",
		want: []string{`ClusterIssuer le {"acme":{"email":"sec@acme.example","server":"https://acme.example/dir","privateKeySecretRef":{"name":"le-account-key"},"solvers":[{"http01":{"ingress":{"serviceType":"ClusterIP","ingressClassName":"nginx"}}}]}}`},
	}, {
		name: "acme without an ingress class, own account key Secret",
		spec: "tls: {issuers: [{name: le, acme: {server: 'https://acme.example/dir', email: sec@acme.example, privateKeySecretName: acct}}]}",
		want: []string{`ClusterIssuer le {"acme":{"email":"sec@acme.example","server":"https://acme.example/dir","privateKeySecretRef":{"name":"acct"},"solvers":[{"http01":{"ingress":{"serviceType":"ClusterIP"}}}]}}`},
	}, {
		name: "ca",
		spec: "tls: {issuers: [{name: internal, ca: {secretName: internal-ca-pair}}]}",
		want: []string{`ClusterIssuer internal {"ca":{"secretName":"internal-ca-pair"}}`},
	}, {
		// secretRef is a non-pointer struct upstream, so it always encodes; cert-manager
		// treats an empty name as unset, and the API server dry-run test admits it.
		name: "vault with kubernetes auth and a CA bundle",
		spec: "tls: {issuers: [{name: v, vault: {server: 'https://vault.example', path: pki/sign/web, role: issuer, mountPath: /v1/auth/k8s, serviceAccount: vault-issuer, caBundleSecretName: vault-ca}}]}",
		want: []string{
			`ClusterIssuer v {"vault":{"auth":{"kubernetes":{"mountPath":"/v1/auth/k8s","secretRef":{"name":""},"serviceAccountRef":{"name":"vault-issuer"},"role":"issuer"}},"server":"https://vault.example","path":"pki/sign/web","caBundleSecretRef":{"name":"vault-ca","key":"ca.crt"}}}`,
			`Role cert-manager/test-v-vault-token [{"verbs":["create"],"apiGroups":[""],"resources":["serviceaccounts/token"],"resourceNames":["vault-issuer"]}]`,
			`RoleBinding cert-manager/test-v-vault-token {"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"test-v-vault-token"},"subjects":[{"kind":"ServiceAccount","name":"cert-manager","namespace":"cert-manager"}]}`,
		},
	}, {
		name: "vault, default mount path, no CA bundle",
		spec: "tls: {issuers: [{name: v, vault: {server: 'https://vault.example', path: pki/sign/web, role: issuer, serviceAccount: vault-issuer}}]}",
		want: []string{
			`ClusterIssuer v {"vault":{"auth":{"kubernetes":{"mountPath":"/v1/auth/kubernetes","secretRef":{"name":""},"serviceAccountRef":{"name":"vault-issuer"},"role":"issuer"}},"server":"https://vault.example","path":"pki/sign/web"}}`,
			`Role cert-manager/test-v-vault-token [{"verbs":["create"],"apiGroups":[""],"resources":["serviceaccounts/token"],"resourceNames":["vault-issuer"]}]`,
			`RoleBinding cert-manager/test-v-vault-token {"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"test-v-vault-token"},"subjects":[{"kind":"ServiceAccount","name":"cert-manager","namespace":"cert-manager"}]}`,
		},
	}, {
		name: "selfSigned bootstrap chain, common name defaulted",
		spec: "tls: {issuers: [{name: boot, selfSigned: {}}]}",
		want: []string{
			`ClusterIssuer boot-selfsigned {"selfSigned":{}}`,
			`Certificate cert-manager/boot-ca {"commonName":"boot","duration":"2160h0m0s","secretName":"boot-ca","issuerRef":{"name":"boot-selfsigned","kind":"ClusterIssuer","group":"cert-manager.io"},"isCA":true,"privateKey":{"algorithm":"ECDSA","size":256}}`,
			`ClusterIssuer boot {"ca":{"secretName":"boot-ca"}}`,
		},
	}, {
		name: "selfSigned with TLS-05 at 30 days",
		spec: "tls: {issuers: [{name: boot, selfSigned: {commonName: Acme Root}}]}\ncontrols: {params: {TLS-05: {maxDuration: 720h}}}",
		want: []string{
			`ClusterIssuer boot-selfsigned {"selfSigned":{}}`,
			`Certificate cert-manager/boot-ca {"commonName":"Acme Root","duration":"720h0m0s","secretName":"boot-ca","issuerRef":{"name":"boot-selfsigned","kind":"ClusterIssuer","group":"cert-manager.io"},"isCA":true,"privateKey":{"algorithm":"ECDSA","size":256}}`,
			`ClusterIssuer boot {"ca":{"secretName":"boot-ca"}}`,
		},
	}, {
		name: "every kind, in profile order",
		spec: "tls: {issuers: [{name: z-ca, ca: {secretName: z}}, {name: a-boot, selfSigned: {}}, {name: m-le, acme: {server: 'https://acme.example/dir', email: a@b.example}}]}",
		want: []string{
			`ClusterIssuer z-ca {"ca":{"secretName":"z"}}`,
			`ClusterIssuer a-boot-selfsigned {"selfSigned":{}}`,
			`Certificate cert-manager/a-boot-ca {"commonName":"a-boot","duration":"2160h0m0s","secretName":"a-boot-ca","issuerRef":{"name":"a-boot-selfsigned","kind":"ClusterIssuer","group":"cert-manager.io"},"isCA":true,"privateKey":{"algorithm":"ECDSA","size":256}}`,
			`ClusterIssuer a-boot {"ca":{"secretName":"a-boot-ca"}}`,
			`ClusterIssuer m-le {"acme":{"email":"a@b.example","server":"https://acme.example/dir","privateKeySecretRef":{"name":"m-le-account-key"},"solvers":[{"http01":{"ingress":{"serviceType":"ClusterIP"}}}]}}`,
		},
	}, {
		name: "no issuers",
		spec: "tls: {requireIngressTLS: true}",
	}, {
		name: "TLS-04 disabled",
		spec: "tls: {issuers: [{name: internal, ca: {secretName: internal}}]}\ncontrols: {disable: [TLS-04]}",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Generate(load(t, cat, tc.spec), cat)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != len(tc.want) {
				t.Fatalf("got %d objects, want %d", len(objs), len(tc.want))
			}
			for i, o := range objs {
				if got := summary(t, o); got != tc.want[i] {
					t.Errorf("object %d:\n got %s\nwant %s", i, got, tc.want[i])
				}
				if o.Dir != api.DirTLS || len(o.Controls) != 1 || o.Controls[0] != "TLS-04" {
					t.Errorf("%s: dir %q, controls %v", o.Object.GetName(), o.Dir, o.Controls)
				}
				if gvk := o.Object.GetObjectKind().GroupVersionKind(); gvk.GroupVersion().String() != "cert-manager.io/v1" && gvk.GroupVersion() != rbacv1.SchemeGroupVersion {
					t.Errorf("%s: apiVersion %s", o.Object.GetName(), gvk.GroupVersion())
				}
			}
		})
	}
}

func TestCADuration(t *testing.T) {
	cat := loadCatalogue(t)
	cases := []struct {
		name    string
		spec    string
		want    time.Duration
		wantErr string
	}{
		{"TLS-05 on, catalogue default", "tls: {}", 2160 * time.Hour, ""},
		{"TLS-05 off", "controls: {disable: [TLS-05], params: {TLS-05: {maxDuration: 1h}}}", DefaultCADuration, ""},
		{"shorter maximum", "controls: {params: {TLS-05: {maxDuration: 48h}}}", 48 * time.Hour, ""},
		{"longer maximum", "controls: {params: {TLS-05: {maxDuration: 8760h}}}", 8760 * time.Hour, ""},
		{"cert-manager's minimum", "controls: {params: {TLS-05: {maxDuration: 1h}}}", time.Hour, ""},
		{"below cert-manager's minimum", "controls: {params: {TLS-05: {maxDuration: 30m}}}", 0, "below cert-manager's minimum"},
		{"days are not a Go duration", "controls: {params: {TLS-05: {maxDuration: 90d}}}", 0, `maxDuration "90d"`},
		{"a number", "controls: {params: {TLS-05: {maxDuration: 2160}}}", 0, "want a duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, cat, tc.spec)
			got, err := CADuration(p, cat)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				// Generate refuses the bootstrap chain rather than emitting a CA that breaks TLS-05.
				p.Spec.TLS.Issuers = []profile.Issuer{{Name: "boot", SelfSigned: &profile.SelfSignedIssuer{CommonName: "boot"}}}
				if objs, err := Generate(p, cat); err == nil || !strings.Contains(err.Error(), "issuer boot") {
					t.Errorf("Generate: %d objects, %v; want the issuer named in an error", len(objs), err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestBootstrapCASatisfiesTLS05 evaluates the catalogue's own TLS-05 rule against the CA
// Certificate the chain emits, for several maxima: the bundle must not ship an object its
// own lifetime policy refuses.
func TestBootstrapCASatisfiesTLS05(t *testing.T) {
	cat := loadCatalogue(t)
	c, ok := cat.Get("TLS-05")
	if !ok || c.Rule == nil || len(c.Rule.Validations) == 0 {
		t.Fatal("TLS-05 has no rule")
	}
	env, err := cel.NewEnv(cel.Variable("object", cel.DynType), cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		t.Fatal(err)
	}
	var programs []cel.Program
	for _, v := range c.Rule.Validations {
		ast, iss := env.Compile(v.Expression)
		if iss.Err() != nil {
			t.Fatalf("TLS-05 rule %q: %v", v.Expression, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		programs = append(programs, prg)
	}
	admits := func(cert *cmapi.Certificate, maxDuration string) bool {
		raw, err := json.Marshal(cert)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		for _, prg := range programs {
			out, _, err := prg.Eval(map[string]any{"object": obj, "variables": map[string]any{"maxDuration": maxDuration}})
			if err != nil {
				t.Fatalf("evaluating TLS-05: %v", err)
			}
			if out.Value() != true {
				return false
			}
		}
		return true
	}
	for _, max := range []string{"1h", "90m", "720h", "2160h", "8760h"} {
		p := load(t, cat, "tls: {issuers: [{name: boot, selfSigned: {}}]}\ncontrols: {params: {TLS-05: {maxDuration: "+max+"}}}")
		objs, err := Generate(p, cat)
		if err != nil {
			t.Fatal(err)
		}
		var cert *cmapi.Certificate
		for _, o := range objs {
			if c, ok := o.Object.(*cmapi.Certificate); ok {
				cert = c
			}
		}
		if cert == nil {
			t.Fatal("no CA Certificate")
		}
		if !admits(cert, max) {
			t.Errorf("maxDuration %s: TLS-05 refuses the bootstrap CA (duration %s)", max, cert.Spec.Duration.Duration)
		}
		// The check has teeth: the same certificate under a tighter maximum is refused.
		tighter := (cert.Spec.Duration.Duration - time.Minute).String()
		if admits(cert, tighter) {
			t.Errorf("TLS-05 admits duration %s under maxDuration %s", cert.Spec.Duration.Duration, tighter)
		}
	}
}

func TestRefusesCollisions(t *testing.T) {
	cat := loadCatalogue(t)
	cases := []struct {
		name, spec, wantErr string
	}{{
		name:    "bootstrap issuer takes another issuer's name",
		spec:    "tls: {issuers: [{name: boot, selfSigned: {}}, {name: boot-selfsigned, ca: {secretName: other}}]}",
		wantErr: `ClusterIssuer "boot-selfsigned" is also emitted for issuer boot`,
	}, {
		name:    "bootstrap Certificate would overwrite a CA issuer's Secret",
		spec:    "tls: {issuers: [{name: internal, ca: {secretName: boot-ca}}, {name: boot, selfSigned: {}}]}",
		wantErr: "would overwrite Secret cert-manager/boot-ca, which issuer internal uses",
	}, {
		name:    "bootstrap Certificate would overwrite an ACME account key",
		spec:    "tls: {issuers: [{name: boot, selfSigned: {}}, {name: le, acme: {server: 'https://acme.example/d', email: a@b.example, privateKeySecretName: boot-ca}}]}",
		wantErr: "which issuer le uses",
	}, {
		name:    "derived name too long",
		spec:    "tls: {issuers: [{name: " + strings.Repeat("a", 250) + ", selfSigned: {}}]}",
		wantErr: "is not valid",
	}, {
		name:    "cert-manager's namespace in scope with a bootstrap chain",
		spec:    "namespaces: {include: [cert-manager], exclude: [kube-system]}\ntls: {issuers: [{name: boot, selfSigned: {}}]}",
		wantErr: "TLS-04 would refuse the bootstrap CA Certificate",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Generate(load(t, cat, tc.spec), cat)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %d objects, %v; want an error containing %q", len(objs), err, tc.wantErr)
			}
		})
	}
	// Secrets issuers only read may be shared.
	objs, err := Generate(load(t, cat, "tls: {issuers: [{name: a, ca: {secretName: shared}}, {name: b, ca: {secretName: shared}}]}"), cat)
	if err != nil || len(objs) != 2 {
		t.Errorf("two CA issuers reading one Secret: %d objects, %v", len(objs), err)
	}
}

// TestVaultTokenRBACMatchesFixtures holds the Role and RoleBinding a Vault issuer gets to the
// catalogue fixtures that IAM-01, IAM-02, IAM-03 and SEC-02 must admit (with the catalogue's
// CEL in catalogue/rules_test.go and with Kyverno's engine in generators/kyverno), so the
// bundle's own RBAC passes the bundle's own RBAC controls.
func TestVaultTokenRBACMatchesFixtures(t *testing.T) {
	cat := loadCatalogue(t)
	p := load(t, cat, "tls: {issuers: [{name: vault, vault: {server: 'https://vault.example', path: pki/sign/web, role: issuer, serviceAccount: vault-issuer}}]}")
	p.Metadata.Name = "payments-soc2"
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	fixtures := map[string][]string{
		"Role":        {"IAM-03/admit-vault-issuer-token-role.yaml", "SEC-02/admit-vault-issuer-token-role.yaml"},
		"RoleBinding": {"IAM-01/admit-vault-issuer-token-binding.yaml", "IAM-02/admit-vault-issuer-token-binding.yaml"},
	}
	seen := 0
	for _, o := range objs {
		kind := o.Object.GetObjectKind().GroupVersionKind().Kind
		files, ok := fixtures[kind]
		if !ok {
			continue
		}
		seen++
		data, err := generated.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		var got any
		if err := yaml.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(filepath.Join("..", "..", "catalogue", "testdata", "fixtures", f))
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := yaml.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s differs from the generated %s:\n%s", f, kind, data)
			}
		}
	}
	if seen != 2 {
		t.Errorf("a Vault issuer gave %d Roles and RoleBindings, want one of each", seen)
	}
}
