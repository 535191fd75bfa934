package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	oscalTypes "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"bulwark.dev/bulwark/evidence"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/oscal"
)

// TestEvidenceCommands: verify --attest on two real clusters, twice, leaves four signed
// records beside the bundle; evidence list shows them, evidence show prints one and refuses
// them all with another key (exit 1).
func TestEvidenceCommands(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	a, b := testenv.StartCluster(t), testenv.StartCluster(t)
	dir := t.TempDir()
	t.Setenv("COSIGN_PASSWORD", "pw")
	key := filepath.Join(dir, "release")
	other := filepath.Join(dir, "other")
	for _, k := range []string{key, other} {
		if _, errOut, code := run(t, "", "keys", "generate", "--output-key-prefix", k); code != 0 {
			t.Fatal(errOut)
		}
	}
	ref := reg.Ref("policies/saas") + ":1.0.0"
	if _, errOut, code := run(t, "", "push", "-q", "-f", "../../examples/saas-starter.yaml", "--version", "1.0.0", ref); code != 0 {
		t.Fatal(errOut)
	}
	kc := clientcmdapi.NewConfig()
	for name, c := range map[string]*testenv.Cluster{"east": a, "west": b} {
		loaded, err := clientcmd.LoadFromFile(c.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		ctx := loaded.Contexts[loaded.CurrentContext]
		kc.Clusters[name] = loaded.Clusters[ctx.Cluster]
		kc.AuthInfos[name] = loaded.AuthInfos[ctx.AuthInfo]
		kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		// The bundle was never applied: not converged (exit 1), and recorded as such.
		if _, errOut, code := run(t, "", "verify", "--bundle", ref, "--kubeconfig", kubeconfig, "--context", "east", "--context", "west", "--attest", key+".key"); code != 1 || !strings.Contains(errOut, "attached the verification of west") {
			t.Fatalf("verify --attest: exit %d\n%s", code, errOut)
		}
	}
	out, errOut, code := run(t, "", "evidence", "list", ref, "--key", key+".pub", "-o", "json")
	if code != 0 {
		t.Fatalf("evidence list: exit %d\n%s", code, errOut)
	}
	var listed struct {
		Bundle  string            `json:"bundle"`
		Records []evidence.Record `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(listed.Records) != 4 {
		t.Fatalf("%d records, want 4: %s", len(listed.Records), out)
	}
	for i, r := range listed.Records {
		wantCluster := []string{"east", "east", "west", "west"}[i]
		if r.Cluster != wantCluster || r.Signature != "verified" || r.Result != evidence.Failed || !r.Summarised || r.ClusterUID == "" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if listed.Records[0].ClusterUID == listed.Records[2].ClusterUID {
		t.Error("two clusters with one kube-system UID")
	}
	out, errOut, code = run(t, "", "evidence", "show", ref, "--cluster", "west", "--key", key+".pub")
	if code != 0 || !strings.Contains(out, `"cluster": "west"`) || !strings.Contains(out, `"controls"`) {
		t.Errorf("evidence show: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := run(t, "", "evidence", "show", ref, "--cluster", listed.Records[0].ClusterUID, "--key", key+".pub"); code != 0 || !strings.Contains(out, `"cluster": "east"`) {
		t.Errorf("evidence show by kube-system UID: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, errOut, code := run(t, "", "evidence", "show", ref, "--cluster", "west", "--key", other+".pub"); code != 1 || !strings.Contains(errOut, "records refused") {
		t.Errorf("evidence show with another key: exit %d, want 1\n%s", code, errOut)
	}
	out, errOut, code = run(t, "", "evidence", "export", ref, "--key", key+".pub", "--format", "oscal")
	var doc oscalTypes.OscalCompleteSchema
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.AssessmentResults == nil || len(doc.AssessmentResults.Results) != 4 {
		t.Fatalf("evidence export --format oscal: exit %d, %v\n%s", code, err, errOut)
	}
	if err := oscal.Validate(&doc); err != nil {
		t.Error(err)
	}
	// The audit page: its numbers are the JSON's, and it needs nothing from elsewhere.
	out, errOut, code = run(t, "", "evidence", "report", ref, "--key", key+".pub", "-o", "json")
	var summary evidence.Summary
	if err := json.Unmarshal([]byte(out), &summary); code != 0 || err != nil || summary.Records != 4 || len(summary.Clusters) != 2 || len(summary.Points) == 0 {
		t.Fatalf("evidence report -o json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	page, errOut, code := run(t, "", "evidence", "report", ref, "--key", key+".pub")
	if code != 0 || !strings.Contains(page, `data-records="4"`) || strings.Contains(page, "src=") || strings.Contains(page, `href="http`) {
		t.Fatalf("evidence report (html): exit %d\n%s", code, errOut)
	}
	for _, c := range summary.Clusters {
		want := fmt.Sprintf(`data-cluster="%s" data-runs="%d" data-passed="%d" data-failed="%d"`, c.Name, len(c.Runs), c.Passed, c.Failed)
		if !strings.Contains(page, want) {
			t.Errorf("the page does not say %s", want)
		}
	}
	for _, p := range summary.Points {
		if !strings.Contains(page, `data-point="`+p.ID+`"`) {
			t.Errorf("the page has no table for %s", p.ID)
		}
	}
	if md, _, code := run(t, "", "evidence", "report", ref, "--key", key+".pub", "-o", "markdown"); code != 0 || !strings.Contains(md, "4 verified records") {
		t.Errorf("evidence report -o markdown: exit %d\n%s", code, md)
	}
	if out, _, code := run(t, "", "evidence", "list", ref, "--key", key+".pub"); code != 0 || strings.Count(out, "verified") != 4 {
		t.Errorf("evidence list (text): exit %d\n%s", code, out)
	}
}
