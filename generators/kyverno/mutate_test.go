package kyverno

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestKyvernoEngineLabelsNamespaces runs the POD-00 and TLS-02 MutatingPolicies with
// Kyverno's engine: in-scope namespaces get Pod Security labels (restricted in the sensitive
// tier, baseline elsewhere) and mesh enrolment; other namespaces are left alone.
func TestKyvernoEngineLabelsNamespaces(t *testing.T) {
	cli := testenv.KyvernoCLI(t)
	e := newEngine(t)
	dir := e.dir
	p, cat := payments(t)
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	var policies []string
	for _, o := range objs {
		if kindOf(o) == "MutatingPolicy" {
			policies = append(policies, e.write(t, o))
		}
	}
	if len(policies) != 2 {
		t.Fatalf("%d MutatingPolicies, want POD-00 and TLS-02", len(policies))
	}
	ns := func(name string, labels string) string {
		path := filepath.Join(dir, "ns-"+name+".yaml")
		body := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n  labels: {kubernetes.io/metadata.name: " + name + labels + "}\n"
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	resources := []string{
		ns("shop", ", bulwark.dev/scope: app"),
		ns("vault", ", bulwark.dev/scope: app, bulwark.dev/data-class: confidential"),
		ns("payments", ""),
		ns("sandbox", ""),
		ns("kube-system", ", bulwark.dev/scope: app"),
	}
	want := map[string]map[string]string{
		"shop":        {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted", "istio-injection": "enabled"},
		"vault":       {"pod-security.kubernetes.io/enforce": "restricted", "istio-injection": "enabled"},
		"payments":    {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/audit": "restricted", "istio-injection": "enabled"},
		"sandbox":     {"pod-security.kubernetes.io/enforce": "", "istio-injection": ""},
		"kube-system": {"pod-security.kubernetes.io/enforce": "", "istio-injection": ""},
	}
	out := filepath.Join(dir, "out")
	for _, policy := range policies {
		args := []string{"apply", policy, "-o", out, "--remove-color"}
		for _, r := range resources {
			args = append(args, "--resource", r)
		}
		if b, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
			t.Fatalf("kyverno apply: %v\n%s", err, b)
		}
		// Chain the policies: the second sees the first's labels, as admission would.
		resources = nil
		files, _ := filepath.Glob(filepath.Join(out, "*-mutated.yaml"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			objs, err := testenv.DecodeYAML(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				path := filepath.Join(dir, "chained-"+o.GetName()+".yaml")
				raw, _ := o.MarshalJSON()
				os.WriteFile(path, raw, 0o644)
				resources = append(resources, path)
			}
		}
		out = out + "-next"
	}
	got := map[string]map[string]string{}
	for _, r := range resources {
		data, _ := os.ReadFile(r)
		objs, _ := testenv.DecodeYAML(data)
		got[objs[0].GetName()] = objs[0].GetLabels()
	}
	for name, labels := range want {
		for k, v := range labels {
			if got[name][k] != v {
				t.Errorf("namespace %s: label %s = %q, want %q", name, k, got[name][k], v)
			}
		}
	}
}
