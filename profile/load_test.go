package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// catalogueIDs stands in for the catalogue, which this package must not import.
var catalogueIDs = func() map[string]bool {
	ids := map[string]bool{}
	for _, f := range []struct {
		p string
		n int
		z bool
	}{{"NET", 4, false}, {"TLS", 5, false}, {"SEC", 3, false}, {"IAM", 4, false}, {"POD", 17, true}, {"SUP", 4, false}, {"CHG", 2, false}, {"AVL", 3, false}, {"LOG", 2, false}} {
		start := 1
		if f.z {
			start = 0
		}
		for i := start; i <= f.n; i++ {
			ids[fmt.Sprintf("%s-%02d", f.p, i)] = true
		}
	}
	return ids
}()

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func opts() LoadOptions {
	return LoadOptions{KnownControls: catalogueIDs, Params: testParams, Now: testNow}
}

func TestExamplesAndStarterLoad(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var profiles int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "kind: Profile") {
			continue // GitOps and RBAC manifests live beside the profiles
		}
		profiles++
		if _, err := LoadBytes(f, data, opts()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if profiles < 3 {
		t.Fatalf("found %d example profiles, want at least 3", profiles)
	}
	starter, err := Starter("soc2")
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadBytes("starter.yaml", starter, opts())
	if err != nil {
		t.Fatalf("starter profile does not validate: %v", err)
	}
	if p.Spec.Framework != "soc2" {
		t.Errorf("starter framework = %q", p.Spec.Framework)
	}
	if _, err := Starter("iso27001"); err == nil {
		t.Error("Starter accepted an unknown framework")
	}
}

