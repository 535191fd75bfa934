package bundle_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/internal/bundletest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update after reviewing the output)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (review, then go test -update):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

const policyV1 = `apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/managed-by: bulwark
    bulwark.dev/version: 1.0.0
  name: policy
spec:
  validations:
  - expression: object.spec.hostNetwork != true
    message: no host network
  - expression: object.spec.hostPID != true
  validationActions: [Deny]
`

func TestDiff(t *testing.T) {
	base := func(version string) map[string]string {
		files := bundletest.DemoFiles(3, "x")
		files["kyverno/policy.yaml"] = strings.ReplaceAll(policyV1, "1.0.0", version)
		return files
	}
	a := bundletest.Bundle(t, "1.0.0", base("1.0.0"))

	t.Run("a version bump alone is no change", func(t *testing.T) {
		d := Diff(a, bundletest.Bundle(t, "1.1.0", base("1.1.0")))
		if !d.Empty() {
			t.Errorf("diff %+v", d)
		}
	})

	files := base("1.1.0")
	files["network/ns-00/networkpolicy-deny.yaml"] = strings.Replace(files["network/ns-00/networkpolicy-deny.yaml"], `"x"`, `"y"`, 1)
	delete(files, "network/ns-01/networkpolicy-deny.yaml")
	files["tls/new.yaml"] = "apiVersion: v1\nkind: ConfigMap\n"
	files["kyverno/policy.yaml"] = strings.NewReplacer(
		"hostPID != true\n", "hostPID != true\n    message: no host PID\n",
		"[Deny]", "[Audit]",
		"bulwark.dev/version: 1.1.0", "bulwark.dev/version: 1.1.0\n    team: platform",
	).Replace(files["kyverno/policy.yaml"])
	b := bundletest.Bundle(t, "1.1.0", files)
	// POD-03 leaves, NET-01 is audited now, SEC-01 arrives.
	b.Index.Spec.Controls = []IndexControl{
		{ID: "NET-01", TSC: []string{"CC6.6"}, Probe: "default-deny", Enforcement: "Audit"},
		{ID: "SEC-01", TSC: []string{"CC6.1", "CC6.7"}},
	}
	for i, o := range b.Index.Spec.Objects {
		if o.File == "tls/new.yaml" {
			b.Index.Spec.Objects[i].Controls, b.Index.Spec.Objects[i].TSC = []string{"TLS-02"}, []string{"CC6.7"}
		}
	}
	d := Diff(a, b)

	var got []string
	for _, o := range d.Objects {
		got = append(got, o.Change+" "+o.Name+" "+strings.Join(o.Fields, ","))
	}
	want := []string{
		"changed kyverno/policy.yaml metadata.labels.team,spec.validationActions[0],spec.validations[1].message",
		"changed network/ns-00/networkpolicy-deny.yaml data.x",
		"removed network/ns-01/networkpolicy-deny.yaml ",
		"added tls/new.yaml ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("objects\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range []struct{ name, got, want string }{
		{"added", strings.Join(d.ControlsAdded, ","), "SEC-01"},
		{"removed", strings.Join(d.ControlsRemoved, ","), "POD-03"},
		{"touched", strings.Join(d.ControlsTouched, ","), "NET-01,POD-03,SEC-01,TLS-02"},
		{"TSC", strings.Join(d.TSCTouched, ","), "CC6.1,CC6.6,CC6.7"},
	} {
		if c.got != c.want {
			t.Errorf("controls %s %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(d.ControlsChanged) != 1 || d.ControlsChanged[0] != (ControlChange{"NET-01", "enforcement", "", "Audit"}) {
		t.Errorf("controls changed %+v", d.ControlsChanged)
	}

	var text bytes.Buffer
	if err := d.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff.txt", text.Bytes())
	js, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "diff.json", append(js, '\n'))
}
