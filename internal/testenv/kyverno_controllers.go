package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// KyvernoNamespace is where the Kyverno controllers keep their configuration, certificates,
// leases and update requests, as a Helm install of Kyverno does.
const KyvernoNamespace = "kyverno"

// Names of the Secrets the admission controller generates its webhook CA and serving pair into.
const (
	kyvernoCASecret  = "kyverno-svc.kyverno.svc.kyverno-tls-ca"
	kyvernoTLSSecret = "kyverno-svc.kyverno.svc.kyverno-tls-pair"
)

// kyvernoControllers are the Kyverno processes StartKyverno runs: binary (built by
// tools/kyverno) and the service account name Kyverno's Helm chart gives each. Their
// leader-election leases are named after them ("kyverno" for the admission controller).
var kyvernoControllers = []struct{ name, bin, lease string }{
	{"kyverno-admission-controller", "kyverno-admission-controller", "kyverno"},
	{"kyverno-background-controller", "kyverno-background-controller", "kyverno-background-controller"},
	{"kyverno-reports-controller", "kyverno-reports-controller", "kyverno-reports-controller"},
}

// KyvernoControllers are Kyverno's real admission, background and reports controllers
// (v1.19.1, built by tools/kyverno) running as local processes against a Cluster. The
// kube-apiserver calls the admission controller's webhooks at WebhookURL; every listener of
// every controller is bound to 127.0.0.1.
type KyvernoControllers struct {
	// WebhookURL is https://127.0.0.1:PORT, the base of every webhook Kyverno registers.
	WebhookURL string
	// CAPEM is the CA Kyverno generated for its webhook server (its own Secret).
	CAPEM []byte

	procs []*kyvernoProc
	kube  kubernetes.Interface
	// launch (re)starts controller i of kyvernoControllers on fresh ports.
	launch func(i int)
	// relaunches counts the restarts after a port was taken before a controller bound it.
	relaunches int
}

type kyvernoProc struct {
	name   string
	index  int
	cmd    *exec.Cmd
	log    string
	ports  []int
	exited chan struct{}
}

