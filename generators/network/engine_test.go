package network

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestKyvernoEngineGeneratesTheStaticSet runs the GeneratingPolicy with Kyverno's engine: a
// namespace matching the selector gets exactly the NetworkPolicies a named namespace gets
// statically; unselected and named namespaces get none from it.
func TestKyvernoEngineGeneratesTheStaticSet(t *testing.T) {
	cli := testenv.KyvernoCLI(t)
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	p := golden.Examples(t, cat.IDSet())["payments"]
	gp, _, err := generatingPolicy(p, cat)
	if err != nil || gp == nil {
		t.Fatalf("no GeneratingPolicy: %v", err)
	}
	dir := t.TempDir()
	data, err := generated.Marshal(gp)
	if err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "gpol.yaml")
	os.WriteFile(policy, data, 0o644)
	ns := func(name, labels string) string {
		path := filepath.Join(dir, "ns-"+name+".yaml")
		os.WriteFile(path, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+name+"\n  labels: {kubernetes.io/metadata.name: "+name+labels+"}\n"), 0o644)
		return path
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(cli, "apply", policy, "--resource", ns("shop", ", bulwark.dev/scope: app"),
		"--resource", ns("sandbox", ""), "--resource", ns("payments", ", bulwark.dev/scope: app"), "-o", out, "--remove-color")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kyverno apply: %v\n%s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.yaml"))
	generated := map[string]map[string]any{}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		objs, err := testenv.DecodeYAML(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetNamespace() != "shop" {
				t.Errorf("generated %s in %s; only shop is selected and not named", o.GetName(), o.GetNamespace())
				continue
			}
			spec, _ := o.Object["spec"].(map[string]any)
			generated[o.GetName()] = spec
		}
	}
	static := PoliciesFor(p, "shop")
	if len(generated) != len(static) {
		t.Fatalf("generated %d policies, the static set has %d", len(generated), len(static))
	}
	for _, s := range static {
		raw, _ := json.Marshal(s.Policy.Spec)
		var want map[string]any
		json.Unmarshal(raw, &want)
		gotRaw, _ := json.Marshal(generated[s.Policy.Name])
		wantRaw, _ := json.Marshal(want)
		if string(gotRaw) != string(wantRaw) {
			t.Errorf("%s: generated spec\n%s\nstatic spec\n%s", s.Policy.Name, gotRaw, wantRaw)
		}
	}
}
