package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Cluster is a real etcd and kube-apiserver on 127.0.0.1, authorizing with RBAC. No
// controllers run: namespaces deleted in a test stay Terminating, and tests write the
// status controllers would.
type Cluster struct {
	// URL is https://127.0.0.1:PORT.
	URL string
	// Config is an admin client configuration (a client certificate in system:masters).
	Config *rest.Config
	// Kubeconfig is a kubeconfig file for Config whose current context is "admin".
	Kubeconfig string

	mu         sync.Mutex
	dir        string
	etcdData   string
	pki        *pki
	etcd, kube *exec.Cmd
}

// StartCluster starts etcd and kube-apiserver, waits until /readyz answers ok, and stops
// both when the test ends. Start costs seconds: tests of one package share a cluster with
// SharedCluster.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return StartClusterWith(t)
}

// StartClusterWith is StartCluster with further kube-apiserver flags; a repeated list flag
// adds to StartCluster's (--disable-admission-plugins=PodSecurity disables it besides
// ServiceAccount).
func StartClusterWith(t testing.TB, apiserverFlags ...string) *Cluster {
	t.Helper()
	bin := ToolsBin(t, "kube")
	c := &Cluster{dir: tempDir(t, "", "cluster")}
	t.Cleanup(c.Stop)
	var err error
	if c.pki, err = newPKI(); err != nil {
		t.Fatalf("creating the cluster CA: %v", err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(c.dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatalf("writing %s: %v", name, err)
		}
		return p
	}
	caFile := write("ca.crt", c.pki.caPEM)
	srvCert, srvKey, err := c.pki.issue("kube-apiserver", nil, true)
	if err != nil {
		t.Fatalf("issuing the serving certificate: %v", err)
	}
	saPriv, saPub, err := serviceAccountKeys()
	if err != nil {
		t.Fatalf("creating service-account keys: %v", err)
	}

	// etcd keeps its data in memory-backed storage when the machine has it.
	dataRoot := "/dev/shm"
	if st, err := os.Stat(dataRoot); err != nil || !st.IsDir() {
		dataRoot = c.dir
	}
	c.etcdData = tempDir(t, dataRoot, "etcd")
	clientPort, peerPort := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	c.etcd = process(t, "etcd", cleanEnv("ETCD_"), filepath.Join(bin, "etcd"),
		"--name=default", "--data-dir="+c.etcdData, "--unsafe-no-fsync",
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--listen-metrics-urls=http://127.0.0.1:"+fmt.Sprint(freePort(t)),
		"--log-level=warn")

	port := freePort(t)
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	args := []string{"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
		"--etcd-servers=" + etcdURL,
		"--client-ca-file=" + caFile,
		"--tls-cert-file=" + write("apiserver.crt", srvCert), "--tls-private-key-file=" + write("apiserver.key", srvKey),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + write("sa.pub", saPub), "--service-account-signing-key-file=" + write("sa.key", saPriv),
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=RBAC",
		"--disable-admission-plugins=ServiceAccount", "--endpoint-reconciler-type=none",
		"--allow-privileged=true", "--v=0"}
	c.kube = process(t, "kube-apiserver", cleanEnv(), filepath.Join(bin, "kube-apiserver"), append(args, apiserverFlags...)...)

	c.Config = c.UserConfig(t, "admin", "system:masters")
	c.Kubeconfig = c.WriteKubeconfig(t, "admin", c.Config)
	c.waitReady(t)
	return c
}

func (c *Cluster) waitReady(t testing.TB) {
	t.Helper()
	rc, err := rest.UnversionedRESTClientFor(withCodec(c.Config))
	if err != nil {
		t.Fatalf("building a client for %s: %v", c.URL, err)
	}
	exited := make(chan struct{})
	go func() {
		// Wait reaps kube-apiserver if it dies during start, so the loop below stops early;
		// Stop's Wait then returns at once.
		_ = c.kube.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(90 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("kube-apiserver exited during start:\n%s\netcd:\n%s",
				tail(c.kube.Stdout.(*os.File).Name(), 30), tail(c.etcd.Stdout.(*os.File).Name(), 10))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		body, err := rc.Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if err == nil && string(body) == "ok" {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("kube-apiserver not ready at %s: %v\n%s\netcd:\n%s", c.URL, last,
		tail(c.kube.Stdout.(*os.File).Name(), 30), tail(c.etcd.Stdout.(*os.File).Name(), 10))
}

// UserConfig returns a client configuration authenticating as user in groups by a client
// certificate the cluster's CA signs. The user can do only what RBAC bindings grant it.
func (c *Cluster) UserConfig(t testing.TB, user string, groups ...string) *rest.Config {
	t.Helper()
	cert, key, err := c.pki.issue(user, groups, false)
	if err != nil {
		t.Fatalf("issuing a client certificate for %s: %v", user, err)
	}
	return &rest.Config{
		Host:            c.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM, CertData: cert, KeyData: key},
		QPS:             200,
		Burst:           400,
	}
}

// WriteKubeconfig writes a kubeconfig for cfg (client certificate or bearer token) whose only context, also the current one, is
// named context, and returns its path. Each call writes a new file, so parallel tests never
// overwrite each other's.
func (c *Cluster) WriteKubeconfig(t testing.TB, context string, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[context] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts[context] = &clientcmdapi.Context{Cluster: "test", AuthInfo: context}
	kc.CurrentContext = context
	f, err := os.CreateTemp(c.dir, "kubeconfig-"+context+"-*")
	if err != nil {
		t.Fatalf("creating a kubeconfig for %s: %v", context, err)
	}
	f.Close()
	if err := clientcmd.WriteToFile(*kc, f.Name()); err != nil {
		t.Fatalf("writing the kubeconfig for %s: %v", context, err)
	}
	return f.Name()
}

// Stop ends both servers and removes their files. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	stop(c.kube)
	stop(c.etcd)
	c.kube, c.etcd = nil, nil
	for _, d := range []string{c.etcdData, c.dir} {
		if d != "" {
			_ = os.RemoveAll(d)
		}
	}
	c.etcdData, c.dir = "", ""
}

// shared holds the servers one test binary shares across its tests, stopped by Main.
var shared struct {
	sync.Mutex
	main     bool
	cluster  *Cluster
	failedIn string
	life     *lifetimeTB
}

// Main runs the package's tests, then stops what SharedCluster started, then exits with
// the tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	if shared.life != nil {
		shared.life.cleanup()
	}
	shared.Unlock()
	os.Exit(code)
}