// StartKyverno installs what Kyverno needs in c (every CRD of Kyverno's module:
// kyverno.io, policies.kyverno.io, reports.kyverno.io, wgpolicyk8s.io; the kyverno
// namespace; the kyverno and kyverno-metrics ConfigMaps), starts the admission, background
// and reports controllers, and waits until they are serving: the webhook server answers
// /health/readiness over TLS with the CA Kyverno generated, the webhook configurations it
// registered call https://127.0.0.1:PORT/..., each controller holds its leader lease, and
// no controller listens anywhere but 127.0.0.1. They stop when the test ends; their logs
// are printed only when the test fails.
//
// Each controller authenticates with a client certificate for the service-account user
// name Kyverno's Helm chart gives it (system:serviceaccount:kyverno:NAME), which RBAC binds
// to cluster-admin: Kyverno recognises its own controllers' requests by those names, and
// checks their permissions with SubjectAccessReviews.
//
// c must run the kube-apiserver's ValidatingAdmissionWebhook and MutatingAdmissionWebhook
// plugins, as StartCluster's does by default. Only one Kyverno may run per cluster.
func StartKyverno(t testing.TB, c *Cluster) *KyvernoControllers {
	t.Helper()
	bin := ToolsBin(t, "kyverno")
	for _, kc := range kyvernoControllers {
		if _, err := os.Stat(filepath.Join(bin, kc.bin)); err != nil {
			t.Fatalf("%s has no %s: %v (tools/build.sh builds it with the Kyverno CLI)", bin, kc.bin, err)
		}
	}
	installCRDDir(t, c, filepath.Join(bin, "crds"))

	kube := kubernetes.NewForConfigOrDie(c.Config)
	ctx := context.Background()
	create := func(obj any, err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("installing Kyverno's %T: %v", obj, err)
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: KyvernoNamespace}}
	_, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	create(ns, err)
	// The configuration Kyverno's Helm chart installs, trimmed to what matters here: events
	// and Kyverno's own bookkeeping are never admitted through it, nor is anything in its
	// own namespace (else its certificates and leases would wait on its own webhooks).
	cfg := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kyverno", Namespace: KyvernoNamespace}, Data: map[string]string{
		"resourceFilters": "[Event,*,*] [*/*,kyverno,*] [*/*,kube-system,*] [*/*,kube-public,*] [*/*,kube-node-lease,*] " +
			"[Node,*,*] [Node/?*,*,*] [APIService,*,*] [APIService/?*,*,*] [TokenReview,*,*] [SubjectAccessReview,*,*] " +
			"[SelfSubjectAccessReview,*,*] [Binding,*,*] [Pod/binding,*,*] [ReplicaSet,*,*] [ReplicaSet/?*,*,*] " +
			"[EphemeralReport,*,*] [ClusterEphemeralReport,*,*]",
		"excludeGroups":         "system:nodes",
		"generateSuccessEvents": "false",
		"webhooks":              `[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kyverno"]}]}}]`,
	}}
	_, err = kube.CoreV1().ConfigMaps(KyvernoNamespace).Create(ctx, cfg, metav1.CreateOptions{})
	create(cfg, err)
	metricsCfg := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kyverno-metrics", Namespace: KyvernoNamespace}, Data: map[string]string{
		"namespaces": `{"include": [], "exclude": []}`,
	}}
	_, err = kube.CoreV1().ConfigMaps(KyvernoNamespace).Create(ctx, metricsCfg, metav1.CreateOptions{})
	create(metricsCfg, err)

	// Identity: a ServiceAccount per controller, bound to cluster-admin. Kyverno's chart
	// grants narrower ClusterRoles, but aggregates them by label, and no
	// kube-controller-manager runs here to fill aggregated roles. Kyverno asks the API server
	// (SubjectAccessReviews) what its controllers' service accounts may do before it calls
	// a policy ready, so the binding must be real RBAC, not system:masters.
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bulwark-test:kyverno-controllers"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
	}
	for _, kc := range kyvernoControllers {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: kc.name, Namespace: KyvernoNamespace}}
		_, err = kube.CoreV1().ServiceAccounts(KyvernoNamespace).Create(ctx, sa, metav1.CreateOptions{})
		create(sa, err)
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{Kind: "ServiceAccount", Name: kc.name, Namespace: KyvernoNamespace})
	}
	_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	create(binding, err)

	k := &KyvernoControllers{kube: kube}
	sa := func(name string) string { return "system:serviceaccount:" + KyvernoNamespace + ":" + name }
	// launch starts one controller on ports free a moment ago. Another process can take one
	// of them before the controller binds it (the ports come from the range the kernel also
	// hands out to outgoing connections): waitServing then launches it again on new ports.
	k.launch = func(i int) {
		kc := kyvernoControllers[i]
		user := c.UserConfig(t, sa(kc.name), "system:serviceaccounts", "system:serviceaccounts:"+KyvernoNamespace)
		kubeconfig := c.WriteKubeconfig(t, kc.name, user)
		metricsPort, runtimeMetricsPort, profilePort := freePort(t), freePort(t), freePort(t)
		args := []string{
			"--kubeconfig=" + kubeconfig,
			// Every listener on loopback: Prometheus metrics, controller-runtime metrics and
			// profiling (off, but its address is pinned too) default to every interface.
			"--metricsHost=127.0.0.1", "--metricsPort=" + strconv.Itoa(metricsPort),
			"--profileAddress=127.0.0.1", "--profilePort=" + strconv.Itoa(profilePort),
			"--enablePolicyException=true",
			"--disableLogColor", "--v=2",
		}
		ports := []int{metricsPort}
		switch kc.name {
		case "kyverno-admission-controller":
			webhookPort := freePort(t)
			k.WebhookURL = fmt.Sprintf("https://127.0.0.1:%d", webhookPort)
			args = append(args,
				// Out of cluster: webhooks are registered with url https://127.0.0.1:PORT/...
				// (and the serving certificate gets that IP) instead of the kyverno-svc Service.
				fmt.Sprintf("--serverIP=127.0.0.1:%d", webhookPort),
				"--webhookServerHost=127.0.0.1", "--webhookServerPort="+strconv.Itoa(webhookPort),
				"--controllerRuntimeMetricsAddress=127.0.0.1:"+strconv.Itoa(runtimeMetricsPort),
				"--caSecretName="+kyvernoCASecret, "--tlsSecretName="+kyvernoTLSSecret,
				"--backgroundServiceAccountName="+sa("kyverno-background-controller"),
				"--reportsServiceAccountName="+sa("kyverno-reports-controller"),
			)
			ports = append(ports, webhookPort, runtimeMetricsPort)
		case "kyverno-background-controller":
			args = append(args, "--controllerRuntimeMetricsAddress=127.0.0.1:"+strconv.Itoa(runtimeMetricsPort))
			ports = append(ports, runtimeMetricsPort)
		case "kyverno-reports-controller":
			// Background scans run when a policy or resource changes; the periodic rescan is
			// shortened so a missed event cannot stall a test for the default hour.
			args = append(args, "--backgroundScanInterval=1m")
		}
		env := append(cleanEnv("KUBECONFIG=", "KYVERNO_", "INIT_CONFIG=", "METRICS_CONFIG="),
			"KYVERNO_NAMESPACE="+KyvernoNamespace, "KYVERNO_SERVICEACCOUNT_NAME="+kc.name,
			"KYVERNO_DEPLOYMENT="+kc.name, "KYVERNO_POD_NAME="+kc.name+"-local", "KYVERNO_SVC=kyverno-svc",
			"INIT_CONFIG=kyverno", "METRICS_CONFIG=kyverno-metrics")
		cmd := process(t, kc.name, env, filepath.Join(bin, kc.bin), args...)
		p := &kyvernoProc{name: kc.name, index: i, cmd: cmd, log: cmd.Stdout.(*os.File).Name(), ports: ports, exited: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.exited) }()
		if i < len(k.procs) {
			k.procs[i] = p
		} else {
			k.procs = append(k.procs, p)
		}
		t.Cleanup(func() { stop(cmd) })
	}
	for i := range kyvernoControllers {
		k.launch(i)
	}
	// Registered after process's own cleanups, so this runs first, while the logs exist.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Kyverno controller logs (last 40 lines each):\n%s", k.Logs(40))
		}
	})
	k.waitServing(t)
	return k
}

