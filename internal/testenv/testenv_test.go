package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"bulwark.dev/bulwark/internal/crds"
)

func TestMain(m *testing.M) { Main(m) }

func TestClusterServesAndAuthorizes(t *testing.T) {
	c := SharedCluster(t)
	ctx := context.Background()

	// The kubeconfig file is what CLI tests hand to bulwark: it must select the admin.
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if kc.CurrentContext != "admin" {
		t.Fatalf("kubeconfig context %q, want admin", kc.CurrentContext)
	}
	fromFile, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(fromFile)
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("admin cannot create namespace %s: %v", ns, err)
		}
	}
	// alice may read ConfigMaps in team-a and nothing else.
	if _, err := admin.RbacV1().Roles("team-a").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-config"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings("team-a").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-reads"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-config"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	aliceCfg, err := clientcmd.BuildConfigFromFlags("", c.WriteKubeconfig(t, "alice", c.UserConfig(t, "alice", "developers")))
	if err != nil {
		t.Fatal(err)
	}
	alice := kubernetes.NewForConfigOrDie(aliceCfg)
	tests := []struct {
		name    string
		do      func() error
		allowed bool
	}{
		{"list configmaps in team-a", func() error {
			_, err := alice.CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{})
			return err
		}, true},
		{"list configmaps in team-b", func() error {
			_, err := alice.CoreV1().ConfigMaps("team-b").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"create a configmap in team-a", func() error {
			_, err := alice.CoreV1().ConfigMaps("team-a").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}, false},
		{"list namespaces", func() error {
			_, err := alice.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			switch {
			case tt.allowed && err != nil:
				t.Fatalf("alice was refused: %v", err)
			case !tt.allowed && !apierrors.IsForbidden(err):
				t.Fatalf("alice got %v, want 403 Forbidden", err)
			}
		})
	}
}

func TestInstallCRDsEstablishesEveryKind(t *testing.T) {
	c := SharedCluster(t)
	InstallCRDs(t, c.Config)
	InstallCRDs(t, c.Config, "kyverno") // again: tests sharing a cluster each install what they need
	files, err := crds.Files()
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(c.Config)
	ctx := context.Background()
	for file, data := range files {
		objs, err := DecodeYAML(data)
		if err != nil || len(objs) == 0 {
			t.Fatalf("%s: %d objects, %v", file, len(objs), err)
		}
		for _, o := range objs {
			live, err := dyn.Resource(crdGVR).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Errorf("%s: %v", o.GetName(), err)
				continue
			}
			if !established(live) {
				t.Errorf("CRD %s is not Established", o.GetName())
			}
		}
	}
	if _, err := crds.Files("no-such-group"); err == nil {
		t.Fatal("crds.Files accepted an unknown group")
	}

	// The schemas are live, not just the names: the API server refuses a PeerAuthentication
	// whose mtls mode is outside the enum and stores a valid one.
	if _, err := kubernetes.NewForConfigOrDie(c.Config).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "crd-probe"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pa := schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}
	for _, tt := range []struct {
		mode  string
		valid bool
	}{{"STRICT", true}, {"SOMETIMES", false}} {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
			"metadata": map[string]any{"name": strings.ToLower(tt.mode), "namespace": "crd-probe"},
			"spec":     map[string]any{"mtls": map[string]any{"mode": tt.mode}},
		}}
		_, err := dyn.Resource(pa).Namespace("crd-probe").Create(ctx, obj, metav1.CreateOptions{})
		if tt.valid && err != nil {
			t.Errorf("mode %s refused: %v", tt.mode, err)
		}
		if !tt.valid && !apierrors.IsInvalid(err) {
			t.Errorf("mode %s: got %v, want 422 Invalid", tt.mode, err)
		}
	}
}

func TestStopEndsTheServersAndRemovesTheirFiles(t *testing.T) {
	c := StartCluster(t)
	pids := []int{c.etcd.Process.Pid, c.kube.Process.Pid}
	dirs := []string{c.dir, c.etcdData}
	if _, err := kubernetes.NewForConfigOrDie(c.Config).Discovery().ServerVersion(); err != nil {
		t.Fatalf("a fresh cluster does not answer: %v", err)
	}
	c.Stop()
	c.Stop() // idempotent: the test's cleanup calls it again
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still runs after Stop", pid)
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survives Stop: %v", d, err)
		}
	}
	if _, err := kubernetes.NewForConfigOrDie(c.Config).Discovery().ServerVersion(); err == nil {
		t.Fatal("a stopped cluster answered")
	}
}

