package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Cluster is a real etcd and kube-apiserver on 127.0.0.1. No controllers run: namespaces
// deleted in a test stay Terminating, and tests write the status controllers would.
type Cluster struct {
	// URL is https://127.0.0.1:PORT.
	URL string
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file for Config, with context "admin".
	Kubeconfig string

	dir        string
	pki        *pki
	etcd, kube *exec.Cmd
}

// StartCluster starts etcd and kube-apiserver and waits until the API server is ready.
// Start costs a few seconds: share one cluster per test package (TestMain, or a sync.Once).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := ToolsBin(t, "kube")
	dir, err := os.MkdirTemp("", "bulwark-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{dir: dir}
	t.Cleanup(c.Stop)
	if c.pki, err = newPKI(); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.crt", c.pki.caPEM)
	srvCert, srvKey, err := c.pki.issue("kube-apiserver", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	saPriv, saPub, err := serviceAccountKeys()
	if err != nil {
		t.Fatal(err)
	}

	// etcd keeps its data in memory-backed storage when the machine has it.
	dataRoot := "/dev/shm"
	if st, err := os.Stat(dataRoot); err != nil || !st.IsDir() {
		dataRoot = dir
	}
	etcdData, err := os.MkdirTemp(dataRoot, "bulwark-etcd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etcdData) })
	clientPort, peerPort := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	c.etcd = process(t, "etcd", cleanEnv("ETCD_"), filepath.Join(bin, "etcd"),
		"--name=default", "--data-dir="+etcdData, "--unsafe-no-fsync",
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--listen-metrics-urls=http://127.0.0.1:"+fmt.Sprint(freePort(t)),
		"--log-level=warn")

	port := freePort(t)
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	c.kube = process(t, "kube-apiserver", cleanEnv(), filepath.Join(bin, "kube-apiserver"),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
		"--etcd-servers="+etcdURL,
		"--client-ca-file="+caFile,
		"--tls-cert-file="+write("apiserver.crt", srvCert), "--tls-private-key-file="+write("apiserver.key", srvKey),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+write("sa.pub", saPub), "--service-account-signing-key-file="+write("sa.key", saPriv),
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=RBAC",
		"--disable-admission-plugins=ServiceAccount", "--endpoint-reconciler-type=none",
		"--allow-privileged=true", "--v=0")

	c.Config = c.UserConfig(t, "admin", "system:masters")
	c.Kubeconfig = c.WriteKubeconfig(t, "admin", c.Config)
	c.waitReady(t)
	return c
}

func (c *Cluster) waitReady(t testing.TB) {
	t.Helper()
	rc, err := rest.UnversionedRESTClientFor(withCodec(c.Config))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if c.kube.ProcessState != nil {
			break
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

// UserConfig returns a client configuration authenticating as user in groups, by a client
// certificate the cluster's CA signs.
func (c *Cluster) UserConfig(t testing.TB, user string, groups ...string) *rest.Config {
	t.Helper()
	cert, key, err := c.pki.issue(user, groups, false)
	if err != nil {
		t.Fatal(err)
	}
	return &rest.Config{
		Host:            c.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM, CertData: cert, KeyData: key},
		QPS:             200,
		Burst:           400,
	}
}

// WriteKubeconfig writes a kubeconfig for cfg whose only context is named context.
func (c *Cluster) WriteKubeconfig(t testing.TB, context string, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[context] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts[context] = &clientcmdapi.Context{Cluster: "test", AuthInfo: context}
	kc.CurrentContext = context
	path := filepath.Join(c.dir, "kubeconfig-"+context)
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Stop ends both servers and removes their files.
func (c *Cluster) Stop() {
	stop(c.kube)
	stop(c.etcd)
	c.kube, c.etcd = nil, nil
	os.RemoveAll(c.dir)
}
