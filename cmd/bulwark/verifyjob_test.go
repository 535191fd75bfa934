package main

import (
	"os"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"
)

// TestVerifyJobExample: examples/gitops/verify-job.yaml is what its command prints, and the
// CronJob runs a verify command line the CLI accepts.
func TestVerifyJobExample(t *testing.T) {
	data, err := os.ReadFile("../../examples/gitops/verify-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cmdLine string
	var body []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "#   bulwark "):
			cmdLine = strings.TrimSpace(strings.TrimPrefix(l, "#   "))
		case strings.HasPrefix(l, "#"):
		default:
			body = append(body, l)
		}
	}
	out, errOut, code := run(t, "", strings.Fields(cmdLine)[1:]...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", cmdLine, code, errOut)
	}
	if out != strings.Join(body, "") {
		t.Errorf("examples/gitops/verify-job.yaml is not what %q prints:\n%s", cmdLine, out)
	}
	docs := strings.Split(out, "---\n")
	var cron batchv1.CronJob
	if err := yaml.Unmarshal([]byte(docs[len(docs)-1]), &cron); err != nil {
		t.Fatal(err)
	}
	args := cron.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	root := NewRootCmd()
	c, rest, err := root.Find(args)
	if err != nil || c.Name() != "verify" {
		t.Fatalf("the job runs %v: %v", args, err)
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Fatalf("the job's verify flags %v: %v", rest, err)
	}
	for _, f := range []string{"in-cluster", "bundle", "attest", "flux", "probe"} {
		if !c.Flags().Changed(f) {
			t.Errorf("the job's verify has no --%s", f)
		}
	}
	if _, errOut, code := run(t, "", "gitops", "verify-job", "--bundle", "oci://r.example/p:1", "--cluster", "c"); code != 2 || !strings.Contains(errOut, "image") {
		t.Errorf("verify-job without an image: exit %d, %s", code, errOut)
	}
	if _, errOut, code := run(t, "", "verify", "--bundle", "x", "--in-cluster", "c", "--context", "a"); code != 2 || !strings.Contains(errOut, "--in-cluster") {
		t.Errorf("--in-cluster with --context: exit %d, %s", code, errOut)
	}
}