// TestServersDieWithTheTestBinary kills a test binary holding a cluster and a registry the
// way go test -timeout does, and checks that no server outlives it and that the next run
// removes the files it left.
func TestServersDieWithTheTestBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperHoldsServers$", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "BULWARK_TESTENV_HOLD=1",
		"BULWARK_TOOLS_KUBE="+ToolsBin(t, "kube"), "BULWARK_TOOLS_REGISTRY="+ToolsBin(t, "registry"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pids []int
	var files []string
	var transcript strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		if rest, ok := strings.CutPrefix(line, "holding pid="); ok {
			pid, err := strconv.Atoi(rest)
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
		if rest, ok := strings.CutPrefix(line, "holding file="); ok {
			files = append(files, rest)
		}
		if line == "holding ready" {
			break
		}
	}
	if len(pids) != 3 || len(files) != 3 {
		t.Fatalf("the helper did not report its servers:\n%s", transcript.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for _, pid := range pids {
		// The kernel delivers the death signal at once; reaping by init may lag.
		for i := 0; alive(pid); i++ {
			if i == 300 {
				t.Fatalf("server pid %d outlived its test binary", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the killed binary's %s is already gone (%v): nothing to prove", f, err)
		}
	}
	sweepStale()
	for _, f := range files {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("sweepStale left %s: %v", f, err)
		}
	}
}

// TestHelperHoldsServers is the process TestServersDieWithTheTestBinary kills.
func TestHelperHoldsServers(t *testing.T) {
	if os.Getenv("BULWARK_TESTENV_HOLD") == "" {
		t.Skip("run by TestServersDieWithTheTestBinary")
	}
	c := StartCluster(t)
	r := StartRegistry(t, RegistryOptions{})
	for _, pid := range []int{c.etcd.Process.Pid, c.kube.Process.Pid, r.cmd.Process.Pid} {
		fmt.Printf("holding pid=%d\n", pid)
	}
	fmt.Printf("holding file=%s\nholding file=%s\nholding file=%s\nholding ready\n", c.etcdData, c.dir, r.dir)
	select {}
}

func TestRegistry(t *testing.T) {
	r := StartRegistry(t, RegistryOptions{Username: "ci", Password: "s3cret"})
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.Ref("team/app:1"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: r.Options.Username, Password: r.Options.Password})

	for _, tt := range []struct {
		name string
		opts []remote.Option
	}{
		{"anonymous", nil},
		{"wrong password", []remote.Option{remote.WithAuth(&authn.Basic{Username: "ci", Password: "guess"})}},
	} {
		t.Run("push refused: "+tt.name, func(t *testing.T) {
			var terr *transport.Error
			if err := remote.Write(ref, img, tt.opts...); !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
				t.Fatalf("got %v, want 401 Unauthorized", err)
			}
		})
	}
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("authenticated push: %v", err)
	}
	assertSameImage(t, ref, img, auth)

	r.Kill()
	other, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	otherRef, _ := name.ParseReference(r.Ref("team/app:2"), name.Insecure)
	if err := remote.Write(otherRef, other, auth, remote.WithRetryBackoff(remote.Backoff{Steps: 1})); err == nil {
		t.Fatal("a push to a killed registry succeeded")
	}
	r.Restart()
	assertSameImage(t, ref, img, auth)
	if err := remote.Write(otherRef, other, auth); err != nil {
		t.Fatalf("push after restart: %v", err)
	}
}

func TestRegistryWithoutAuthAcceptsAnonymousPushes(t *testing.T) {
	r := StartRegistry(t, RegistryOptions{})
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(r.Ref("open/app@"+digest(t, img)), name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("anonymous push: %v", err)
	}
	assertSameImage(t, ref, img)
}

func digest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// assertSameImage pulls ref and compares its manifest and every layer's bytes with img.
func assertSameImage(t *testing.T, ref name.Reference, img v1.Image, opts ...remote.Option) {
	t.Helper()
	got, err := remote.Image(ref, opts...)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if digest(t, got) != digest(t, img) {
		t.Fatalf("pulled digest %s, pushed %s", digest(t, got), digest(t, img))
	}
	layers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Layers()
	if len(layers) != len(want) {
		t.Fatalf("pulled %d layers, pushed %d", len(layers), len(want))
	}
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		// go-containerregistry verifies the blob against its digest as it is read.
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		rc.Close()
	}
}

