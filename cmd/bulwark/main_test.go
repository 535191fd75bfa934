package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/internal/testenv"
)

// run executes bulwark in-process and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := NewRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	// report prints to the process's stderr; capture it through a pipe.
	r, w, _ := os.Pipe()
	saved := os.Stderr
	os.Stderr = w
	code := report(cmd.Execute())
	w.Close()
	os.Stderr = saved
	var reported bytes.Buffer
	_, _ = reported.ReadFrom(r)
	return out.String(), errOut.String() + reported.String(), code
}

func TestValidateExamples(t *testing.T) {
	for _, f := range []string{"saas-starter", "payments", "brownfield-audit"} {
		out, errOut, code := run(t, "", "validate", "-f", "../../examples/"+f+".yaml")
		if code != 0 || !strings.Contains(out, "valid") {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: bulwark.dev/v1alpha1\nkind: Profile\nmetadata: {name: x}\nspec:\n  framework: soc2\n  namespaces: {include: [a]}\n  controls: {disable: [NET-99]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"invalid profile", []string{"validate", "-f", bad}, 2, bad + ":7:24: spec.controls.disable[0]: unknown control \"NET-99\""},
		{"missing profile file", []string{"validate", "-f", filepath.Join(dir, "nope.yaml")}, 2, "no such file"},
		{"no -f", []string{"validate"}, 2, "a profile is required"},
		{"unknown flag", []string{"validate", "--frobnicate"}, 2, "unknown flag"},
		{"unknown control", []string{"controls", "show", "XYZ-01"}, 2, "no control"},
		{"bad output format", []string{"controls", "list", "-o", "xml"}, 2, "unknown output format"},
		{"extra argument", []string{"schema", "extra"}, 2, "accepts 0 arg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d; stderr:\n%s\nwant it to contain %q", code, tc.code, errOut, tc.want)
			}
		})
	}
}

func TestInitWritesAValidProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profile.yaml")
	if _, errOut, code := run(t, "", "init", "-o", path); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	if _, _, code := run(t, "", "init", "-o", path); code != 2 {
		t.Errorf("init over an existing file without --force: exit %d, want 2", code)
	}
	if out, errOut, code := run(t, "", "validate", "-f", path); code != 0 {
		t.Fatalf("init output does not validate: %s%s", out, errOut)
	}
	starter, _, _ := run(t, "", "init")
	if out, _, code := run(t, starter, "validate", "-f", "-"); code != 0 || !strings.Contains(out, "<stdin>") {
		t.Errorf("validate from stdin: exit %d: %s", code, out)
	}
}

func TestControlsListJSON(t *testing.T) {
	out, _, code := run(t, "", "controls", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) < 40 {
		t.Fatalf("%d controls", len(list))
	}
	for _, key := range []string{"id", "title", "tsc", "basis", "realisedBy", "params"} {
		if _, ok := list[0][key]; !ok {
			t.Errorf("controls list JSON lacks key %q", key)
		}
	}
	out, _, _ = run(t, "", "controls", "list", "--tsc", "cc6.6", "-o", "json")
	var filtered []struct {
		ID  string   `json:"id"`
		TSC []string `json:"tsc"`
	}
	if err := json.Unmarshal([]byte(out), &filtered); err != nil || len(filtered) == 0 {
		t.Fatalf("filtered list: %v %q", err, out)
	}
	for _, c := range filtered {
		if !strings.Contains(strings.Join(c.TSC, ","), "CC6.6") {
			t.Errorf("%s does not serve CC6.6", c.ID)
		}
	}
	out, _, _ = run(t, "", "controls", "list", "--family", "nope", "-o", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("empty filter result = %q, want []", out)
	}
}

