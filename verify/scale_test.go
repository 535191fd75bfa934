package verify_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/generators/network"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/verify"
)

// BenchmarkVerify2000Namespaces loads 2,000 in-scope namespaces with the NetworkPolicies
// Kyverno's GeneratingPolicy would create in each, and the bundle's objects, into a real API
// server (its own: the load would change what the package's tests judge), then times verify
// and reports its API calls and bytes, beside a bare `kubectl get` of the same kinds.
func BenchmarkVerify2000Namespaces(b *testing.B) {
	const n = 2000
	e := buildEnv(b, testenv.StartCluster(b), "saas-starter")
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("team-%04d", i)
			_, err := e.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: withLabels(podSecurity("baseline"), "bulwark.dev/scope", "app")}}, metav1.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			for _, pol := range network.PoliciesFor(e.p, name) {
				pol.Policy.Labels = map[string]string{"app.kubernetes.io/managed-by": "kyverno", "bulwark.dev/profile": e.p.Metadata.Name}
				if _, err := e.Kube.NetworkingV1().NetworkPolicies(name).Create(ctx, pol.Policy, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	e.applyBundle()

	kubectl := filepath.Join(testenv.ToolsBin(b, "kube"), "kubectl")
	kinds := "namespaces,networkpolicies,validatingpolicies.policies.kyverno.io,mutatingpolicies.policies.kyverno.io,generatingpolicies.policies.kyverno.io,clusterissuers.cert-manager.io"
	var kubectlTime time.Duration
	var last *verify.Report
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := verify.Run(ctx, e.c.Config, e.b, verify.Options{Digest: e.digest})
		if err != nil {
			b.Fatal(err)
		}
		if !r.Converged || r.Stats.Namespaces != n {
			b.Fatalf("converged %v with %d namespaces in scope: %v", r.Converged, r.Stats.Namespaces, failing(r))
		}
		last = r
		b.StopTimer()
		start := time.Now()
		if out, err := exec.Command(kubectl, "--kubeconfig", e.c.Kubeconfig, "get", kinds, "-A", "-o", "json").CombinedOutput(); err != nil {
			b.Fatalf("kubectl: %v\n%s", err, out[:min(len(out), 500)])
		}
		kubectlTime += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	perVerify := b.Elapsed() / time.Duration(b.N)
	perKubectl := kubectlTime / time.Duration(b.N)
	b.ReportMetric(float64(last.Stats.APICalls), "apicalls/op")
	b.ReportMetric(float64(last.Stats.Lists), "lists/op")
	b.ReportMetric(float64(last.Stats.Bytes), "apibytes/op")
	b.ReportMetric(float64(perKubectl.Milliseconds()), "kubectl-ms/op")
	b.ReportMetric(float64(perVerify)/float64(perKubectl), "ratio-vs-kubectl")
	b.Logf("%d namespaces: verify %s with %d API calls (%d kinds listed, %d objects, %d bytes); kubectl get of the same kinds %s; ratio %.2f",
		n, perVerify.Round(time.Millisecond), last.Stats.APICalls, last.Stats.Lists, last.Stats.Objects, last.Stats.Bytes,
		perKubectl.Round(time.Millisecond), float64(perVerify)/float64(perKubectl))
}
