package kyverno

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
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

// labelNamespaces runs one MutatingPolicy with Kyverno's engine on namespaces (name ->
// extra labels, as YAML map entries after a comma) and returns each namespace's labels
// afterwards.
func labelNamespaces(t *testing.T, policy string, namespaces map[string]string) map[string]map[string]string {
	t.Helper()
	cli := testenv.KyvernoCLI(t)
	dir := t.TempDir()
	args := []string{"apply", policy, "-o", filepath.Join(dir, "out"), "--remove-color"}
	for name, labels := range namespaces {
		path := filepath.Join(dir, "ns-"+name+".yaml")
		body := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n  labels: {kubernetes.io/metadata.name: " + name + labels + "}\n"
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--resource", path)
	}
	if b, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("kyverno apply: %v\n%s", err, b)
	}
	got := map[string]map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "out", "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		objs, err := testenv.DecodeYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			got[o.GetName()] = o.GetLabels()
		}
	}
	return got
}

// psaPolicy generates the profile's POD-00 MutatingPolicy and writes it for the CLI.
func psaPolicy(t *testing.T, p *profile.Profile, cat *catalogue.Catalogue) string {
	t.Helper()
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{t: t, dir: t.TempDir()}
	for _, o := range objs {
		if kindOf(o) == "MutatingPolicy" && o.Controls[0] == "POD-00" {
			return e.write(t, o)
		}
	}
	t.Fatal("no POD-00 MutatingPolicy")
	return ""
}

func wantPSA(t *testing.T, got map[string]map[string]string, ns, enforce string) {
	t.Helper()
	want := map[string]string{
		api.LabelPSAEnforce: enforce, api.LabelPSAEnforceVersion: "v1.37",
		api.LabelPSAWarn: "restricted", api.LabelPSAWarnVersion: "v1.37",
		api.LabelPSAAudit: "restricted", api.LabelPSAAuditVersion: "v1.37",
	}
	for k, v := range want {
		if got[ns][k] != v {
			t.Errorf("namespace %s: label %s = %q, want %q (labels %v)", ns, k, got[ns][k], v, got[ns])
		}
	}
}

// TestKyvernoEngineAuditProfileEnforcesNoPodSecurity: "every control in Audit mode so
// violations are reported, not denied" must hold for Pod Security Admission too, so the
// brownfield-audit profile's namespaces enforce privileged and only warn and audit at
// restricted, all pinned to the catalogue's Kubernetes version.
func TestKyvernoEngineAuditProfileEnforcesNoPodSecurity(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	p := golden.Examples(t, cat.IDSet())["brownfield-audit"]
	got := labelNamespaces(t, psaPolicy(t, p, cat), map[string]string{"shop": "", "billing": ", team: billing"})
	wantPSA(t, got, "shop", "privileged")
	wantPSA(t, got, "billing", "privileged")

	// One Pod Security control in Audit mode in an Enforce profile: no level that includes
	// it is enforced. POD-10 is restricted: baseline still is.
	p, cat = payments(t)
	p.Spec.Controls.Enforcement = map[string]profile.Enforcement{"POD-10": profile.Audit}
	got = labelNamespaces(t, psaPolicy(t, p, cat), map[string]string{"payments": "", "shop": ", bulwark.dev/scope: app"})
	wantPSA(t, got, "payments", "baseline")
	wantPSA(t, got, "shop", "baseline")
	// POD-03 is baseline: nothing is.
	p, cat = payments(t)
	p.Spec.Controls.Enforcement = map[string]profile.Enforcement{"POD-03": profile.Audit}
	got = labelNamespaces(t, psaPolicy(t, p, cat), map[string]string{"payments": "", "shop": ", bulwark.dev/scope: app"})
	wantPSA(t, got, "payments", "privileged")
	wantPSA(t, got, "shop", "privileged")
}

// TestKyvernoEnginePodSecurityExceptions: an exception for a Pod Security control lowers
// the enforce level of exactly its namespaces, and only until it ends.
func TestKyvernoEnginePodSecurityExceptions(t *testing.T) {
	namespaces := map[string]string{
		"legacy-batch": "", "payments": "", "ledger": "", "shop": ", bulwark.dev/scope: app",
		"vault": ", bulwark.dev/scope: app, bulwark.dev/data-class: confidential",
	}
	tomorrow := profile.Date{Time: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)}
	yesterday := profile.Date{Time: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)}
	build := func(expires profile.Date) string {
		p, cat := payments(t)
		p.Spec.Exceptions = []profile.Exception{
			// POD-03 is baseline: its namespaces enforce nothing.
			{Name: "privileged", Controls: []string{"POD-03"}, Namespaces: []string{"legacy-batch", "payments"}, Reason: "r", Expires: expires},
			// POD-10 is restricted: a sensitive namespace drops to baseline.
			{Name: "root", Controls: []string{"POD-10"}, Namespaces: []string{"ledger", "shop"}, Reason: "r", Expires: expires},
		}
		return psaPolicy(t, p, cat)
	}
	got := labelNamespaces(t, build(tomorrow), namespaces)
	wantPSA(t, got, "legacy-batch", "privileged")
	wantPSA(t, got, "payments", "privileged")
	wantPSA(t, got, "ledger", "baseline")
	wantPSA(t, got, "shop", "baseline")
	wantPSA(t, got, "vault", "restricted")

	// Expired (the profile would refuse it; the policy's clock must too).
	got = labelNamespaces(t, build(yesterday), namespaces)
	wantPSA(t, got, "legacy-batch", "baseline")
	wantPSA(t, got, "payments", "restricted")
	wantPSA(t, got, "ledger", "restricted")
	wantPSA(t, got, "shop", "baseline")
	wantPSA(t, got, "vault", "restricted")
}