func TestKyvernoCLIVersion(t *testing.T) {
	modFile, err := os.ReadFile(filepath.Join(RepoRoot(), "tools", "kyverno", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var pinned string
	for _, line := range strings.Split(string(modFile), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[len(f)-2] == "github.com/kyverno/kyverno" {
			pinned = f[len(f)-1]
		}
	}
	if pinned == "" {
		t.Fatal("tools/kyverno/go.mod does not require github.com/kyverno/kyverno")
	}
	out, err := exec.Command(KyvernoCLI(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("kyverno version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Version: "+pinned+"\n") {
		t.Fatalf("kyverno version says\n%s\nwant %s", out, pinned)
	}
}

func TestKyvernoApply(t *testing.T) {
	fixture := func(name string) string { return filepath.Join("testdata", "kyverno", name) }
	policy, resources := fixture("disallow-privileged.yaml"), fixture("resources.yaml")
	tests := []struct {
		name      string
		policies  []string
		resources []string
		extra     []string
		wantErr   string
		exit      int
		verdicts  map[string]string
	}{{
		name:     "denies the privileged pods, admits the other, ignores what it does not match",
		policies: []string{policy}, resources: []string{resources}, exit: 1,
		verdicts: map[string]string{"Pod/shop/web": "pass", "Pod/shop/debug": "fail", "Pod/other/debug": "fail", "ConfigMap/shop/settings": ""},
	}, {
		name:     "an exception skips exactly the pod it names",
		policies: []string{policy}, resources: []string{resources}, extra: []string{"--exceptions", fixture("exception.yaml")}, exit: 1,
		verdicts: map[string]string{"Pod/shop/web": "pass", "Pod/shop/debug": "skip", "Pod/other/debug": "fail"},
	}, {
		name:     "a policy the CLI cannot load is an error, not a pass",
		policies: []string{fixture("unknown-field.yaml")}, resources: []string{resources},
		wantErr: "reported nothing for policy disallow-privileged-typo",
	}, {
		name:     "a missing policy file is an error",
		policies: []string{fixture("missing.yaml")}, resources: []string{resources},
		wantErr: "no such file",
	}, {
		name:     "a missing resource file is an error",
		policies: []string{policy}, resources: []string{fixture("missing.yaml")},
		wantErr: "kyverno apply failed",
	}, {
		name:     "a missing exceptions file is an error",
		policies: []string{policy}, resources: []string{resources}, extra: []string{"--exceptions", fixture("missing.yaml")},
		wantErr: "kyverno apply failed",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := KyvernoApply(t, tt.policies, tt.resources, tt.extra...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.exit {
				t.Errorf("exit code %d, want %d", res.ExitCode, tt.exit)
			}
			got := res.Verdicts()
			for key, want := range tt.verdicts {
				if got[key] != want {
					t.Errorf("%s: %q, want %q\n%s", key, got[key], want, res.Output)
				}
			}
			for key := range got {
				if _, ok := tt.verdicts[key]; !ok {
					t.Errorf("unexpected result for %s: %s", key, got[key])
				}
			}
		})
	}

	t.Run("rows carry the message and the exception", func(t *testing.T) {
		res, err := KyvernoApply(t, []string{policy}, []string{resources}, "--exceptions", fixture("exception.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(res.Results, func(r KyvernoRuleResult) bool { return r.Namespace == "other" })
		j := slices.IndexFunc(res.Results, func(r KyvernoRuleResult) bool { return r.Namespace == "shop" && r.Name == "debug" })
		if i < 0 || j < 0 {
			t.Fatalf("missing rows: %+v", res.Results)
		}
		if res.Results[i].Message != "privileged containers are not allowed" || res.Results[i].Policy != "disallow-privileged" {
			t.Errorf("failing row %+v", res.Results[i])
		}
		if res.Results[j].Exceptions != "allow-shop-debug" || res.Results[j].Rule != "exception" {
			t.Errorf("skipped row %+v", res.Results[j])
		}
	})
}

func TestVerdictPrecedence(t *testing.T) {
	row := func(result string) KyvernoRuleResult {
		return KyvernoRuleResult{Result: result, Kind: "Pod", Namespace: "ns", Name: "p"}
	}
	tests := []struct {
		results []string
		want    string
	}{
		{nil, ""},
		{[]string{"skip"}, "skip"},
		{[]string{"skip", "pass"}, "pass"},
		{[]string{"pass", "warn"}, "warn"},
		{[]string{"fail", "pass", "error"}, "fail"},
		{[]string{"pass", "error"}, "error"},
	}
	for _, tt := range tests {
		var r KyvernoResult
		for _, s := range tt.results {
			r.Results = append(r.Results, row(s))
		}
		if got := r.Verdict("Pod", "ns", "p"); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.results, got, tt.want)
		}
		if got := r.Verdict("Pod", "", "p"); got != "" {
			t.Errorf("a cluster-scoped Pod/p matched a namespaced row: %q", got)
		}
	}
}