func TestDefaults(t *testing.T) {
	p, err := LoadBytes("p.yaml", []byte(`apiVersion: bulwark.dev/v1alpha1
kind: Profile
metadata: {name: p}
spec:
  framework: soc2
  namespaces: {include: [a]}
  mesh: {provider: istio}
  tls:
    issuers: [{name: le, acme: {server: "https://acme.example/dir", email: a@b.example}}]
  exceptions:
    - {controls: [POD-10], namespaces: [a], reason: r, ticket: SEC-1, expires: 2027-01-01}
`), opts())
	if err != nil {
		t.Fatal(err)
	}
	s := p.Spec
	checks := []struct {
		name      string
		got, want any
	}{
		{"enforcement", s.Enforcement, Enforce},
		{"exclude", len(s.Namespaces.Exclude), len(DefaultExclude)},
		{"defaultDeny", fmt.Sprint(s.Network.DefaultDeny), "[Ingress Egress]"},
		{"allowDNS", *s.Network.AllowDNS, true},
		{"dnsNamespace", s.Network.DNSNamespace, "kube-system"},
		{"mtls", s.Mesh.MTLS, "STRICT"},
		{"rootNamespace", s.Mesh.RootNamespace, "istio-system"},
		{"requireIngressTLS", *s.TLS.RequireIngressTLS, true},
		{"acme key", s.TLS.Issuers[0].ACME.PrivateKeySecretName, "le-account-key"},
		{"exception name", s.Exceptions[0].Name, "sec-1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !p.ControlEnabled("POD-10") || p.EnforcementFor("POD-10") != Enforce {
		t.Error("POD-10 should be enabled and enforced")
	}
}

func TestExceptionExpiry(t *testing.T) {
	day := func(s string) Date { d, _ := ParseDate(s); return d }
	e := Exception{Expires: day("2026-11-24")}
	if e.Expired(testNow) {
		t.Error("an exception is valid through its expiry day")
	}
	if !e.Expired(testNow.Add(24 * time.Hour)) {
		t.Error("an exception is expired the day after")
	}
	if !(Exception{Expires: day("2026-12-10")}).ExpiresWithin(testNow, 30*24*time.Hour) {
		t.Error("expiry in 16 days should be within 30 days")
	}
	if (Exception{Expires: day("2027-06-01")}).ExpiresWithin(testNow, 30*24*time.Hour) {
		t.Error("expiry in 6 months should not be within 30 days")
	}
}

// valid is a minimal valid profile; cases replace one line or append lines.
const valid = `apiVersion: bulwark.dev/v1alpha1
kind: Profile
metadata:
  name: demo
spec:
  framework: soc2
  namespaces:
    include: [payments]
`

func TestMalformedProfiles(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		// want lists "LINE:COL path: substring" for every expected error, in order.
		want []string
	}{
		{"unknown field with suggestion", valid + "  enforcment: Audit\n", []string{`9:3 spec.enforcment: unknown field "enforcment" (did you mean "enforcement"?)`}},
		{"unknown top-level field", "apiVersoin: x\n" + valid, []string{`1:1 apiVersoin: unknown field "apiVersoin" (did you mean "apiVersion"?)`}},
		{"duplicate key", valid + "  framework: soc2\n", []string{`9:3 spec.framework: duplicate key "framework" (first set on line 6)`}},
		{"wrong type list", strings.Replace(valid, "include: [payments]", "include: payments", 1), []string{`8:14 spec.namespaces.include: expected a list, got string "payments"`}},
		{"wrong type bool", valid + "  network: {allowDNS: maybe}\n", []string{`9:23 spec.network.allowDNS: expected true or false`}},
		{"number for string", valid + "  images: {allowedRegistries: [42]}\n", []string{`9:32 spec.images.allowedRegistries[0]: expected a string, got integer "42"`}},
		{"tab indentation", strings.Replace(valid, "  framework", "\tframework", 1), []string{`6:1 tab character in indentation`}},
		{"bad enforcement", valid + "  enforcement: Block\n", []string{`9:16 spec.enforcement: "Block" is not an enforcement mode (allowed: Enforce, Audit)`}},
		{"wrong apiVersion", strings.Replace(valid, "v1alpha1", "v1", 1), []string{`1:13 apiVersion: "bulwark.dev/v1" is not supported (allowed: bulwark.dev/v1alpha1)`}},
		{"wrong kind", strings.Replace(valid, "kind: Profile", "kind: Policy", 1), []string{`2:7 kind: "Policy" is not supported (allowed: Profile)`}},
		{"missing name", strings.Replace(valid, "  name: demo\n", "  labels: {a: b}\n", 1), []string{`4:3 metadata.name: is required`}},
		{"bad namespace name", strings.Replace(valid, "[payments]", "[payments, Ledger_1]", 1), []string{`8:25 spec.namespaces.include[1]: "Ledger_1" is not a valid name`}},
		{"included and excluded", valid + "    exclude: [payments]\n", []string{`8:15 spec.namespaces.include[0]: namespace "payments" is both included and excluded`}},
		{"no namespaces selected", strings.Replace(valid, "    include: [payments]\n", "    exclude: [kube-system]\n", 1), []string{`8:5 spec.namespaces: selects no namespace`}},
		{"bad selector operator", valid + "    selector: {matchExpressions: [{key: team, operator: Has, values: [a]}]}\n", []string{`9:57 spec.namespaces.selector.matchExpressions[0].operator: "Has" is not a selector operator`}},
		{"selector In without values", valid + "    selector: {matchExpressions: [{key: team, operator: In}]}\n", []string{`9:35 spec.namespaces.selector.matchExpressions[0].values: operator In needs at least one value`}},
		{"bad label key", valid + "    sensitive: {matchLabels: {\"bad key!\": x}}\n", []string{`9:31 spec.namespaces.sensitive.matchLabels["bad key!"]: "bad key!" is not a valid label key`}},
		{"empty selector", valid + "    selector: {}\n", []string{`9:15 spec.namespaces.selector: an empty selector matches every namespace`}},
		{"registry with scheme", valid + "  images: {allowedRegistries: [\"https://ghcr.io/acme/\"]}\n", []string{`9:32 spec.images.allowedRegistries[0]: "https://ghcr.io/acme/" has a URL scheme`}},
		{"empty registry", valid + "  images: {allowedRegistries: [\"\"]}\n", []string{`9:32 spec.images.allowedRegistries[0]: is empty`}},
		{"registry with tag", valid + "  images: {allowedRegistries: [\"ghcr.io/acme/app:1.0\"]}\n", []string{`9:32 spec.images.allowedRegistries[0]: "ghcr.io/acme/app:1.0" is not a registry prefix`}},
		{"non-PEM key", valid + "  images: {signatureKeys: [{name: k, publicKey: not-a-key}]}\n", []string{`9:49 spec.images.signatureKeys[0].publicKey: is not PEM`}},
		{"private key instead of public", valid + "  images:\n    signatureKeys:\n      - name: k\n        publicKey: |\n          -----BEGIN EC PRIVATE KEY-----\n          AAAA\n          -----END EC PRIVATE KEY-----\n", []string{`12:20 spec.images.signatureKeys[0].publicKey: is a PEM "EC PRIVATE KEY" block, not a public key`}},
		{"http ACME server", valid + "  tls: {issuers: [{name: le, acme: {server: \"http://acme.example/dir\", email: a@b.example}}]}\n", []string{`9:45 spec.tls.issuers[0].acme.server: "http://acme.example/dir" is not https`}},
		{"bad email", valid + "  tls: {issuers: [{name: le, acme: {server: \"https://acme.example/dir\", email: nobody}}]}\n", []string{`9:80 spec.tls.issuers[0].acme.email: "nobody" is not an email address`}},
		{"duplicate issuer names", valid + "  tls: {issuers: [{name: ca, ca: {secretName: a}}, {name: ca, ca: {secretName: b}}]}\n", []string{`9:59 spec.tls.issuers[1].name: issuer name "ca" is used twice`}},
		{"issuer with two kinds", valid + "  tls: {issuers: [{name: x, ca: {secretName: a}, selfSigned: {}}]}\n", []string{`9:19 spec.tls.issuers[0]: sets 2 issuer kinds (set exactly one of: acme, ca, vault, selfSigned)`}},
		{"unknown disabled control", valid + "  controls: {disable: [NET-09]}\n", []string{`9:24 spec.controls.disable[0]: unknown control "NET-09" (did you mean "NET-01"?`}},
		{"unknown param control", valid + "  controls:\n    params:\n      TLS-55: {maxDuration: 1h}\n", []string{`11:7 spec.controls.params.TLS-55: unknown control "TLS-55" (did you mean "TLS-05"?`}},
		{"unknown exception control", valid + "  exceptions: [{controls: [XYZ-01], namespaces: [a], reason: r, expires: 2027-01-01}]\n", []string{`9:28 spec.exceptions[0].controls[0]: unknown control "XYZ-01"`}},
		{"unknown framework", strings.Replace(valid, "soc2", "iso27001", 1), []string{`6:14 spec.framework: unknown framework "iso27001" (allowed: soc2)`}},
		{"exception without reason", valid + "  exceptions: [{controls: [POD-10], namespaces: [a], expires: 2027-01-01}]\n", []string{`9:16 spec.exceptions[0].reason: is required`}},
		{"exception without expiry", valid + "  exceptions: [{controls: [POD-10], namespaces: [a], reason: r}]\n", []string{`9:16 spec.exceptions[0].expires: is required`}},
		{"unparseable date", valid + "  exceptions: [{controls: [POD-10], namespaces: [a], reason: r, expires: 31/03/2027}]\n", []string{`9:74 spec.exceptions[0].expires: "31/03/2027" is not a date (YYYY-MM-DD`}},
		{"impossible date", valid + "  exceptions: [{controls: [POD-10], namespaces: [a], reason: r, expires: 2027-02-30}]\n", []string{`9:74 spec.exceptions[0].expires: "2027-02-30" is not a date`}},
		{"expired exception", valid + "  exceptions: [{name: legacy-root, controls: [POD-10], namespaces: [a], reason: r, expires: 2026-11-23}]\n", []string{`9:93 spec.exceptions[0].expires: exception "legacy-root" expired on 2026-11-23`}},
		{"bad mesh mode", valid + "  mesh: {provider: istio, mtls: PERMISSIVE}\n", []string{`9:33 spec.mesh.mtls: "PERMISSIVE" does not encrypt all traffic (allowed: STRICT`}},
		{"unknown mesh provider", valid + "  mesh: {provider: linkerd}\n", []string{`9:20 spec.mesh.provider: "linkerd" is not a supported mesh (allowed: istio, none)`}},
		{"bad policy type", valid + "  network: {defaultDeny: [Ingress, Egres]}\n", []string{`9:36 spec.network.defaultDeny[1]: "Egres" is not a policy type (allowed: Ingress, Egress)`}},
		{"alias", valid + "  images: {allowedRegistries: &r [ghcr.io/a/]}\n  network: {ingressNamespaces: *r}\n", []string{
			`9:31 spec.images.allowedRegistries: YAML anchors and aliases are not supported`,
			`10:32 spec.network.ingressNamespaces: YAML anchors and aliases are not supported`}},
		{"two documents", valid + "---\n" + valid, []string{`9:1 more than one YAML document`}},
		{"invalid YAML", valid + "  images: [unclosed\n", []string{`9:1 invalid YAML`}},
		{"empty file", "\n\n", []string{`1:1 empty file`}},
		{"not a mapping", "- a\n- b\n", []string{`1:1 expected a Profile mapping`}},
		{"several errors at once", strings.Replace(valid, "soc2", "soc3", 1) + "  enforcement: Never\n  colour: blue\n", []string{
			`6:14 spec.framework: unknown framework "soc3"`,
			`9:16 spec.enforcement: "Never" is not an enforcement mode`,
			`10:3 spec.colour: unknown field "colour"`}},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes("bad.yaml", []byte(tc.yaml), opts())
			list, ok := AsErrorList(err)
			if !ok {
				t.Fatalf("want an ErrorList, got %v", err)
			}
			if len(list) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(list), len(tc.want), list)
			}
			for i, w := range tc.want {
				loc, rest, _ := strings.Cut(w, " ")
				if !strings.HasPrefix(list[i].Error(), "bad.yaml:"+loc+": ") {
					t.Errorf("error %d = %q, want location bad.yaml:%s", i, list[i].Error(), loc)
				}
				if !strings.Contains(list[i].Error(), rest) {
					t.Errorf("error %d = %q, want it to contain %q", i, list[i].Error(), rest)
				}
			}
		})
	}
}

func TestHostileInput(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("l%d", i)
		bomb += fmt.Sprintf("%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	deep := valid + "  controls:\n    params:\n      NET-04:\n        x: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
	cases := map[string][]byte{
		"alias bomb":   []byte(bomb),
		"binary":       append([]byte(valid), 0, 1, 2, 0xff),
		"invalid utf8": append([]byte(valid), "  # \xc3\x28\n"...),
		"too large":    []byte(valid + "# " + strings.Repeat("x", MaxBytes) + "\n"),
		"deep nesting": []byte(deep),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadBytes("hostile.yaml", data, opts())
			list, ok := AsErrorList(err)
			if !ok || len(list) == 0 {
				t.Fatalf("want a positioned refusal, got %v", err)
			}
			if list[0].File != "hostile.yaml" {
				t.Errorf("error names %q", list[0].File)
			}
		})
	}
}

func TestLoadFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "profile.yaml")
	if err := os.WriteFile(path, []byte(valid+"  colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, opts())
	if err == nil || !strings.HasPrefix(err.Error(), path+":9:3: spec.colour") {
		t.Fatalf("error = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), opts()); err == nil {
		t.Fatal("loading a missing file succeeded")
	}
}
