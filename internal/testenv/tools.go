// Package testenv starts the real servers Bulwark's tests run against: a CNCF Distribution
// registry, and etcd with kube-apiserver, all built from the Go module proxy by tools/ and
// bound to 127.0.0.1. Processes die with the test binary.
package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	toolsMu   sync.Mutex
	toolsDirs = map[string]string{}
)

// RepoRoot is the checkout's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ToolsBin returns the directory holding the binaries of tools/<name>: the directory named
// by BULWARK_TOOLS_<NAME> (set by the Makefile), or one built now by tools/build.sh (cached,
// so warm runs cost a hash).
func ToolsBin(t testing.TB, name string) string {
	t.Helper()
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if dir, ok := toolsDirs[name]; ok {
		return dir
	}
	if dir := os.Getenv("BULWARK_TOOLS_" + strings.ToUpper(name)); dir != "" {
		toolsDirs[name] = dir
		return dir
	}
	root := RepoRoot()
	cache := os.Getenv("TOOLS_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "bulwark", "tools")
	}
	cmd := exec.Command(filepath.Join(root, "tools", "build.sh"), filepath.Join(root, "tools", name), cache)
	cmd.Dir = root
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("building tools/%s: %v\n%s", name, err, errOut.String())
	}
	dir := strings.TrimSpace(out.String())
	toolsDirs[name] = dir
	return dir
}

// freePort asks the kernel for an unused loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process starts a server that dies with the test binary (SIGKILL on parent death).
func process(t testing.TB, logName string, env []string, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	logFile, err := os.CreateTemp("", "bulwark-"+logName+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", logName, err)
	}
	t.Cleanup(func() { logFile.Close(); os.Remove(logFile.Name()) })
	return cmd
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanEnv drops variables a server would read as configuration (etcd reads every ETCD_*).
func cleanEnv(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range drop {
			if strings.HasPrefix(kv, p) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

func stop(cmd *exec.Cmd) {
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
	}
}

// KyvernoCLI returns the path of the Kyverno CLI built by tools/kyverno.
func KyvernoCLI(t testing.TB) string {
	t.Helper()
	return filepath.Join(ToolsBin(t, "kyverno"), "kyverno")
}
