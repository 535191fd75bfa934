package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	toolsMu   sync.Mutex
	toolsDirs = map[string]string{}
)

// RequireServers skips the test under go test -short (make quick): it needs the real
// servers tools/ builds. make test never passes -short, so there they always run.
func RequireServers(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the real servers built by tools/ (skipped under -short; make test runs it)")
	}
}

// RepoRoot is the checkout's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ToolsBin returns the directory holding the binaries of tools/<name> ("kube", "registry",
// "kyverno", "kustomize"): the directory BULWARK_TOOLS_<NAME> names (make sets it), or one
// tools/build.sh builds now into $TOOLS_CACHE or ~/.cache/bulwark/tools — cached by the
// tool module's go.sum, so only the first run on a machine pays for the build. A tool that
// cannot be built fails the test with the build's output; it never skips.
func ToolsBin(t testing.TB, name string) string {
	t.Helper()
	RequireServers(t)
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if dir, ok := toolsDirs[name]; ok {
		return dir
	}
	env := "BULWARK_TOOLS_" + strings.ToUpper(name)
	if dir := os.Getenv(env); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Fatalf("%s=%s is not a directory of built tools (run make tools, or unset it to build here): %v", env, dir, err)
		}
		toolsDirs[name] = dir
		return dir
	}
	root := RepoRoot()
	cache := os.Getenv("TOOLS_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("finding the tools cache: %v", err)
		}
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
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// scratchPrefix names every file and directory this package leaves outside t.TempDir, with
// the test binary's pid, so a later run can remove what a killed run left behind.
const scratchPrefix = "bulwark-testenv-"

var sweepOnce sync.Once

// tempDir makes a scratch directory under parent ("" for os.TempDir) that sweepStale can
// attribute to this process.
func tempDir(t testing.TB, parent, what string) string {
	t.Helper()
	sweepOnce.Do(sweepStale)
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-%s-", scratchPrefix, os.Getpid(), what))
	if err != nil {
		t.Fatalf("creating a %s directory: %v", what, err)
	}
	return dir
}

// sweepStale removes scratch files of test binaries that no longer run: a go test -timeout
// kill skips every cleanup, and etcd's write-ahead log on /dev/shm holds memory.
func sweepStale() {
	for _, parent := range []string{os.TempDir(), "/dev/shm"} {
		matches, _ := filepath.Glob(filepath.Join(parent, scratchPrefix+"*"))
		for _, m := range matches {
			rest := strings.TrimPrefix(filepath.Base(m), scratchPrefix)
			pid, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '-'), 0)])
			if err != nil || pid == os.Getpid() || alive(pid) {
				continue
			}
			_ = os.RemoveAll(m)
		}
	}
}

// alive reports whether pid is a running process (a zombie has ended).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself hold spaces.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// spawn starts commands from one goroutine locked to its OS thread for the life of the
// test binary. Pdeathsig fires when the thread that forked the child ends, not the process;
// a thread that never ends makes it fire exactly when the test binary dies.
var spawn = sync.OnceValue(func() chan<- spawnReq {
	reqs := make(chan spawnReq)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread must outlive every child
		for r := range reqs {
			r.done <- r.cmd.Start()
		}
	}()
	return reqs
})

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// process starts a server that dies with the test binary, however it ends (see spawn). Its
// own process group lets stop kill anything it forked.
func process(t testing.TB, logName string, env []string, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	sweepOnce.Do(sweepStale)
	logFile, err := os.CreateTemp("", fmt.Sprintf("%s%d-%s-*.log", scratchPrefix, os.Getpid(), logName))
	if err != nil {
		t.Fatalf("creating the %s log: %v", logName, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	done := make(chan error)
	spawn() <- spawnReq{cmd, done}
	if err := <-done; err != nil {
		logFile.Close()
		os.Remove(logFile.Name())
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

// stop SIGKILLs a server's process group and reaps it.
func stop(cmd *exec.Cmd) {
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
	}
}
