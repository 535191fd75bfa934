package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KyvernoCLI returns the path of the Kyverno CLI (kubectl-kyverno) built by tools/kyverno.
func KyvernoCLI(t testing.TB) string {
	t.Helper()
	return filepath.Join(ToolsBin(t, "kyverno"), "kyverno")
}

// KyvernoRuleResult is one row of the policy report kyverno apply prints: one policy (rule)
// evaluated against one resource.
type KyvernoRuleResult struct {
	// Policy is the policy's name.
	Policy string `json:"policy"`
	// Rule is empty for CEL policies, except "exception" when a PolicyException skipped it.
	Rule string `json:"rule,omitempty"`
	// Result is pass, fail, warn, error or skip.
	Result string `json:"result"`
	// Message is the failing validation's message, or why the rule was skipped.
	Message string `json:"message,omitempty"`
	// Kind, Namespace and Name identify the resource.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Exceptions names the PolicyExceptions that skipped the rule, comma-separated.
	Exceptions string `json:"exceptions,omitempty"`
}

// KyvernoResult is what one kyverno apply reported.
type KyvernoResult struct {
	// Results are the report's rows in the CLI's order.
	Results []KyvernoRuleResult `json:"results"`
	// ExitCode is the CLI's: 1 when some resource failed or errored, else 0.
	ExitCode int `json:"exitCode"`
	// Output is everything the CLI printed, for failure messages.
	Output string `json:"-"`
}

// verdictRank orders results so one verdict sums up a resource: any failure denies it, an
// error would too (fail-closed), a warning admits it with a message, and a skip (an
// exception) counts only when nothing evaluated it.
var verdictRank = map[string]int{"skip": 1, "pass": 2, "warn": 3, "error": 4, "fail": 5}

// Verdict folds every row about one resource into fail, error, warn, pass or skip, in
// that order of precedence; "" means the CLI reported nothing for it (no policy matched).
// namespace is "" for cluster-scoped resources.
func (r KyvernoResult) Verdict(kind, namespace, name string) string {
	best := ""
	for _, row := range r.Results {
		if row.Kind == kind && row.Namespace == namespace && row.Name == name && verdictRank[row.Result] > verdictRank[best] {
			best = row.Result
		}
	}
	return best
}

// Verdicts maps "Kind/namespace/name" ("Kind/name" when cluster-scoped) to Verdict.
func (r KyvernoResult) Verdicts() map[string]string {
	out := map[string]string{}
	for _, row := range r.Results {
		key := row.Kind + "/" + row.Name
		if row.Namespace != "" {
			key = row.Kind + "/" + row.Namespace + "/" + row.Name
		}
		out[key] = r.Verdict(row.Kind, row.Namespace, row.Name)
	}
	return out
}

// validatingKinds report a row for every resource they match; the CLI drops a policy file
// it cannot load (bad YAML, an unknown field) without a word, so KyvernoApply insists each
// of these policies shows up in the report.
var validatingKinds = map[string]bool{
	"ValidatingPolicy": true, "NamespacedValidatingPolicy": true,
	"ImageValidatingPolicy": true, "NamespacedImageValidatingPolicy": true,
	"ClusterPolicy": true, "Policy": true, "ValidatingAdmissionPolicy": true,
}

// KyvernoApply evaluates policy files against resource files with the Kyverno CLI
// (kyverno apply --policy-report --output-format json) and returns its report row by row.
// extra are further apply flags, such as "--exceptions", "exception.yaml" for
// policies.kyverno.io/v1 PolicyExceptions, or "--values-file", "values.yaml".
//
// The error reports a run that proves nothing: a policy file that is missing or not YAML,
// a validating policy the report never mentions (the CLI skips policies it cannot load
// silently, and one that matches none of the resources proves nothing either), a CLI
// failure, or an exit code the report does not explain. Policy violations are not errors:
// they are rows with Result "fail" and ExitCode 1.
func KyvernoApply(t testing.TB, policyFiles, resourceFiles []string, extra ...string) (KyvernoResult, error) {
	t.Helper()
	cli := KyvernoCLI(t)
	if len(policyFiles) == 0 || len(resourceFiles) == 0 {
		return KyvernoResult{}, errors.New("kyverno apply needs at least one policy file and one resource file")
	}
	want := map[string]string{} // validating policy name -> file
	for _, f := range policyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return KyvernoResult{}, fmt.Errorf("reading policy file: %w", err)
		}
		objs, err := DecodeYAML(data)
		if err != nil {
			return KyvernoResult{}, fmt.Errorf("policy file %s: %w", f, err)
		}
		if len(objs) == 0 {
			return KyvernoResult{}, fmt.Errorf("policy file %s holds no objects", f)
		}
		for _, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				return KyvernoResult{}, fmt.Errorf("policy file %s: an object lacks apiVersion, kind or metadata.name", f)
			}
			if validatingKinds[o.GetKind()] {
				want[o.GetName()] = f
			}
		}
	}
	args := append([]string{"apply"}, policyFiles...)
	for _, r := range resourceFiles {
		args = append(args, "--resource", r)
	}
	args = append(args, extra...)
	args = append(args, "--policy-report", "--output-format", "json", "--remove-color")
	cmd := exec.Command(cli, args...)
	// Never reach a real cluster through the caller's kubeconfig.
	cmd.Env = cleanEnv("KUBECONFIG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := KyvernoResult{Output: stdout.String() + stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	default:
		return res, fmt.Errorf("running kyverno apply: %w", err)
	}
	if res.ExitCode != 0 && res.ExitCode != 1 {
		return res, fmt.Errorf("kyverno apply exited %d:\n%s", res.ExitCode, res.Output)
	}

	// The report is one JSON document per line: the merged ClusterReport, then a
	// "---"-separated PolicyReport per namespaced policy. Warnings and lists of skipped
	// policies are plain text lines around them.
	var failed int
	seen := map[string]bool{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rep struct {
			Results []struct {
				Policy     string            `json:"policy"`
				Rule       string            `json:"rule"`
				Result     string            `json:"result"`
				Message    string            `json:"message"`
				Properties map[string]string `json:"properties"`
				Resources  []struct {
					Kind      string `json:"kind"`
					Namespace string `json:"namespace"`
					Name      string `json:"name"`
				} `json:"resources"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			return res, fmt.Errorf("parsing kyverno's policy report: %w\n%s", err, res.Output)
		}
		for _, row := range rep.Results {
			if _, ok := verdictRank[row.Result]; !ok {
				return res, fmt.Errorf("kyverno reported result %q for policy %s", row.Result, row.Policy)
			}
			if row.Result == "fail" || row.Result == "error" {
				failed++
			}
			seen[row.Policy] = true
			for _, o := range row.Resources {
				res.Results = append(res.Results, KyvernoRuleResult{
					Policy: row.Policy, Rule: row.Rule, Result: row.Result, Message: row.Message,
					Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Exceptions: row.Properties["exceptions"],
				})
			}
		}
	}
	if res.ExitCode == 1 && failed == 0 {
		// Exit 1 without a failing row is the CLI failing (bad flag, unreadable resource).
		return res, fmt.Errorf("kyverno apply failed:\n%s", res.Output)
	}
	if res.ExitCode == 0 && failed > 0 {
		return res, fmt.Errorf("kyverno apply exited 0 but reported %d failures:\n%s", failed, res.Output)
	}
	for name, file := range want {
		if !seen[name] {
			return res, fmt.Errorf("kyverno apply reported nothing for policy %s (%s): the CLI silently skips a policy it cannot load (an unknown field, a bad value), or it matched none of the resources\n%s", name, file, res.Output)
		}
	}
	return res, nil
}
