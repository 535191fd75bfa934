package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryOptions configure a registry; with a Username, the registry requires basic auth.
type RegistryOptions struct {
	Username, Password string
}

// Registry is a running CNCF Distribution registry on 127.0.0.1.
type Registry struct {
	// Addr is 127.0.0.1:PORT.
	Addr string
	t    testing.TB
	bin  string
	cfg  string
	cmd  *exec.Cmd
	log  string
}

// StartRegistry starts a real registry with filesystem storage in a temporary directory.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := filepath.Join(ToolsBin(t, "registry"), "registry")
	dir := t.TempDir()
	port := freePort(t)
	auth := ""
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
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
		t.Fatal(err)
	}
	r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port), t: t, bin: bin, cfg: cfg}
	r.start()
	t.Cleanup(r.Stop)
	return r
}

func (r *Registry) start() {
	r.t.Helper()
	env := cleanEnv("REGISTRY_", "OTEL_")
	env = append(env, "OTEL_TRACES_EXPORTER=none")
	r.cmd = process(r.t, "registry", env, r.bin, "serve", r.cfg)
	r.log = r.cmd.Stdout.(*os.File).Name()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("registry did not start on %s:\n%s", r.Addr, tail(r.log, 20))
}

// Ref names a repository (and optional tag) on this registry.
func (r *Registry) Ref(repo string) string { return r.Addr + "/" + repo }

// Kill stops the registry abruptly, as a crash or network loss would.
func (r *Registry) Kill() { stop(r.cmd); r.cmd = nil }

// Restart starts the registry again on the same port and storage.
func (r *Registry) Restart() { r.Kill(); r.start() }

// Stop ends the registry.
func (r *Registry) Stop() { stop(r.cmd); r.cmd = nil }
