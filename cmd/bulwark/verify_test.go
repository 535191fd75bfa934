package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	oscalTypes "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"bulwark.dev/bulwark/evidence"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/oscal/oscalschema"
	"bulwark.dev/bulwark/verify"
)

// TestVerifyCommand runs `bulwark verify` against a real API server where the bundle was
// never applied (exit 1, and the report says what is missing), and alongside an unreachable
// context (exit 3, one report per context).
func TestVerifyCommand(t *testing.T) {
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config, "kyverno", "istio", "certmanager")
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	if _, errOut, code := run(t, "", "build", "-f", "../../examples/saas-starter.yaml", "-o", bundle, "--version", "1.0.0"); code != 0 {
		t.Fatal(errOut)
	}
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc.Clusters["down"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", CertificateAuthorityData: c.Config.CAData}
	kc.Contexts["down"] = &clientcmdapi.Context{Cluster: "down", AuthInfo: "admin"}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := run(t, "", "verify", "--bundle", bundle, "--kubeconfig", kubeconfig, "--context", "admin")
	if code != 1 || !strings.Contains(out, "NOT CONVERGED") || !strings.Contains(out, "is missing") || !strings.Contains(out, "kubectl get") {
		t.Fatalf("verify of an unapplied bundle: exit %d\n%s\n%s", code, out, errOut)
	}

	report := filepath.Join(dir, "verify.xml")
	out, errOut, code = run(t, "", "verify", "--bundle", bundle, "--kubeconfig", kubeconfig, "--context", "admin", "--context", "down",
		"--request-timeout", "2s", "-o", "json", "--report", report, "--report-format", "junit")
	if code != 3 {
		t.Fatalf("verify with an unreachable context: exit %d, want 3\n%s", code, errOut)
	}
	var reports []verify.Report
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(reports) != 2 || reports[0].Cluster != "admin" || reports[1].Cluster != "down" || reports[1].Error == "" || reports[0].Converged {
		t.Fatalf("reports: %+v", reports)
	}
	// -o oscal: assessment results, valid against the official schema, one result per cluster.
	out, errOut, code = run(t, "", "verify", "--bundle", bundle, "--kubeconfig", kubeconfig, "--context", "admin", "--context", "down",
		"--request-timeout", "2s", "-o", "oscal")
	var doc oscalTypes.OscalCompleteSchema
	if err := json.Unmarshal([]byte(out), &doc); code != 3 || err != nil || doc.AssessmentResults == nil || len(doc.AssessmentResults.Results) != 2 {
		t.Fatalf("verify -o oscal: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if err := oscalschema.Validate(&doc); err != nil {
		t.Errorf("verify -o oscal: %v", err)
	}
	junit, err := os.ReadFile(report)
	if err != nil || !strings.Contains(string(junit), "<testsuites") {
		t.Fatalf("--report junit: %v", err)
	}

	// Evidence: the checked cluster's statements, about the directory's digest; none for
	// the context that could not be checked; the exit code unchanged.
	evidenceDir := filepath.Join(dir, "evidence")
	if _, errOut, code := run(t, "", "verify", "--bundle", bundle, "--kubeconfig", kubeconfig, "--context", "admin", "--context", "down",
		"--request-timeout", "2s", "--evidence", evidenceDir); code != 3 {
		t.Fatalf("verify --evidence: exit %d, want 3\n%s", code, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(evidenceDir, "*.intoto.json"))
	if len(files) != 2 || !strings.Contains(files[0], "admin-") || !strings.HasSuffix(files[0], ".detail.intoto.json") || !strings.HasSuffix(files[1], ".summary.intoto.json") {
		t.Fatalf("evidence files %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		st, err := evidence.Unmarshal(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d := st.GetSubject()[0].GetDigest()["sha256"]; len(d) != 64 || st.GetSubject()[0].GetName() != "saas-soc2" {
			t.Errorf("%s: subject %v", f, st.GetSubject())
		}
		if strings.HasSuffix(f, ".summary.intoto.json") && st.GetPredicate().AsMap()["verificationResult"] != "FAILED" {
			t.Errorf("the summary of an unconverged cluster: %v", st.GetPredicate().AsMap())
		}
		if strings.Contains(string(data), c.Config.Host) {
			t.Errorf("%s names the API server", f)
		}
	}

	// A record is about the bundle verified, never a digest given by hand.
	if _, errOut, code := run(t, "", "verify", "--bundle", bundle, "--kubeconfig", kubeconfig, "--context", "admin",
		"--digest", "sha256:"+strings.Repeat("0", 64), "--evidence", evidenceDir); code != 2 || !strings.Contains(errOut, "not that bundle's digest") {
		t.Errorf("verify --digest --evidence: exit %d, want 2\n%s", code, errOut)
	}
	if _, _, code := run(t, "", "verify", "--bundle", bundle, "--kubeconfig", kubeconfig, "--context", "nope"); code != 2 {
		t.Errorf("unknown context: exit %d, want 2", code)
	}
	if _, _, code := run(t, "", "verify", "--bundle", bundle, "--kubeconfig", kubeconfig, "--flux", "no-slash"); code != 2 {
		t.Errorf("bad --flux: exit %d, want 2", code)
	}
}
