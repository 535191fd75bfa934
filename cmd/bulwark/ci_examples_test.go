package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestCIExamplesRunRealCommands parses the release-pipeline examples (GitHub Actions,
// GitLab CI) and holds every bulwark command line in them to the CLI: the command exists,
// every flag is one it takes, and its arguments are what it accepts. The gate must verify
// and attest before the promotion job runs.
func TestCIExamplesRunRealCommands(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "ci", "*"))
	if len(files) < 2 {
		t.Fatalf("found %d CI examples", len(files))
	}
	expr := regexp.MustCompile(`\$\{\{[^}]*\}\}|\$\{[A-Za-z_]+\}|\$[A-Za-z_]+`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var lines []string
		var walk func(v any, key string)
		walk = func(v any, key string) {
			switch x := v.(type) {
			case map[string]any:
				for k, val := range x {
					walk(val, k)
				}
			case []any:
				for _, e := range x {
					walk(e, key)
				}
			case string:
				if key == "run" || key == "script" || key == "before_script" {
					for _, l := range strings.Split(x, "\n") {
						if l = strings.TrimSpace(l); strings.HasPrefix(l, "bulwark ") {
							lines = append(lines, l)
						}
					}
				}
			}
		}
		walk(doc, "")
		seen := map[string]bool{}
		for _, l := range lines {
			// Variables become plausible values; a redirection or pipe ends the command.
			l = expr.ReplaceAllStringFunc(l, func(m string) string {
				switch {
				case strings.Contains(m, "digest") || strings.Contains(m, "DIGEST"):
					return "sha256:" + strings.Repeat("a", 64)
				case strings.Contains(m, "BUNDLE"):
					return "ghcr.io/acme/policies/payments"
				}
				return "value"
			})
			if i := strings.IndexAny(l, ">|"); i >= 0 {
				l = l[:i]
			}
			args := strings.Fields(l)[1:]
			root := NewRootCmd()
			cmd, rest, err := root.Find(args)
			if err != nil || !cmd.Runnable() {
				t.Errorf("%s: %q is not a bulwark command: %v", filepath.Base(f), l, err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", filepath.Base(f), l, err)
				continue
			}
			if cmd.Args != nil {
				if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
					t.Errorf("%s: %q: %v", filepath.Base(f), l, err)
				}
			}
			seen[cmd.Name()] = true
			if cmd.Name() == "verify" {
				for _, flag := range []string{"attest", "flux", "wait"} {
					if !cmd.Flags().Changed(flag) {
						t.Errorf("%s: the gate's verify has no --%s", filepath.Base(f), flag)
					}
				}
			}
		}
		for _, want := range []string{"verify", "list", "flux"} {
			if !seen[want] {
				t.Errorf("%s runs no bulwark %s", filepath.Base(f), want)
			}
		}
	}
}
