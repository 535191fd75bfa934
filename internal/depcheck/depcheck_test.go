// Package depcheck holds the test that keeps Bulwark's layering: which packages may reach
// which, checked against `go list`, in the manner of go-containerregistry's depcheck.
package depcheck

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const module = "bulwark.dev/bulwark"

// rule says what the packages matching From (a package path, or a prefix ending in "/...")
// must not reach through their non-test imports, directly or transitively. NoneOfOurs
// forbids every package of this module but the package itself.
type rule struct {
	From       string
	Forbidden  []string
	NoneOfOurs bool
	Why        string
}

var rules = []rule{
	{From: module + "/profile", NoneOfOurs: true, Why: "the profile API is the base everything else builds on"},
	{From: module + "/catalogue", NoneOfOurs: true, Why: "the catalogue is data; callers pass its control ids to the profile loader"},
	{From: module + "/internal/canonyaml", NoneOfOurs: true, Why: "the bundle's YAML form is a leaf that the format and the generators share"},
	{From: module + "/internal/parallel", NoneOfOurs: true, Why: "a scheduling helper every layer may use"},
	{From: module + "/internal/fleet", NoneOfOurs: true, Why: "test data: the fleet-size profile"},
	{From: module + "/api", NoneOfOurs: true, Why: "the shared names are a leaf every package may import"},
	{From: module + "/bundle", Forbidden: []string{"github.com/google/go-containerregistry/...", "github.com/sigstore/...", module + "/bundle/oci", module + "/bundle/signature"},
		Why: "the bundle format is pure: generation must not link a registry client or sigstore"},
	{From: module + "/generators/...", Forbidden: []string{module + "/bundle/oci", module + "/bundle/signature", module + "/verify/...", "k8s.io/client-go/...", "github.com/google/go-containerregistry/...", "github.com/sigstore/..."},
		Why: "generators turn a profile into objects; they talk to no cluster and no registry"},
	{From: module + "/verify/...", Forbidden: []string{module + "/generators/...", module + "/pipeline", module + "/bundle/signature", "github.com/sigstore/..."},
		Why: "verify works from a pulled bundle alone; signature checks are handed to it by the command"},
	{From: module + "/cmd/bulwark", Forbidden: []string{"k8s.io/client-go/discovery/...", "k8s.io/client-go/kubernetes/...", "github.com/santhosh-tekuri/jsonschema/...", module + "/oscal/oscalschema"},
		Why: "client-go's discovery links its kubernetes scheme, whose init registers every built-in API type in every command (3 ms and 6 MB at each start); verify maps kinds itself; and the OSCAL schema compiler builds every draft's meta-schema in its init (7 ms, 3 MB), so OSCAL output is held to the schema by tests"},
	{From: module + "/scope", Forbidden: []string{module + "/generators/...", module + "/verify/...", module + "/bundle/..."},
		Why: "the scope decision is shared by generators and verify, so it depends on neither"},
}

// importers says which packages alone may import a package (non-test imports).
var importers = map[string][]string{
	module + "/internal/demo":    {module + "/cmd/bulwark"},
	module + "/internal/testenv": {},
	module + "/internal/fleet":   {},
}

// pkgInfo is what the check needs of a package.
type pkgInfo struct {
	Imports []string // direct, non-test
	Deps    []string // transitive, non-test
}

func matches(pattern, path string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == p || strings.HasPrefix(path, p+"/")
	}
	return path == pattern
}

