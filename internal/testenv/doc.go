// Package testenv starts the real servers Bulwark's tests run against: etcd with
// kube-apiserver, a CNCF Distribution registry, Flux's kustomize-controller, the Kyverno
// CLI and Kyverno's admission, background and reports controllers (StartKyverno), all built
// from the Go module proxy by tools/ and bound to 127.0.0.1. Server processes
// die with the test binary, even when go test -timeout kills it.
//
// One cluster per test package is the usual shape, since a start costs seconds:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		c := testenv.SharedCluster(t)
//		testenv.InstallCRDs(t, c.Config, "kyverno")
//		...
//	}
//
// Tests sharing a cluster use their own namespaces: nothing deletes them, and with no
// kube-controller-manager a deleted namespace stays Terminating.
package testenv