// Logs returns the last n lines of each controller's log, for failure messages.
func (k *KyvernoControllers) Logs(n int) string {
	var b strings.Builder
	for _, p := range k.procs {
		fmt.Fprintf(&b, "--- %s\n%s\n", p.name, tail(p.log, n))
	}
	return b.String()
}

// Pause stops one controller's process (SIGSTOP) without killing it, as a hung or
// descheduled replica would be: it answers no webhook and reconciles nothing until the
// returned resume (SIGCONT) is called. The test's cleanup resumes it in any case.
func (k *KyvernoControllers) Pause(t testing.TB, name string) (resume func()) {
	t.Helper()
	for _, p := range k.procs {
		if p.name != name {
			continue
		}
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatalf("pausing %s: %v", name, err)
		}
		var once sync.Once
		resume = func() {
			once.Do(func() {
				if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Errorf("resuming %s: %v", name, err)
				}
			})
		}
		t.Cleanup(resume)
		return resume
	}
	t.Fatalf("no Kyverno controller %s", name)
	return nil
}

func (k *KyvernoControllers) checkAlive(t testing.TB) {
	t.Helper()
	for _, p := range k.procs {
		select {
		case <-p.exited:
			t.Fatalf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, tail(p.log, 60))
		default:
		}
	}
}

// relaunchOnPortClash starts again, on new ports, a controller that exited because one of
// its ports was taken between freePort and its bind; any other exit fails the test.
func (k *KyvernoControllers) relaunchOnPortClash(t testing.TB) {
	t.Helper()
	for _, p := range k.procs {
		select {
		case <-p.exited:
			if strings.Contains(tail(p.log, 40), "address already in use") && k.relaunches < 3 {
				k.relaunches++
				t.Logf("%s could not bind a port another process took first; starting it again on new ports", p.name)
				k.launch(p.index)
				continue
			}
			t.Fatalf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, tail(p.log, 60))
		default:
		}
	}
}

