package output

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark.dev/bulwark/verify"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sample() []*verify.Report {
	obj := &verify.ObjectRef{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: "payments", Name: "bulwark-default-deny"}
	return []*verify.Report{{
		APIVersion: "bulwark.dev/v1alpha1", Kind: "VerifyReport", Cluster: "prod-eu",
		Bundle:    verify.BundleRef{Profile: "payments-soc2", Version: "1.4.0", Digest: "sha256:" + string(bytes.Repeat([]byte("a"), 64)), Framework: "soc2", Catalogue: "1.0.0"},
		CheckedAt: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
		Findings: []verify.Finding{
			{Check: verify.CheckPresent, Status: verify.Fail, Controls: []string{"NET-01"}, TSC: []string{"CC6.1", "CC6.6", "CC7.2"}, Object: obj,
				Message: "NetworkPolicy payments/bulwark-default-deny is missing", Command: "kubectl get networkpolicy.networking.k8s.io bulwark-default-deny -n payments -o yaml"},
			{Check: verify.CheckException, Status: verify.Warn, Controls: []string{"POD-10"}, TSC: []string{"CC6.1", "CC6.8"}, Message: "exception sec-142 (SEC-142) for POD-10 in legacy-batch expires on 2026-12-01"},
			{Check: verify.CheckReady, Status: verify.Pass, Controls: []string{"POD-03", "LOG-02"}, TSC: []string{"CC6.1", "CC6.8", "CC7.1", "CC8.1"}, Message: "ValidatingPolicy payments-soc2-pod-03 is ready"},
		},
		Controls: []verify.ControlResult{
			{ID: "LOG-02", Title: "Policy engine healthy, every bundle policy Ready", TSC: []string{"CC7.1", "CC8.1"}, Status: verify.Pass},
			{ID: "NET-01", Title: "Default-deny ingress and egress in every in-scope namespace", TSC: []string{"CC6.1", "CC6.6", "CC7.2"}, Status: verify.Fail, Failures: 1},
			{ID: "POD-03", Title: "No privileged containers", TSC: []string{"CC6.1", "CC6.8"}, Status: verify.Pass},
			{ID: "POD-10", Title: "Run as non-root", TSC: []string{"CC6.1", "CC6.8"}, Status: verify.Warn},
		},
		Stats: verify.Stats{APICalls: 14, Bytes: 81234, Lists: 11, Retries: 1, Namespaces: 3, Objects: 62},
	}, {
		APIVersion: "bulwark.dev/v1alpha1", Kind: "VerifyReport", Cluster: "prod-us", Findings: []verify.Finding{},
		Bundle: verify.BundleRef{Profile: "payments-soc2", Version: "1.4.0"}, Error: "cluster unreachable: dial tcp 10.0.0.1:443: i/o timeout",
	}}
}

func TestWritersGolden(t *testing.T) {
	for _, format := range Formats {
		for _, verbose := range []bool{false, true} {
			if verbose && format != "text" {
				continue
			}
			name := format
			if verbose {
				name += "-verbose"
			}
			t.Run(name, func(t *testing.T) {
				w, err := New(format, verbose)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := w.Write(&buf, sample()); err != nil {
					t.Fatal(err)
				}
				switch format {
				case "json":
					var v []verify.Report
					if err := json.Unmarshal(buf.Bytes(), &v); err != nil || len(v) != 2 || v[0].Findings[0].Command == "" {
						t.Fatalf("not a list of reports: %v", err)
					}
				case "sarif":
					var v sarifLog
					if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
						t.Fatalf("not JSON: %v", err)
					}
					// Every result must point at a rule the run defines.
					for _, run := range v.Runs {
						rules := map[string]bool{}
						for _, r := range run.Tool.Driver.Rules {
							rules[r.ID] = true
						}
						for _, res := range run.Results {
							if !rules[res.RuleID] {
								t.Errorf("result %q names undefined rule %s", res.Message.Text, res.RuleID)
							}
						}
					}
					if len(v.Runs) != 2 || len(v.Runs[0].Results) != 2 || len(v.Runs[1].Results) != 1 {
						t.Errorf("want one run per cluster, a result per failure or warning (2) and one for the unreachable cluster")
					}
				case "junit":
					var v junitSuites
					if err := xml.Unmarshal(buf.Bytes(), &v); err != nil {
						t.Fatalf("not XML: %v", err)
					}
					if v.Tests != 5 || v.Failures != 2 {
						t.Errorf("junit counts: %d tests, %d failures; want one case per control per cluster (NET-01, POD-10, POD-03, LOG-02, and the unreachable cluster), 2 failing", v.Tests, v.Failures)
					}
				}
				path := filepath.Join("testdata", name+".golden")
				if *update {
					os.MkdirAll("testdata", 0o755)
					os.WriteFile(path, buf.Bytes(), 0o644)
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(want, buf.Bytes()) {
					t.Errorf("%s differs; review and run go test -update:\n%s", path, buf.String())
				}
			})
		}
	}
	if _, err := New("xml", false); err == nil {
		t.Error("New accepted an unknown format")
	}
}

// TestOutputsNameNotApplicableControls: the text and JUnit reports say which enabled controls the bundle
// does not realise, so a reader does not take their absence for a pass.
func TestOutputsNameNotApplicableControls(t *testing.T) {
	r := &verify.Report{Cluster: "c", Converged: true, NotApplicable: []verify.NotApplicable{{ID: "TLS-02", Reason: "no mesh"}}}
	var sb strings.Builder
	w, err := New("junit", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&sb, []*verify.Report{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), `<testcase name="TLS-02" classname="c">`) || !strings.Contains(sb.String(), `<skipped message="not realised by the bundle: no mesh">`) {
		t.Errorf("junit does not skip TLS-02:\n%s", sb.String())
	}
	for verbose, want := range map[bool]string{false: "not applicable (not realised by the bundle, not checked): TLS-02", true: "N/A  TLS-02: not realised by the bundle (no mesh)"} {
		var sb strings.Builder
		w, err := New("text", verbose)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&sb, []*verify.Report{r}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sb.String(), want) {
			t.Errorf("verbose=%v: %q lacks %q", verbose, sb.String(), want)
		}
	}
}
