package testenv

import (
	"os"
	"testing"
)

// BenchmarkStartCluster measures what a test pays for its own cluster: etcd and
// kube-apiserver from exec to /readyz ok, then Stop.
func BenchmarkStartCluster(b *testing.B) {
	ToolsBin(b, "kube")
	for b.Loop() {
		StartCluster(b).Stop()
	}
}

// BenchmarkStartRegistry measures a registry with htpasswd auth from exec to serving /v2/.
func BenchmarkStartRegistry(b *testing.B) {
	ToolsBin(b, "registry")
	for b.Loop() {
		StartRegistry(b, RegistryOptions{Username: "u", Password: "p"}).Stop()
	}
}

// BenchmarkToolsBinWarm measures tools/build.sh finding a cached build, what every test
// binary pays once per tool when make has not set BULWARK_TOOLS_*.
func BenchmarkToolsBinWarm(b *testing.B) {
	b.Setenv("BULWARK_TOOLS_KUBE", "")
	os.Unsetenv("BULWARK_TOOLS_KUBE")
	ToolsBin(b, "kube")
	for b.Loop() {
		toolsMu.Lock()
		delete(toolsDirs, "kube")
		toolsMu.Unlock()
		ToolsBin(b, "kube")
	}
}
