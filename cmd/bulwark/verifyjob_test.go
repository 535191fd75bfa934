package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/testenv"
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
	if _, errOut, code := run(t, "", "gitops", "verify-job", "--bundle", "oci://r.example/p:1", "--cluster", "c", "--image", "i@sha256:"+strings.Repeat("0", 64), "--probe-rbac"); code != 2 || !strings.Contains(errOut, "--probe") {
		t.Errorf("verify-job --probe-rbac without --probe: exit %d, %s", code, errOut)
	}
	if _, errOut, code := run(t, "", "gitops", "verify-job", "--bundle", "oci://r.example/p:1", "--cluster", "c"); code != 2 || !strings.Contains(errOut, "image") {
		t.Errorf("verify-job without an image: exit %d, %s", code, errOut)
	}
	if _, errOut, code := run(t, "", "verify", "--bundle", "x", "--in-cluster", "c", "--context", "a"); code != 2 || !strings.Contains(errOut, "--in-cluster") {
		t.Errorf("--in-cluster with --context: exit %d, %s", code, errOut)
	}
}

// TestVerifyJobRunsAsItsServiceAccount applies what 'bulwark gitops verify-job' prints
// (with the published roles) to a real API server and runs the CronJob's own verify command
// line as the job's pod would: authenticated by a token the API server issues for the job's
// service account. Every read and probe verify makes is granted — no check is left
// unanswered for want of a permission — and the evidence is attached. The same command as a
// service account without those bindings is refused, so the test can tell.
func TestVerifyJobRunsAsItsServiceAccount(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	cluster := testenv.StartCluster(t)
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("COSIGN_PASSWORD", "pw")
	key := filepath.Join(dir, "cosign")
	if _, errOut, code := run(t, "", "keys", "generate", "--output-key-prefix", key); code != 0 {
		t.Fatal(errOut)
	}
	ref := reg.Ref("policies/saas") + ":1.0.0"
	if _, errOut, code := run(t, "", "push", "-q", "-f", "../../examples/saas-starter.yaml", "--version", "1.0.0", ref); code != 0 {
		t.Fatal(errOut)
	}
	job, errOut, code := run(t, "", "gitops", "verify-job", "--bundle", "oci://"+ref, "--cluster", "prod-eu", "--image", "registry.example/bulwark@sha256:"+strings.Repeat("0", 64), "--probe", "--probe-rbac", "--attest-secret", "bulwark-cosign")
	if code != 0 {
		t.Fatalf("gitops verify-job: exit %d\n%s", code, errOut)
	}
	roles, err := os.ReadFile("../../examples/verify-clusterrole.yaml")
	if err != nil {
		t.Fatal(err)
	}
	admin := testenv.NewClient(cluster.Config)
	admin.Namespaces(t, "bulwark-system")
	var cron batchv1.CronJob
	for _, doc := range strings.Split(string(roles)+"\n---\n"+job, "\n---\n") {
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatal(err)
		}
		if obj.Object == nil {
			continue
		}
		if err := admin.Apply(ctx, &obj, false); err != nil {
			t.Fatalf("applying %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		if obj.GetKind() == "CronJob" {
			if err := yaml.Unmarshal([]byte(doc), &cron); err != nil {
				t.Fatal(err)
			}
		}
	}
	pod := cron.Spec.JobTemplate.Spec.Template.Spec
	asServiceAccount := func(name string) (string, string, int) {
		t.Helper()
		if _, err := admin.Kube.CoreV1().ServiceAccounts("bulwark-system").Get(ctx, name, metav1.GetOptions{}); err != nil {
			if _, err := admin.Kube.CoreV1().ServiceAccounts("bulwark-system").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := admin.Kube.CoreV1().ServiceAccounts("bulwark-system").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a token for %s: %v", name, err)
		}
		cfg := &rest.Config{Host: cluster.URL, BearerToken: tok.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: cluster.Config.CAData}}
		kubeconfig := cluster.WriteKubeconfig(t, "prod-eu", cfg)
		// The job's arguments, but for what only a pod has: the in-cluster identity becomes the
		// same token in a kubeconfig, and the mounted cosign key a file here.
		var args []string
		jobArgs := pod.Containers[0].Args
		for i := 0; i < len(jobArgs); i++ {
			switch jobArgs[i] {
			case "--in-cluster":
				args = append(args, "--kubeconfig", kubeconfig, "--context", "prod-eu")
				i++
			case "--attest":
				args = append(args, "--attest", key+".key")
				i++
			default:
				args = append(args, jobArgs[i])
			}
		}
		if len(args) != len(jobArgs)+2 {
			t.Fatalf("the job's arguments %q have no --in-cluster NAME or --attest KEY", jobArgs)
		}
		return run(t, "", append(args, "-o", "json")...)
	}
	if pod.ServiceAccountName != "bulwark-verify" {
		t.Fatalf("the job runs as %q", pod.ServiceAccountName)
	}
	out, errOut, code := asServiceAccount(pod.ServiceAccountName)
	// The bundle was never applied: not converged (exit 1), but every check answered.
	if code != 1 || strings.Contains(strings.ToLower(out+errOut), "forbidden") || !strings.Contains(errOut, "attached the verification of prod-eu") {
		t.Fatalf("the job's verify as its service account: exit %d\n%s\n%s", code, out, errOut)
	}
	var reports []struct {
		Findings []struct {
			Check   string `json:"check"`
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &reports); err != nil || len(reports) != 1 || len(reports[0].Findings) == 0 {
		t.Fatalf("%v\n%s", err, out)
	}
	probes := 0
	for _, f := range reports[0].Findings {
		if strings.HasPrefix(f.Check, "probe") {
			probes++
		}
	}
	if probes == 0 {
		t.Errorf("the job's verify ran no probe: %s", out)
	}
	if out, errOut, code := run(t, "", "evidence", "show", "oci://"+ref, "--cluster", "prod-eu", "--key", key+".pub"); code != 0 || !strings.Contains(out, `"cluster": "prod-eu"`) {
		t.Errorf("evidence show after the job's verify: exit %d\n%s", code, errOut)
	}
	out, errOut, code = asServiceAccount("unbound")
	if code == 0 || !strings.Contains(strings.ToLower(out+errOut), "forbidden") {
		t.Errorf("verify as a service account without the bindings: exit %d, and no refusal\n%s\n%s", code, out, errOut)
	}
}
