package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"bulwark.dev/bulwark/bundle/signature"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the real bulwark binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bulwark-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "bulwark")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("building bulwark: %v\n%s", binErr, binPath)
	}
	return binPath
}

// exe runs the real binary in dir with env added to a minimal environment and no terminal
// on stdin, and returns its combined output and exit code.
func exe(t *testing.T, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "DOCKER_CONFIG=" + dir}, env...)
	cmd.Stdin = strings.NewReader("")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// TestDefectsThroughTheBinary runs, as a user would, each defect found by trying the CLI:
// credentials in references echoed, unknown commands and subcommands not exit 2, a mistyped
// directory looked up on Docker Hub, a silently unencrypted key, and klog on stderr.
func TestDefectsThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cr3t-hunter2"
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bundleDir := filepath.Join(dir, "b")
	if out, code := exe(t, dir, nil, "build", "-f", filepath.Join(testRoot(t), "examples", "saas-starter.yaml"), "-o", bundleDir); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"pull of an https URL with credentials", nil, []string{"pull", "https://ci:" + secret + "@127.0.0.1:1/p:1.0.0", "-o", filepath.Join(dir, "x")}, 2, "credentials cannot be part of a reference"},
		{"pull of an oci reference with credentials", nil, []string{"pull", "oci://ci:" + secret + "@127.0.0.1:1/p:1.0.0", "-o", filepath.Join(dir, "x")}, 2, "credentials cannot be part of a reference"},
		{"diff of an https URL with credentials", nil, []string{"diff", bundleDir, "https://ci:" + secret + "@127.0.0.1:1/p:1.0.0"}, 2, "credentials cannot be part of a reference"},
		{"verify of an https URL with credentials", nil, []string{"verify", "--kubeconfig", kubeconfig, "--bundle", "https://ci:" + secret + "@127.0.0.1:1/p:1.0.0"}, 2, "credentials cannot be part of a reference"},
		{"gitops flux with credentials", nil, []string{"gitops", "flux", "--bundle", "oci://ci:" + secret + "@127.0.0.1:1/p:1.0.0"}, 2, "credentials cannot be part of a reference"},
		{"an https URL without credentials", nil, []string{"pull", "https://127.0.0.1:1/p:1.0.0", "-o", filepath.Join(dir, "x")}, 2, "https is not a reference scheme"},
		{"an unknown command", nil, []string{"foo"}, 2, `unknown command "foo"`},
		{"an unknown subcommand", nil, []string{"controls", "lst"}, 2, `unknown command "lst" for "bulwark controls"`},
		{"a mistyped directory", nil, []string{"diff", "pay", "pya"}, 2, "pay: no such directory or reference"},
		{"a key with no password and no terminal", nil, []string{"keys", "generate"}, 2, "COSIGN_PASSWORD is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := exe(t, dir, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
			if strings.Contains(out, secret) {
				t.Errorf("the password is printed:\n%s", out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "cosign.key")); err == nil {
		t.Error("a refused keys generate wrote cosign.key")
	}

	t.Run("keys generate --no-password writes an unencrypted key, COSIGN_PASSWORD an encrypted one", func(t *testing.T) {
		out, code := exe(t, dir, nil, "keys", "generate", "--no-password", "--output-key-prefix", "plain")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		out, code = exe(t, dir, []string{"COSIGN_PASSWORD=pw"}, "keys", "generate", "--output-key-prefix", "enc")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		for prefix, wantEncrypted := range map[string]bool{"plain": false, "enc": true} {
			if _, err := os.Stat(filepath.Join(dir, prefix+".pub")); err != nil {
				t.Errorf("%s.pub: %v", prefix, err)
			}
			// Both are cosign's ENCRYPTED SIGSTORE PRIVATE KEY; an empty password opens only
			// the unencrypted one.
			data, err := os.ReadFile(filepath.Join(dir, prefix+".key"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = signature.LoadSigner(data, nil)
			if (err != nil) != wantEncrypted {
				t.Errorf("%s.key opens without a password: %v, want %v", prefix, err == nil, !wantEncrypted)
			}
		}
	})

	t.Run("no klog lines on an unreachable cluster", func(t *testing.T) {
		out, code := exe(t, dir, nil, "verify", "--kubeconfig", kubeconfig, "--bundle", bundleDir, "--request-timeout", "2s")
		if code != 3 {
			t.Errorf("exit %d, want 3:\n%s", code, out)
		}
		if klogLine := regexp.MustCompile(`(?m)^[IWEF]\d{4} \d\d:\d\d:\d\d`); klogLine.MatchString(out) {
			t.Errorf("klog wrote to stderr:\n%s", out)
		}
	})
}

// testRoot is the checkout's root, from this package's directory.
func testRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestParamDefectsThroughTheBinary runs the defects of control parameters as a user met
// them: a value of the wrong type or format passed validate (exit 0) and then failed build
// with exit 3 and no line, and a misspelt parameter name was silently ignored. Now validate
// and build agree: exit 2, with the file, line and column of the value (or of a misspelt
// key) and the parameter's path.
func TestParamDefectsThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	const head = `apiVersion: bulwark.dev/v1alpha1
kind: Profile
metadata:
  name: demo
spec:
  framework: soc2
  namespaces:
    include: [payments]
  controls:
    params:
`
	for _, tc := range []struct {
		name, params, want string
	}{
		{"a duration that is not one", "      TLS-05: {maxDuration: forever}\n",
			`:11:29: spec.controls.params.TLS-05.maxDuration: "forever" is not a duration`},
		{"a duration below the control's minimum", "      TLS-05: {maxDuration: 30m}\n",
			`:11:29: spec.controls.params.TLS-05.maxDuration: "30m" is below the minimum of 1h`},
		{"a string for a list", "      POD-04: {allowedCapabilities: SYS_ADMIN}\n",
			`:11:37: spec.controls.params.POD-04.allowedCapabilities: expected a list of strings, got string "SYS_ADMIN"`},
		{"a misspelt parameter name", "      POD-04: {allowedCapabilites: [NET_BIND_SERVICE]}\n",
			`:11:16: spec.controls.params.POD-04.allowedCapabilites: unknown parameter "allowedCapabilites" (did you mean "allowedCapabilities"?`},
		{"a bad list element", "      POD-04:\n        allowedCapabilities:\n          - NET_BIND_SERVICE\n          - CAP_SYS_ADMIN\n",
			`:14:13: spec.controls.params.POD-04.allowedCapabilities[1]: "CAP_SYS_ADMIN" is not a capability name`},
		{"an integer below the control's minimum", "      AVL-03: {minReplicas: 1}\n",
			`:11:29: spec.controls.params.AVL-03.minReplicas: 1 is below the minimum of 2`},
		{"a value outside the enum", "      NET-04: {allowedServiceTypes: [ClusterIP, NodePrt]}\n",
			`:11:49: spec.controls.params.NET-04.allowedServiceTypes[1]: "NodePrt" is not allowed (did you mean "NodePort"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(head+tc.params), 0o600); err != nil {
				t.Fatal(err)
			}
			want := path + tc.want
			for _, args := range [][]string{{"validate", "-f", path}, {"build", "-f", path, "-o", filepath.Join(dir, "out")}} {
				out, code := exe(t, dir, nil, args...)
				if code != 2 || !strings.Contains(out, want) {
					t.Errorf("%s: exit %d, want 2 with %q:\n%s", args[0], code, want, out)
				}
			}
		})
	}
}