// check returns every violation of rules and importers in the package graph.
func check(pkgs map[string]pkgInfo) []string {
	var bad []string
	for path, info := range pkgs {
		for _, r := range rules {
			if !matches(r.From, path) {
				continue
			}
			for _, dep := range info.Deps {
				if r.NoneOfOurs && dep != path && matches(module+"/...", dep) {
					bad = append(bad, path+" imports "+dep+": "+r.Why)
				}
				for _, f := range r.Forbidden {
					if matches(f, dep) {
						bad = append(bad, path+" reaches "+dep+": "+r.Why)
					}
				}
			}
		}
		for _, imp := range info.Imports {
			allowed, ok := importers[imp]
			if !ok {
				continue
			}
			permitted := false
			for _, a := range allowed {
				permitted = permitted || a == path
			}
			if !permitted {
				bad = append(bad, path+" imports "+imp+", which only "+strings.Join(append([]string{"tests"}, allowed...), " and ")+" may import")
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// list reads the module's package graph from `go list`, test imports excluded.
func list(t *testing.T) map[string]pkgInfo {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .Deps \" \"}}", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkgInfo{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 {
			t.Fatalf("go list printed %q", sc.Text())
		}
		pkgs[parts[0]] = pkgInfo{Imports: strings.Fields(parts[1]), Deps: strings.Fields(parts[2])}
	}
	return pkgs
}

func TestLayering(t *testing.T) {
	pkgs := list(t)
	for _, want := range []string{module + "/profile", module + "/bundle", module + "/bundle/oci", module + "/verify", module + "/generators", module + "/cmd/bulwark"} {
		if _, ok := pkgs[want]; !ok {
			t.Fatalf("go list did not report %s: the check would pass vacuously", want)
		}
	}
	for _, v := range check(pkgs) {
		t.Error(v)
	}
}

// TestCheckFindsEachBrokenRule breaks every rule in a copy of the real graph and expects the
// check to say so: a layering test that cannot fail proves nothing.
func TestCheckFindsEachBrokenRule(t *testing.T) {
	real := list(t)
	if v := check(real); len(v) > 0 {
		t.Skip("the real graph already breaks a rule; TestLayering reports it")
	}
	breaks := []struct{ name, pkg, dep, want string }{
		{"profile imports another package of ours", module + "/profile", module + "/api", "profile imports " + module + "/api"},
		{"catalogue imports the profile", module + "/catalogue", module + "/profile", "catalogue imports"},
		{"the format links go-containerregistry", module + "/bundle", "github.com/google/go-containerregistry/pkg/v1/remote", "bundle reaches github.com/google/go-containerregistry"},
		{"a generator links client-go", module + "/generators/kyverno", "k8s.io/client-go/rest", "generators/kyverno reaches k8s.io/client-go/rest"},
		{"a generator reaches the registry client", module + "/generators", module + "/bundle/oci", "generators reaches " + module + "/bundle/oci"},
		{"verify reaches the generators", module + "/verify/output", module + "/generators/network", "verify/output reaches " + module + "/generators/network"},
		{"verify links sigstore", module + "/verify", "github.com/sigstore/sigstore/pkg/signature", "verify reaches github.com/sigstore"},
	}
	for _, b := range breaks {
		t.Run(b.name, func(t *testing.T) {
			g := copyGraph(real)
			info := g[b.pkg]
			info.Deps = append(info.Deps, b.dep)
			g[b.pkg] = info
			if got := strings.Join(check(g), "\n"); !strings.Contains(got, b.want) {
				t.Errorf("check did not find the broken rule (want %q), said:\n%s", b.want, got)
			}
		})
	}
	for _, b := range []struct{ name, pkg, imp string }{
		{"testenv imported by product code", module + "/verify", module + "/internal/testenv"},
		{"demo imported outside cmd", module + "/bundle/oci", module + "/internal/demo"},
	} {
		t.Run(b.name, func(t *testing.T) {
			g := copyGraph(real)
			info := g[b.pkg]
			info.Imports = append(info.Imports, b.imp)
			g[b.pkg] = info
			if got := strings.Join(check(g), "\n"); !strings.Contains(got, b.pkg+" imports "+b.imp) {
				t.Errorf("check did not find %s importing %s, said:\n%s", b.pkg, b.imp, got)
			}
		})
	}
}

func copyGraph(g map[string]pkgInfo) map[string]pkgInfo {
	out := make(map[string]pkgInfo, len(g))
	for k, v := range g {
		out[k] = pkgInfo{Imports: append([]string(nil), v.Imports...), Deps: append([]string(nil), v.Deps...)}
	}
	return out
}
