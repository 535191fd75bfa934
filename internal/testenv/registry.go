package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryOptions configure a registry; with a Username, the registry requires HTTP basic
// auth (an htpasswd file with a bcrypt hash of Password).
type RegistryOptions struct {
	Username string
	Password string
	// Referrers starts olareg, which serves the OCI 1.1 referrers API, instead of
	// Distribution, which does not (clients fall back to the referrers tag schema). olareg
	// has no authentication: not with Username.
	Referrers bool
}

// Registry is a running CNCF Distribution registry (or olareg, with Referrers) on
// 127.0.0.1, plain HTTP, with filesystem storage in a scratch directory removed after the
// test, and deletes enabled.
type Registry struct {
	// Addr is 127.0.0.1:PORT, the registry host of its references.
	Addr string
	// Options are the credentials it was started with.
	Options RegistryOptions

	t    testing.TB
	bin  string
	args []string
	dir  string

	mu  sync.Mutex
	cmd *exec.Cmd
	log string
}

// StartRegistry starts a real registry and stops it when the test ends.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := filepath.Join(ToolsBin(t, "registry"), "registry")
	// Not t.TempDir: a test binary killed by go test -timeout would leave it behind, while
	// tempDir's are swept by the next run.
	dir := tempDir(t, "", "registry")
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	port := freePort(t)
	if opts.Referrers {
		if opts.Username != "" {
			t.Fatal("olareg, the registry with the referrers API, has no authentication")
		}
		r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port), Options: opts, t: t, dir: dir,
			bin:  filepath.Join(ToolsBin(t, "registry"), "olareg"),
			args: []string{"serve", "--addr", "127.0.0.1", "--port", fmt.Sprint(port), "--dir", filepath.Join(dir, "data"), "--api-delete"}}
		t.Cleanup(r.Stop)
		r.start()
		return r
	}
	auth := ""
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("hashing the registry password: %v", err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatalf("writing htpasswd: %v", err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: bulwark-test\n    path: %s\n", htpasswd)
	}
	cfg := filepath.Join(dir, "config.yml")
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
%s`, filepath.Join(dir, "data"), port, auth)
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatalf("writing the registry config: %v", err)
	}
	r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port), Options: opts, t: t, bin: bin, dir: dir, args: []string{"serve", cfg}}
	t.Cleanup(r.Stop)
	r.start()
	return r
}

func (r *Registry) start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	// The registry reads REGISTRY_* as configuration, and would export traces by default.
	env := append(cleanEnv("REGISTRY_", "OTEL_"), "OTEL_TRACES_EXPORTER=none")
	cmd := process(r.t, filepath.Base(r.bin), env, r.bin, r.args...)
	r.cmd, r.log = cmd, cmd.Stdout.(*os.File).Name()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			r.t.Fatalf("registry exited during start:\n%s", tail(r.log, 20))
		default:
		}
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("registry did not start on %s:\n%s", r.Addr, tail(r.log, 20))
}

// Ref names a repository (with an optional :tag or @digest) on this registry.
func (r *Registry) Ref(repo string) string { return r.Addr + "/" + repo }

// Kill SIGKILLs the registry, as a crash or a lost connection would look to a client in
// the middle of a push.
func (r *Registry) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	stop(r.cmd)
	r.cmd = nil
}

// Restart kills the registry if it runs and starts it again on the same address and
// storage, so what it had stored is served again.
func (r *Registry) Restart() {
	r.t.Helper()
	r.Kill()
	r.start()
}

// Stop ends the registry; the test's cleanup calls it too.
func (r *Registry) Stop() { r.Kill() }
