package kyverno

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/generators/meta"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/templates"
)

// values gives the Kyverno CLI the namespaces the fixtures live in, so the policies'
// namespaceObject conditions see real labels.
const values = `apiVersion: cli.kyverno.io/v1alpha1
kind: Value
metadata: {name: namespaces}
namespaceSelector:
- {name: payments, labels: {kubernetes.io/metadata.name: payments}}
- {name: ledger, labels: {kubernetes.io/metadata.name: ledger}}
- {name: legacy-batch, labels: {kubernetes.io/metadata.name: legacy-batch}}
- {name: default, labels: {kubernetes.io/metadata.name: default}}
- {name: istio-system, labels: {kubernetes.io/metadata.name: istio-system}}
`

type report struct {
	Results []struct {
		Policy    string `json:"policy"`
		Result    string `json:"result"`
		Message   string `json:"message"`
		Resources []struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"resources"`
	} `json:"results"`
}

// kyvernoApply evaluates policies against resources with Kyverno's own engine and returns
// the result per resource name ("NAMESPACE/NAME").
func kyvernoApply(t *testing.T, cli, dir string, policies, exceptions, resources []string) map[string]string {
	t.Helper()
	args := append([]string{"apply"}, policies...)
	for _, r := range resources {
		args = append(args, "--resource", r)
	}
	for _, e := range exceptions {
		args = append(args, "--exceptions", e)
	}
	args = append(args, "--values-file", filepath.Join(dir, "values.yaml"), "--policy-report", "--output-format", "json", "--remove-color")
	cmd := exec.Command(cli, args...)
	out, err := cmd.Output()
	// The CLI exits 1 when a resource fails a policy; the report says which.
	if err != nil && cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("kyverno apply: %v\n%s", err, out)
	}
	start := strings.Index(string(out), "{")
	if start < 0 {
		t.Fatalf("kyverno apply printed no report:\n%s", out)
	}
	var rep report
	if err := json.Unmarshal(out[start:], &rep); err != nil {
		t.Fatalf("parsing the report: %v\n%s", err, out)
	}
	results := map[string]string{}
	for _, r := range rep.Results {
		for _, res := range r.Resources {
			key := res.Namespace + "/" + res.Name
			if prev := results[key]; prev == "fail" {
				continue // any failing validation fails the resource
			}
			results[key] = r.Result
		}
	}
	return results
}

// paymentsPolicies generates the payments example's Kyverno objects and a scratch
// directory holding the namespace values the CLI needs.
func paymentsPolicies(t *testing.T) ([]meta.Object, string) {
	t.Helper()
	cat, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	p := golden.Examples(t, cat.IDSet())["payments"]
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	return objs, dir
}

func writePolicy(t *testing.T, dir string, o meta.Object) string {
	t.Helper()
	data, err := meta.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.ToLower(o.Object.GetObjectKind().GroupVersionKind().Kind)+"-"+o.Object.GetName()+".yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func fixtureName(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testenv.DecodeYAML(data)
	if err != nil || len(objs) != 1 {
		t.Fatalf("%s: %v", path, err)
	}
	return objs[0].GetNamespace() + "/" + objs[0].GetName()
}

// TestKyvernoEngineEnforcesEveryRule evaluates every generated ValidatingPolicy with
// Kyverno's engine against resources it must deny and resources it must admit.
func TestKyvernoEngineEnforcesEveryRule(t *testing.T) {
	cli := testenv.KyvernoCLI(t)
	objs, dir := paymentsPolicies(t)
	fixtures := filepath.Join("..", "..", "templates", "testdata", "fixtures")
	checked := 0
	for _, o := range objs {
		if o.Object.GetObjectKind().GroupVersionKind().Kind != "ValidatingPolicy" {
			continue
		}
		id := o.Controls[0]
		t.Run(id, func(t *testing.T) {
			policy := writePolicy(t, dir, o)
			files, _ := filepath.Glob(filepath.Join(fixtures, id, "*.yaml"))
			if len(files) == 0 {
				t.Fatalf("no fixtures for %s", id)
			}
			results := kyvernoApply(t, cli, dir, []string{policy}, nil, files)
			var denied, admitted int
			for _, f := range files {
				key := fixtureName(t, f)
				want := "pass"
				if strings.HasPrefix(filepath.Base(f), "deny-") {
					want = "fail"
					denied++
				} else {
					admitted++
				}
				if got := results[key]; got != want {
					t.Errorf("%s: Kyverno says %q, want %q", filepath.Base(f), got, want)
				}
			}
			if denied == 0 || admitted == 0 {
				t.Errorf("%s needs at least one deny and one admit fixture (%d, %d)", id, denied, admitted)
			}
		})
		checked++
	}
	if checked < 30 {
		t.Fatalf("only %d ValidatingPolicies checked", checked)
	}
}

// TestExceptionsExemptExactlyWhatTheyName checks the payments example's POD-10/POD-16
// waiver for legacy-batch with Kyverno's engine: it exempts those controls there, and
// neither other namespaces nor other controls.
func TestExceptionsExemptExactlyWhatTheyName(t *testing.T) {
	cli := testenv.KyvernoCLI(t)
	objs, dir := paymentsPolicies(t)
	var pod10, pod03, exc string
	for _, o := range objs {
		switch {
		case o.Object.GetName() == "payments-soc2-pod-10":
			pod10 = writePolicy(t, dir, o)
		case o.Object.GetName() == "payments-soc2-pod-03":
			pod03 = writePolicy(t, dir, o)
		case o.Object.GetObjectKind().GroupVersionKind().Kind == "PolicyException" && strings.Contains(o.Object.GetName(), "sec-142"):
			exc = writePolicy(t, dir, o)
		}
	}
	if pod10 == "" || pod03 == "" || exc == "" {
		t.Fatal("payments example lacks the POD-10 policy, the POD-03 policy or the SEC-142 exception")
	}
	root := `apiVersion: v1
kind: Pod
metadata: {name: vendor-batch, namespace: NS}
spec:
  automountServiceAccountToken: false
  containers:
  - name: app
    image: ghcr.io/acme/vendor@sha256:` + strings.Repeat("a", 64) + `
    securityContext: {PRIV}
`
	write := func(name, ns, priv string) string {
		path := filepath.Join(dir, name+".yaml")
		body := strings.ReplaceAll(strings.ReplaceAll(root, "NS", ns), "PRIV", priv)
		body = strings.Replace(body, "name: vendor-batch", "name: "+name, 1)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	legacy := write("root-in-legacy", "legacy-batch", "")
	payments := write("root-in-payments", "payments", "")
	privileged := write("privileged-in-legacy", "legacy-batch", "privileged: true")

	got := kyvernoApply(t, cli, dir, []string{pod10}, []string{exc}, []string{legacy, payments})
	if got["legacy-batch/root-in-legacy"] == "fail" {
		t.Error("POD-10 still denies in legacy-batch despite exception SEC-142")
	}
	if got["payments/root-in-payments"] != "fail" {
		t.Errorf("POD-10 in payments: %q, want fail (the exception names legacy-batch only)", got["payments/root-in-payments"])
	}
	got = kyvernoApply(t, cli, dir, []string{pod03}, []string{exc}, []string{privileged})
	if got["legacy-batch/privileged-in-legacy"] != "fail" {
		t.Errorf("POD-03 in legacy-batch: %q, want fail (the exception waives POD-10 and POD-16 only)", got["legacy-batch/privileged-in-legacy"])
	}
}