func TestSchemaIsJSON(t *testing.T) {
	out, _, code := run(t, "", "schema")
	var s map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil {
		t.Fatalf("schema is not JSON (exit %d)", code)
	}
	props := s["properties"].(map[string]any)
	spec := props["spec"].(map[string]any)["properties"].(map[string]any)
	for _, k := range []string{"framework", "enforcement", "namespaces", "images", "network", "mesh", "tls", "controls", "exceptions"} {
		if _, ok := spec[k]; !ok {
			t.Errorf("schema lacks spec.%s", k)
		}
	}
	// spec.controls.params is constrained per control, as validate checks it.
	params := spec["controls"].(map[string]any)["properties"].(map[string]any)["params"].(map[string]any)
	if params["additionalProperties"] != false {
		t.Error("spec.controls.params admits unknown control ids")
	}
	byID, _ := params["properties"].(map[string]any)
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(byID) != len(cat.Controls) {
		t.Errorf("spec.controls.params names %d controls, want every control of the catalogue", len(byID))
	}
	tls, _ := byID["TLS-05"].(map[string]any)
	if tls == nil || tls["additionalProperties"] != false {
		t.Fatalf("TLS-05 params schema = %v", tls)
	}
	d, _ := tls["properties"].(map[string]any)["maxDuration"].(map[string]any)
	if d["type"] != "string" || d["pattern"] == nil {
		t.Errorf("TLS-05 maxDuration schema = %v", d)
	}
	caps, _ := byID["POD-04"].(map[string]any)["properties"].(map[string]any)["allowedCapabilities"].(map[string]any)
	if caps["type"] != "array" || caps["items"].(map[string]any)["enum"] == nil {
		t.Errorf("POD-04 allowedCapabilities schema = %v", caps)
	}
}

func TestControlsShowAndVersion(t *testing.T) {
	out, _, code := run(t, "", "controls", "show", "net-01")
	if code != 0 || !strings.Contains(out, "CC6.6") || !strings.Contains(out, "C-0260") {
		t.Errorf("show NET-01: exit %d\n%s", code, out)
	}
	out, _, code = run(t, "", "controls", "show", "POD-19")
	if code != 0 || !strings.Contains(out, "Kubernetes 1.37, pod-security-admission check hostProbesAndHostLifecycle") {
		t.Errorf("show POD-19 does not name the PSS check it implements: exit %d\n%s", code, out)
	}
	out, _, code = run(t, "", "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"catalogue": "1.1.1"`) {
		t.Errorf("version: %s", out)
	}
	out, _, code = run(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d", code)
	}
}

func TestBundleCommandsExitCodes(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if _, errOut, code := run(t, "", "build", "-f", "../../examples/payments.yaml", "-o", a, "--version", "1.0.0"); code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	if _, errOut, code := run(t, "", "build", "-f", "../../examples/payments.yaml", "-o", b, "--version", "1.1.0"); code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	if out, _, code := run(t, "", "diff", a, b); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("diff of versions with the same content: exit %d\n%s", code, out)
	}
	saas := filepath.Join(dir, "saas")
	run(t, "", "build", "-f", "../../examples/saas-starter.yaml", "-o", saas)
	if _, _, code := run(t, "", "diff", a, saas); code != 1 {
		t.Errorf("diff of different bundles: exit %d, want 1", code)
	}
	fromDir, _, _ := run(t, "", "digest", "--from", a)
	fromProfile, _, _ := run(t, "", "digest", "-f", "../../examples/payments.yaml", "--version", "1.0.0")
	if fromDir != fromProfile || !strings.HasPrefix(fromDir, "sha256:") {
		t.Errorf("digest --from %q, digest -f %q", fromDir, fromProfile)
	}
	// build refuses to replace a directory that is not a bundle.
	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("keep me"), 0o644)
	if _, _, code := run(t, "", "build", "-f", "../../examples/payments.yaml", "-o", other); code != 2 {
		t.Errorf("build over a non-bundle directory: exit %d, want 2", code)
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Error("build destroyed a directory that was not a bundle")
	}
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"push", "--from", a, "oci://127.0.0.1:1/p:1.0.0", "-q"}, 3},
		{[]string{"push", "--from", a, "oci://127.0.0.1:1/p", "-q"}, 2},
		{[]string{"pull", "oci://NOT A REF", "-o", filepath.Join(dir, "x")}, 2},
		{[]string{"build", "-f", "../../examples/payments.yaml", "-o", "-", "--version", "v1"}, 2},
	}
	for _, tc := range cases {
		if _, errOut, code := run(t, "", tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.code, errOut)
		}
	}
	// A bad tag is refused before the bundle is read: the error names the tag, not the
	// directory that does not exist.
	if _, errOut, code := run(t, "", "push", "--from", filepath.Join(dir, "none"), "oci://127.0.0.1:1/p:1.0.0", "--tag", "bad tag"); code != 2 || !strings.Contains(errOut, `tag "bad tag"`) {
		t.Errorf("push with a bad --tag: exit %d, want 2 and the tag named\n%s", code, errOut)
	}
	if out, _, code := run(t, "", "build", "-f", "../../examples/saas-starter.yaml", "-o", "-"); code != 0 || !strings.Contains(out, "kind: ValidatingPolicy") || strings.Contains(out, "kind: BundleIndex") {
		t.Errorf("build -o - should stream manifests only (exit %d)", code)
	}
}

