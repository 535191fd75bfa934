package generators

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/profile"
)

func loadExample(t testing.TB, name string) (*profile.Profile, *catalogue.Catalogue) {
	t.Helper()
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(filepath.Join("..", "examples", name+".yaml"), profile.LoadOptions{KnownControls: cat.IDSet()})
	if err != nil {
		t.Fatal(err)
	}
	return p, cat
}

func TestBuildIsDeterministic(t *testing.T) {
	for _, name := range []string{"saas-starter", "payments", "brownfield-audit"} {
		t.Run(name, func(t *testing.T) {
			var first map[string][]byte
			for i := 0; i < 5; i++ {
				p, cat := loadExample(t, name) // fresh maps each time: iteration order varies
				b, err := Build(p, cat, "1.4.0")
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = b.Files
					continue
				}
				if len(b.Files) != len(first) {
					t.Fatalf("run %d wrote %d files, first wrote %d", i, len(b.Files), len(first))
				}
				for path, data := range b.Files {
					if !bytes.Equal(first[path], data) {
						t.Fatalf("run %d: %s differs", i, path)
					}
				}
			}
		})
	}
}

func TestBuildTracesEveryObject(t *testing.T) {
	p, cat := loadExample(t, "payments")
	b, err := Build(p, cat, "2.0.0-rc.1")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Index.Spec.Objects) == 0 {
		t.Fatal("no objects")
	}
	for _, o := range b.Index.Spec.Objects {
		data := string(b.Files[o.File])
		for _, want := range []string{"app.kubernetes.io/managed-by: bulwark", "bulwark.dev/profile: payments-soc2", "bulwark.dev/version: 2.0.0-rc.1", "bulwark.dev/controls: ", "bulwark.dev/tsc: "} {
			if !strings.Contains(data, want) {
				t.Errorf("%s lacks %q", o.File, want)
			}
		}
		if strings.Contains(data, "status:") || strings.Contains(data, "creationTimestamp") {
			t.Errorf("%s carries status or creationTimestamp", o.File)
		}
		if len(o.Controls) == 0 || len(o.TSC) == 0 {
			t.Errorf("%s: no controls or TSC in the index", o.File)
		}
		dir := strings.SplitN(o.File, "/", 2)[0]
		if !map[string]bool{"kyverno": true, "network": true, "mesh": true, "tls": true}[dir] {
			t.Errorf("%s is outside kyverno/, network/, mesh/, tls/", o.File)
		}
	}
	kust := string(b.Files["kustomization.yaml"])
	if strings.Contains(kust, "bulwark.yaml") || !strings.Contains(kust, "network/payments/networkpolicy-bulwark-default-deny.yaml") {
		t.Errorf("kustomization must list every manifest and not the index:\n%s", kust)
	}
	// The exception for POD-10 names the policy the bundle ships.
	found := false
	for _, o := range b.Index.Spec.Objects {
		if o.Kind == "PolicyException" && strings.Contains(string(b.Files[o.File]), "payments-soc2-pod-10") {
			found = true
		}
	}
	if !found {
		t.Error("no PolicyException refers to payments-soc2-pod-10")
	}
}

func TestBuildRefusesBadVersions(t *testing.T) {
	p, cat := loadExample(t, "saas-starter")
	for _, v := range []string{"1.0", "v1.0.0", "1.0.0+build.5", "01.0.0", strings.Repeat("1", 70) + ".0.0"} {
		if _, err := Build(p, cat, v); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
}

func TestDisabledControlsProduceNothing(t *testing.T) {
	p, cat := loadExample(t, "brownfield-audit")
	b, err := Build(p, cat, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range b.Index.Spec.Objects {
		for _, c := range o.Controls {
			if !p.ControlEnabled(c) {
				t.Errorf("%s realises disabled control %s", o.File, c)
			}
		}
		if o.Kind == "ValidatingPolicy" && strings.Contains(string(b.Files[o.File]), "- Deny") && !strings.HasSuffix(o.Name, "iam-04") {
			t.Errorf("%s denies in an audit-only profile", o.File)
		}
	}
}

// BenchmarkBuild1000Namespaces measures generation for a profile naming 1,000 namespaces.
func BenchmarkBuild1000Namespaces(b *testing.B) {
	cat, err := catalogue.Load()
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("apiVersion: bulwark.dev/v1alpha1\nkind: Profile\nmetadata: {name: big}\nspec:\n  framework: soc2\n  mesh: {provider: istio}\n  network: {ingressNamespaces: [ingress-nginx]}\n  namespaces:\n    include:\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "      - team-%04d\n", i)
	}
	p, err := profile.LoadBytes("big.yaml", []byte(sb.String()), profile.LoadOptions{KnownControls: cat.IDSet()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bundle, err := Build(p, cat, "1.0.0")
		if err != nil {
			b.Fatal(err)
		}
		if len(bundle.Index.Spec.Objects) < 4000 {
			b.Fatalf("%d objects", len(bundle.Index.Spec.Objects))
		}
	}
}