func (k *KyvernoControllers) waitServing(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(4 * time.Minute)
	var last error
	step := func(what string, ok func() error) {
		t.Helper()
		for {
			k.relaunchOnPortClash(t)
			if last = ok(); last == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Kyverno not ready: %s: %v\n%s", what, last, k.Logs(40))
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	step("the admission controller's CA Secret", func() error {
		s, err := k.kube.CoreV1().Secrets(KyvernoNamespace).Get(ctx, kyvernoCASecret, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Data[corev1.TLSCertKey]) == 0 {
			return errors.New("no tls.crt yet")
		}
		k.CAPEM = s.Data[corev1.TLSCertKey]
		return nil
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(k.CAPEM) {
		t.Fatalf("Kyverno's CA Secret %s holds no PEM certificate", kyvernoCASecret)
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	step("the webhook server's /health/readiness over TLS", func() error {
		resp, err := hc.Get(k.WebhookURL + "/health/readiness")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	})
	step("webhook configurations calling "+k.WebhookURL, func() error {
		want := map[string]bool{"kyverno-policy-validating-webhook-cfg": false, "kyverno-resource-validating-webhook-cfg": false, "kyverno-resource-mutating-webhook-cfg": false}
		vs, err := k.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ms, err := k.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		var hooks []webhookRef
		for _, v := range vs.Items {
			for _, w := range v.Webhooks {
				hooks = append(hooks, webhookRef{v.Name, w.Name, w.ClientConfig.URL, w.ClientConfig.CABundle})
			}
			if _, ok := want[v.Name]; ok {
				want[v.Name] = true
			}
		}
		for _, m := range ms.Items {
			for _, w := range m.Webhooks {
				hooks = append(hooks, webhookRef{m.Name, w.Name, w.ClientConfig.URL, w.ClientConfig.CABundle})
			}
			if _, ok := want[m.Name]; ok {
				want[m.Name] = true
			}
		}
		for _, w := range hooks {
			if w.url == nil || !strings.HasPrefix(*w.url, k.WebhookURL+"/") {
				return fmt.Errorf("%s webhook %s does not call %s", w.config, w.name, k.WebhookURL)
			}
			if len(w.ca) == 0 {
				return fmt.Errorf("%s webhook %s has no caBundle", w.config, w.name)
			}
		}
		var missing []string
		for name, seen := range want {
			if !seen {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("not registered yet: %v", missing)
		}
		return nil
	})
	for _, kc := range kyvernoControllers {
		step(kc.name+"'s leader lease", func() error {
			l, err := k.kube.CoordinationV1().Leases(KyvernoNamespace).Get(ctx, kc.lease, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if l.Spec.HolderIdentity == nil || !strings.HasPrefix(*l.Spec.HolderIdentity, kc.name) {
				return fmt.Errorf("lease %s held by %v", kc.lease, l.Spec.HolderIdentity)
			}
			return nil
		})
	}
	var summary []string
	for _, p := range k.procs {
		addrs, err := listeners(p.cmd.Process.Pid)
		if err != nil {
			t.Fatalf("reading %s's sockets: %v", p.name, err)
		}
		for _, a := range addrs {
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Fatalf("%s listens on %s, not loopback (all: %v)", p.name, a, addrs)
			}
		}
		// The check has teeth only if it sees the listeners the flags asked for.
		for _, port := range p.ports {
			if !slices.Contains(addrs, fmt.Sprintf("127.0.0.1:%d", port)) {
				t.Fatalf("%s does not listen on 127.0.0.1:%d as its flags ask (listeners: %v)", p.name, port, addrs)
			}
		}
		sort.Strings(addrs)
		summary = append(summary, fmt.Sprintf("%s %v", p.name, addrs))
	}
	t.Logf("Kyverno serving webhooks at %s; listeners: %s", k.WebhookURL, strings.Join(summary, "; "))
}

type webhookRef struct {
	config, name string
	url          *string
	ca           []byte
}

// listeners lists the local addresses of the TCP sockets pid listens on, from /proc.
func listeners(pid int) ([]string, error) {
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			out = append(out, procAddr(f[1]))
		}
	}
	return out, nil
}

// procAddr turns /proc/net/tcp's hex "0100007F:1F90" into "127.0.0.1:8080" (IPv6 addresses
// are left in hex, which is never mistaken for loopback IPv4).
func procAddr(hex string) string {
	host, port, _ := strings.Cut(hex, ":")
	p, _ := strconv.ParseUint(port, 16, 16)
	if len(host) == 8 {
		v, _ := strconv.ParseUint(host, 16, 32)
		return fmt.Sprintf("%d.%d.%d.%d:%d", v&0xff, v>>8&0xff, v>>16&0xff, v>>24, p)
	}
	return fmt.Sprintf("[%s]:%d", host, p)
}

// installCRDDir creates every CRD in the YAML files under dir and waits until each is
// established.
func installCRDDir(t testing.TB, c *Cluster, dir string) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var names []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objs, err := DecodeYAML(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if _, err := dyn.Resource(crdGVR).Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating CRD %s: %w", o.GetName(), err)
			}
			names = append(names, o.GetName())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("installing Kyverno's CRDs from %s: %v", dir, err)
	}
	if len(names) == 0 {
		t.Fatalf("no CRDs under %s", dir)
	}
	waitEstablished(ctx, t, dyn, names)
}

// WaitPoliciesReady waits until Kyverno's own controllers report every policies.kyverno.io
// policy among objs ready (status.conditionStatus.ready, which Kyverno writes once the
// policy compiled and its webhooks are registered), and fails with each laggard's
// conditions otherwise. Objects of other kinds are ignored.
func (k *KyvernoControllers) WaitPoliciesReady(t testing.TB, client *Client, objs []*unstructured.Unstructured, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != "policies.kyverno.io" || gvk.Kind == "PolicyException" {
			continue
		}
		ri, err := client.Resource(gvk, o.GetNamespace())
		if err != nil {
			t.Fatal(err)
		}
		for {
			k.checkAlive(t)
			got, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
			if err == nil {
				if ready, _, _ := unstructured.NestedBool(got.Object, "status", "conditionStatus", "ready"); ready {
					break
				}
			}
			if time.Now().After(deadline) {
				var status any
				if got != nil {
					status = got.Object["status"]
				}
				t.Fatalf("%s %s not ready after %s (err %v), status written by Kyverno: %v", gvk.Kind, o.GetName(), timeout, err, status)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}