// TestSigningCommands signs with a generated key pair and refuses what it must, against a
// real registry.
func TestSigningCommands(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dir := t.TempDir()
	t.Setenv("COSIGN_PASSWORD", "correct horse")
	prefix := filepath.Join(dir, "release")
	if _, errOut, code := run(t, "", "keys", "generate", "--output-key-prefix", prefix); code != 0 {
		t.Fatal(errOut)
	}
	if st, err := os.Stat(prefix + ".key"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", st, err)
	}
	ref := reg.Ref("policies/payments")
	if _, errOut, code := run(t, "", "push", "-q", "-f", "../../examples/payments.yaml", "--version", "1.0.0", ref+":1.0.0", "--sign-key", prefix+".key"); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := run(t, "", "push", "-q", "-f", "../../examples/payments.yaml", "--version", "1.1.0", ref+":1.1.0"); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := run(t, "", "pull", ref+":1.0.0", "-o", filepath.Join(dir, "ok"), "--verify-key", prefix+".pub"); code != 0 {
		t.Fatalf("pull of a signed bundle: %s", errOut)
	}
	_, errOut, code := run(t, "", "pull", ref+":1.1.0", "-o", filepath.Join(dir, "unsigned"), "--verify-key", prefix+".pub")
	if code != 1 || !strings.Contains(errOut, "not signed") {
		t.Errorf("pull of an unsigned bundle: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "unsigned")); err == nil {
		t.Error("a refused bundle was written")
	}
	if _, errOut, code := run(t, "", "sign", ref+":1.1.0", "--key", prefix+".key"); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := run(t, "", "pull", ref+":1.1.0", "-o", filepath.Join(dir, "late"), "--verify-key", prefix+".pub"); code != 0 {
		t.Errorf("pull after bulwark sign: %s", errOut)
	}
	if _, errOut, code := run(t, "", "push", "-q", "-f", "../../examples/saas-starter.yaml", "--version", "1.3.0", ref+":1.3.0"); code != 0 {
		t.Fatal(errOut)
	}
	// The signature is checked before any cluster is contacted: this one is unreachable.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"), 0o600)
	_, errOut, code = run(t, "", "verify", "--bundle", ref+":1.3.0", "--verify-key", prefix+".pub", "--kubeconfig", kubeconfig)
	if code != 1 || !strings.Contains(errOut, "signature refused") {
		t.Errorf("verify --verify-key of an unsigned bundle: exit %d, %s", code, errOut)
	}
	t.Setenv("COSIGN_PASSWORD", "wrong")
	if _, _, code := run(t, "", "push", "-q", "--from", filepath.Join(dir, "ok"), ref+":1.2.0", "--sign-key", prefix+".key"); code != 2 {
		t.Errorf("push with a wrong key password: exit %d, want 2", code)
	}
	if out, _, _ := run(t, "", "tags", ref); strings.Contains(out, "1.2.0") {
		t.Error("a push whose signing key could not be read still pushed")
	}
}

// TestEveryCommandHasExamples: --help shows examples on every command users run.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && !strings.HasPrefix(c.CommandPath(), "bulwark completion") && c.Example == "" {
			t.Errorf("%q has no examples in --help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := NewRootCmd()
	root.InitDefaultCompletionCmd()
	walk(root)
}
