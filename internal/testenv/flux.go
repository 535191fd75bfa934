package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// KustomizeController runs Flux's kustomize-controller (built by tools/kustomize) as a local
// process against the cluster: leader election off, every listener on 127.0.0.1. It returns
// the path of its log, for failure messages.
func KustomizeController(t testing.TB, c *Cluster) string {
	t.Helper()
	bin := filepath.Join(ToolsBin(t, "kustomize"), "kustomize-controller")
	env := append(cleanEnv("KUBECONFIG="), "KUBECONFIG="+c.Kubeconfig, "RUNTIME_NAMESPACE=flux-system")
	cmd := process(t, "kustomize-controller", env, bin,
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("--health-addr=127.0.0.1:%d", freePort(t)),
		"--enable-leader-election=false", "--watch-all-namespaces=true", "--no-remote-bases=true",
		"--requeue-dependency=2s", "--log-level=info")
	t.Cleanup(func() { stop(cmd) })
	return cmd.Stdout.(*os.File).Name()
}

// Tail returns the last lines of a log file.
func Tail(path string, n int) string { return tail(path, n) }