// SharedCluster returns the test binary's one cluster, starting it on the first call (so a
// -run that selects no cluster test starts none). It lives until Main returns, so tests
// sharing it use their own namespaces and names. The package's TestMain must call Main.
func SharedCluster(t testing.TB) *Cluster {
	RequireServers(t)
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	switch {
	case !shared.main:
		t.Fatal("testenv.SharedCluster needs the package's TestMain to call testenv.Main(m), which stops the cluster after the tests")
	case shared.cluster != nil:
		return shared.cluster
	case shared.failedIn != "":
		t.Fatalf("the shared cluster failed to start in %s; see its log", shared.failedIn)
	}
	shared.life = &lifetimeTB{TB: t}
	started := false
	defer func() {
		if !started { // t.Fatal inside StartCluster: kill what did start
			shared.failedIn = t.Name()
			shared.life.cleanup()
		}
	}()
	shared.cluster = StartCluster(shared.life)
	started = true
	return shared.cluster
}

// lifetimeTB reports a shared server's start failures to the test that asked for it, but
// keeps the server's cleanups until the test binary is done with it.
type lifetimeTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (l *lifetimeTB) Cleanup(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, f)
}

func (l *lifetimeTB) cleanup() {
	l.mu.Lock()
	fs := l.cleanups
	l.cleanups = nil
	l.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
