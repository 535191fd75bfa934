package kyverno

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/internal/testenv"
)

// clusterNamespaces are the namespaces the engine tests put resources in, with the labels
// the payments profile's scope and tier selectors read. The Kyverno CLI takes them from a
// values file: its engine evaluates both the policies' namespaceSelector and their CEL on
// namespaceObject from these labels.
var clusterNamespaces = map[string]map[string]string{
	"payments":     nil, // named in include and sensitiveInclude
	"ledger":       nil, // named in include and sensitiveInclude
	"legacy-batch": nil, // named in include only
	"shop":         {"bulwark.dev/scope": "app"},
	"vault":        {"bulwark.dev/scope": "app", "bulwark.dev/data-class": "confidential"},
	"sandbox":      nil,                          // neither named nor selected
	"kube-system":  {"bulwark.dev/scope": "app"}, // selected, but excluded
	"kyverno":      nil,                          // excluded; where the exceptions live
	"istio-system": nil,
	"default":      nil,
}

func writeValues(t *testing.T, dir string) string {
	t.Helper()
	type entry struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	}
	var entries []entry
	for name, labels := range clusterNamespaces {
		l := map[string]string{"kubernetes.io/metadata.name": name}
		for k, v := range labels {
			l[k] = v
		}
		entries = append(entries, entry{name, l})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	data, err := yaml.Marshal(map[string]any{
		"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Value",
		"metadata": map[string]any{"name": "namespaces"}, "namespaceSelector": entries,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// engine runs generated policies with Kyverno's own engine (the Kyverno CLI) against
// resources in clusterNamespaces.
type engine struct {
	t      *testing.T
	dir    string
	values string
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	testenv.KyvernoCLI(t) // build or find it before any subtest needs it
	dir := t.TempDir()
	return &engine{t: t, dir: dir, values: writeValues(t, dir)}
}

// apply evaluates the policies against the resources, with the given PolicyExceptions, as
// requests by nobody in particular (an empty request.userInfo).
func (e *engine) apply(t *testing.T, policies, resources, exceptions []string) testenv.KyvernoResult {
	t.Helper()
	return e.applyAs(t, "", policies, resources, exceptions)
}

// applyAs is apply with request.userInfo from the UserInfo file userInfo, if not empty.
func (e *engine) applyAs(t *testing.T, userInfo string, policies, resources, exceptions []string) testenv.KyvernoResult {
	t.Helper()
	extra := []string{"--values-file", e.values}
	if userInfo != "" {
		extra = append(extra, "--userinfo", userInfo)
	}
	for _, x := range exceptions {
		extra = append(extra, "--exceptions", x)
	}
	res, err := testenv.KyvernoApply(t, policies, resources, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// write stores a generated object as a file the CLI reads.
func (e *engine) write(t *testing.T, o generated.Object) string {
	t.Helper()
	data, err := generated.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, strings.ToLower(o.Object.GetObjectKind().GroupVersionKind().Kind)+"-"+o.Object.GetName()+".yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// resource stores obj as a file and returns the path and the key KyvernoResult.Verdicts uses.
func (e *engine) resource(t *testing.T, obj *unstructured.Unstructured) (path, key string) {
	t.Helper()
	data, err := obj.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	key = obj.GetKind() + "/" + obj.GetName()
	if obj.GetNamespace() != "" {
		key = obj.GetKind() + "/" + obj.GetNamespace() + "/" + obj.GetName()
	}
	path = filepath.Join(e.dir, "res-"+strings.ReplaceAll(key, "/", "_")+".json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, key
}

func readFixture(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testenv.DecodeYAML(data)
	if err != nil || len(objs) != 1 {
		t.Fatalf("%s: want one object, got %d (%v)", path, len(objs), err)
	}
	return objs[0]
}

// fixtureUser is who makes a fixture's admission request, as catalogue/testdata/fixture-users.yaml
// names it.
type fixtureUser testenv.FixtureUser

func (u fixtureUser) key() string { return u.Username + "\x00" + strings.Join(u.Groups, "\x00") }

// fixtureUsers maps each fixture path listed in fixture-users.yaml to its user, and returns the
// user (alice) of every other fixture.
func fixtureUsers(t *testing.T) (byPath map[string]fixtureUser, alice fixtureUser) {
	t.Helper()
	dir := filepath.Join("..", "..", "catalogue", "testdata")
	byFixture, a := testenv.FixtureUsers(t, dir)
	byPath = map[string]fixtureUser{}
	for fixture, u := range byFixture {
		byPath[filepath.Join(dir, "fixtures", filepath.FromSlash(fixture))] = fixtureUser(u)
	}
	return byPath, fixtureUser(a)
}

// userInfo writes the Kyverno CLI's UserInfo file for u (kyverno apply --userinfo), from which
// its engine fills a ValidatingPolicy's request.userInfo.
func (e *engine) userInfo(t *testing.T, u fixtureUser) string {
	t.Helper()
	data, err := yaml.Marshal(map[string]any{
		"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "UserInfo",
		"metadata": map[string]any{"name": "fixture-user"},
		"userInfo": map[string]any{"username": u.Username, "groups": u.Groups},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(e.dir, "userinfo-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// fixtures lists a control's catalogue fixtures with the verdict each must get.
func fixtures(t *testing.T, id string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "catalogue", "testdata", "fixtures", id, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		switch base := filepath.Base(f); {
		case strings.HasPrefix(base, "deny-"):
			out[f] = "fail"
		case strings.HasPrefix(base, "admit-"):
			out[f] = "pass"
		default:
			t.Fatalf("fixture %s is neither deny-* nor admit-*", f)
		}
	}
	return out
}

func kindOf(o generated.Object) string { return o.Object.GetObjectKind().GroupVersionKind().Kind }

// ephemeralCompanion reports whether o is the companion policy matching
// pods/ephemeralcontainers. kyverno apply evaluates a resource as a CREATE of that resource and
// never as a subresource UPDATE, so it would match nothing: the engine tests evaluate its CEL
// through the pods policy, TestCompanionPolicyIsThePodsPolicy holds the two to the same
// checks, and TestRealKyvernoDeniesKubectlDebug sends the subresource request.
func ephemeralCompanion(o generated.Object) bool {
	return strings.HasSuffix(o.Object.GetName(), "-ephemeralcontainers")
}

// TestCompanionPolicyIsThePodsPolicy: each pods/ephemeralcontainers companion has the pods
// policy's conditions, variables, validations and actions, matches only an UPDATE of the
// subresource, and neither autogenerates nor scans in the background.
func TestCompanionPolicyIsThePodsPolicy(t *testing.T) {
	p, cat := payments(t)
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]generated.Object{}
	for _, o := range objs {
		byName[o.Object.GetName()] = o
	}
	checked := 0
	for _, o := range objs {
		if !ephemeralCompanion(o) || kindOf(o) != "ValidatingPolicy" {
			continue
		}
		checked++
		comp := o.Object.(*kyvernov1.ValidatingPolicy)
		main, ok := byName[strings.TrimSuffix(comp.Name, "-ephemeralcontainers")]
		if !ok {
			t.Errorf("%s has no pods policy", comp.Name)
			continue
		}
		pods := main.Object.(*kyvernov1.ValidatingPolicy)
		rules := comp.Spec.MatchConstraints.ResourceRules
		if len(rules) != 1 || !slices.Equal(rules[0].Resources, []string{"pods/ephemeralcontainers"}) ||
			len(rules[0].Operations) != 1 || rules[0].Operations[0] != "UPDATE" {
			t.Errorf("%s matches %+v, want only UPDATE of pods/ephemeralcontainers", comp.Name, rules)
		}
		if r := pods.Spec.MatchConstraints.ResourceRules; len(r) != 1 || !slices.Equal(r[0].Resources, []string{"pods"}) || pods.Spec.AutogenConfiguration == nil {
			t.Errorf("%s: the pods policy must match pods alone and autogenerate, so Kyverno extends it to Pod controllers", pods.Name)
		}
		if comp.Spec.AutogenConfiguration != nil || comp.Spec.EvaluationConfiguration.Background.Enabled == nil || *comp.Spec.EvaluationConfiguration.Background.Enabled {
			t.Errorf("%s must neither autogenerate nor scan in the background", comp.Name)
		}
		if !reflect.DeepEqual(comp.Spec.MatchConditions, pods.Spec.MatchConditions) || !reflect.DeepEqual(comp.Spec.Variables, pods.Spec.Variables) ||
			!reflect.DeepEqual(comp.Spec.Validations, pods.Spec.Validations) || !reflect.DeepEqual(comp.Spec.ValidationAction, pods.Spec.ValidationAction) ||
			!reflect.DeepEqual(comp.Spec.MatchConstraints.NamespaceSelector, pods.Spec.MatchConstraints.NamespaceSelector) {
			t.Errorf("%s does not check what %s checks", comp.Name, pods.Name)
		}
	}
	if checked < 14 {
		t.Errorf("only %d companion policies in the payments bundle", checked)
	}
}

// TestKyvernoEngineEnforcesEveryRule evaluates every generated ValidatingPolicy with
// Kyverno's engine against the catalogue's fixtures: deny-* must fail, admit-* must pass.
func TestKyvernoEngineEnforcesEveryRule(t *testing.T) {
	e := newEngine(t)
	p, cat := payments(t)
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	users, alice := fixtureUsers(t)
	checked := 0
	for _, o := range objs {
		if kindOf(o) != "ValidatingPolicy" || ephemeralCompanion(o) {
			continue
		}
		checked++
		id := o.Controls[0]
		t.Run(id, func(t *testing.T) {
			want := fixtures(t, id)
			var denied, admitted int
			// The CLI takes one user per run: one run per user the fixtures name.
			files := map[string][]string{} // by fixtureUser.key
			keys := map[string]string{}
			userOf := map[string]fixtureUser{}
			byKey := map[string]fixtureUser{}
			for f, verdict := range want {
				path, key := e.resource(t, readFixture(t, f))
				u, ok := users[f]
				if !ok {
					u = alice
				}
				files[u.key()] = append(files[u.key()], path)
				keys[f], userOf[f], byKey[u.key()] = key, u, u
				if verdict == "fail" {
					denied++
				} else {
					admitted++
				}
			}
			if denied == 0 || admitted == 0 {
				t.Fatalf("%s needs at least one deny and one admit fixture (have %d, %d)", id, denied, admitted)
			}
			policy := e.write(t, o)
			got := map[string]map[string]string{}
			for k, fs := range files {
				got[k] = e.applyAs(t, e.userInfo(t, byKey[k]), []string{policy}, fs, nil).Verdicts()
			}
			for f, verdict := range want {
				if v := got[userOf[f].key()][keys[f]]; v != verdict {
					t.Errorf("%s (as %s %v): Kyverno says %q, want %q", filepath.Base(f), userOf[f].Username, userOf[f].Groups, v, verdict)
				}
			}
		})
	}
	if checked < 30 {
		t.Fatalf("only %d ValidatingPolicies checked", checked)
	}
}

// podController wraps a Pod's metadata and spec into a workload of the given kind, as
// a team would ship it.
func podController(pod *unstructured.Unstructured, kind string) *unstructured.Unstructured {
	labels := pod.GetLabels()
	if len(labels) == 0 {
		labels = map[string]string{"bulwark.dev/fixture": pod.GetName()}
	}
	tmplMeta := map[string]any{"labels": toAny(labels)}
	if a := pod.GetAnnotations(); len(a) > 0 {
		tmplMeta["annotations"] = toAny(a)
	}
	template := map[string]any{"metadata": tmplMeta, "spec": pod.Object["spec"]}
	obj := &unstructured.Unstructured{Object: map[string]any{}}
	switch kind {
	case "Deployment":
		obj.SetAPIVersion("apps/v1")
		obj.Object["spec"] = map[string]any{"replicas": int64(2), "selector": map[string]any{"matchLabels": toAny(labels)}, "template": template}
	case "CronJob":
		obj.SetAPIVersion("batch/v1")
		obj.Object["spec"] = map[string]any{"schedule": "@daily", "jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}
	}
	obj.SetKind(kind)
	obj.SetName(pod.GetName() + "-" + strings.ToLower(kind))
	obj.SetNamespace(pod.GetNamespace())
	return obj
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// podOnlyExemptions are Pod fixtures admitted only because of who creates them and what
// they are: cert-manager's bare ACME HTTP-01 solver Pods. Wrapped in a Pod controller, by the
// same user, they must be refused: the exemption tests object.kind, which Kyverno's autogen
// leaves alone.
var podOnlyExemptions = map[string]bool{"admit-acme-solver.yaml": true}

// TestKyvernoEngineExtendsPodRulesToControllers checks autogen with Kyverno's engine: every
// Pod fixture of a rule with autogen gets the same verdict wrapped in a Deployment and in a
// CronJob, created by the fixture's user, so violations are refused when the workload is
// applied, not only when its Pods fail to start (podOnlyExemptions aside).
func TestKyvernoEngineExtendsPodRulesToControllers(t *testing.T) {
	e := newEngine(t)
	p, cat := payments(t)
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	users, alice := fixtureUsers(t)
	checked := 0
	for _, o := range objs {
		if kindOf(o) != "ValidatingPolicy" || ephemeralCompanion(o) {
			continue
		}
		id := o.Controls[0]
		c, _ := cat.Get(id)
		if !c.Rule.Autogen {
			continue
		}
		checked++
		t.Run(id, func(t *testing.T) {
			files := map[string][]string{} // by fixtureUser.key
			byKey := map[string]fixtureUser{}
			want := map[string]string{}
			for f, verdict := range fixtures(t, id) {
				pod := readFixture(t, f)
				if pod.GetKind() != "Pod" {
					continue
				}
				u, ok := users[f]
				if !ok {
					u = alice
				}
				if podOnlyExemptions[filepath.Base(f)] {
					verdict = "fail"
				}
				for _, kind := range []string{"Deployment", "CronJob"} {
					path, key := e.resource(t, podController(pod, kind))
					files[u.key()] = append(files[u.key()], path)
					byKey[u.key()] = u
					want[key] = verdict
				}
			}
			if len(files) == 0 {
				t.Fatalf("%s has autogen but no Pod fixtures", id)
			}
			policy := e.write(t, o)
			got := map[string]string{}
			for k, fs := range files {
				maps.Copy(got, e.applyAs(t, e.userInfo(t, byKey[k]), []string{policy}, fs, nil).Verdicts())
			}
			for key, verdict := range want {
				if got[key] != verdict {
					t.Errorf("%s: Kyverno says %q, want %q", key, got[key], verdict)
				}
			}
		})
	}
	if checked < 20 {
		t.Fatalf("only %d autogen policies checked", checked)
	}
}

// TestKyvernoEngineHonoursScope places violating resources in every kind of namespace:
// namespaced controls act only on named or selected, non-excluded namespaces (and the
// sensitive tier on its own), cluster-scoped controls act everywhere.
func TestKyvernoEngineHonoursScope(t *testing.T) {
	e := newEngine(t)
	p, cat := payments(t)
	got := generate(t, p, cat)
	cases := []struct {
		control string
		fixture string
		want    map[string]string // namespace -> "fail", or "-" for not enforced there
	}{
		{"POD-03", "deny-privileged.yaml", map[string]string{
			"payments": "fail", "legacy-batch": "fail", "shop": "fail", "vault": "fail",
			"sandbox": "-", "kube-system": "-", "istio-system": "-", "default": "-",
		}},
		{"SUP-03", "deny-tagged.yaml", map[string]string{
			"payments": "fail", "ledger": "fail", "vault": "fail",
			"legacy-batch": "-", "shop": "-", "sandbox": "-", "kube-system": "-",
		}},
		// Cluster-scoped: the policy plane is protected where the exceptions live too.
		{"CHG-02", "deny-unbounded.yaml", map[string]string{
			"kyverno": "fail", "payments": "fail", "sandbox": "fail", "kube-system": "fail",
		}},
		{"IAM-02", "deny-unauth-edit.yaml", map[string]string{
			"payments": "fail", "sandbox": "fail", "istio-system": "fail",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.control, func(t *testing.T) {
			o, ok := got["ValidatingPolicy/"+generated.PolicyName(p, tc.control)]
			if !ok {
				t.Fatalf("no policy for %s", tc.control)
			}
			base := readFixture(t, filepath.Join("..", "..", "catalogue", "testdata", "fixtures", tc.control, tc.fixture))
			var files []string
			keys := map[string]string{}
			for ns := range tc.want {
				obj := base.DeepCopy()
				obj.SetNamespace(ns)
				obj.SetName(fmt.Sprintf("%s-in-%s", base.GetName(), ns))
				path, key := e.resource(t, obj)
				files = append(files, path)
				keys[ns] = key
			}
			verdicts := e.apply(t, []string{e.write(t, o)}, files, nil).Verdicts()
			for ns, want := range tc.want {
				// The CLI reports a false match condition as a skip and a namespaceSelector
				// that refuses the namespace as nothing; both leave the resource alone.
				got := verdicts[keys[ns]]
				if got == "" || got == "skip" {
					got = "-"
				}
				if got != want {
					t.Errorf("%s in namespace %s: Kyverno says %q, want %q", tc.fixture, ns, got, want)
				}
			}
		})
	}
}

// TestExceptionsExemptExactlyWhatTheyName checks the payments example's exceptions with
// Kyverno's engine: SEC-142 waives POD-10 and POD-16 in legacy-batch, for Pods and their
// controllers alike, and neither other namespaces nor other controls; SEC-177 waives SUP-02
// in ledger only.
func TestExceptionsExemptExactlyWhatTheyName(t *testing.T) {
	e := newEngine(t)
	p, cat := payments(t)
	got := generate(t, p, cat)
	policy := func(id string) string {
		o, ok := got["ValidatingPolicy/"+generated.PolicyName(p, id)]
		if !ok {
			t.Fatalf("no policy for %s", id)
		}
		return e.write(t, o)
	}
	var exceptions []string
	for k, o := range got {
		if strings.HasPrefix(k, "PolicyException/") {
			exceptions = append(exceptions, e.write(t, o))
		}
	}
	if len(exceptions) != 2 {
		t.Fatalf("%d PolicyExceptions, want SEC-142 and SEC-177", len(exceptions))
	}
	pod := func(name, ns, image, securityContext string) *unstructured.Unstructured {
		obj := &unstructured.Unstructured{}
		body := fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": %q, "namespace": %q},
			"spec": {"automountServiceAccountToken": false, "containers": [{"name": "app", "image": %q, "securityContext": %s}]}}`,
			name, ns, image, securityContext)
		if err := obj.UnmarshalJSON([]byte(body)); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	pinned := "ghcr.io/acme/vendor@sha256:" + strings.Repeat("a", 64)
	cases := []struct {
		name    string
		control string
		objs    []*unstructured.Unstructured
		want    []string
	}{
		{"POD-10 waived in legacy-batch only", "POD-10", []*unstructured.Unstructured{
			pod("root", "legacy-batch", pinned, "{}"),
			podController(pod("root", "legacy-batch", pinned, "{}"), "Deployment"),
			pod("root", "payments", pinned, "{}"),
			podController(pod("root", "payments", pinned, "{}"), "Deployment"),
		}, []string{"skip", "skip", "fail", "fail"}},
		{"POD-16 waived in legacy-batch", "POD-16", []*unstructured.Unstructured{
			pod("uid0", "legacy-batch", pinned, `{"runAsUser": 0}`),
			pod("uid0", "shop", pinned, `{"runAsUser": 0}`),
		}, []string{"skip", "fail"}},
		{"POD-03 not waived", "POD-03", []*unstructured.Unstructured{
			pod("privileged", "legacy-batch", pinned, `{"privileged": true}`),
		}, []string{"fail"}},
		{"SUP-02 waived in ledger only", "SUP-02", []*unstructured.Unstructured{
			pod("latest", "ledger", "ghcr.io/acme/migrate:latest", "{}"),
			pod("latest", "payments", "ghcr.io/acme/migrate:latest", "{}"),
			pod("latest", "legacy-batch", "ghcr.io/acme/migrate:latest", "{}"),
		}, []string{"skip", "fail", "fail"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var files, keys []string
			for _, o := range tc.objs {
				path, key := e.resource(t, o)
				files = append(files, path)
				keys = append(keys, key)
			}
			res := e.apply(t, []string{policy(tc.control)}, files, exceptions)
			verdicts := res.Verdicts()
			for i, key := range keys {
				if verdicts[key] != tc.want[i] {
					t.Errorf("%s: Kyverno says %q, want %q", key, verdicts[key], tc.want[i])
				}
			}
			// A skip must come from the exception, not from the policy not matching.
			for _, row := range res.Results {
				if row.Result == "skip" && !strings.HasPrefix(row.Exceptions, p.Metadata.Name+"-sec-") {
					t.Errorf("%s/%s/%s skipped by %q, not by a profile exception (%s)", row.Kind, row.Namespace, row.Name, row.Exceptions, row.Message)
				}
			}
		})
	}
}

// TestKyvernoEngineACMESolverWithoutARequester evaluates cert-manager's ACME HTTP-01 solver
// objects with no requester, as a background scan does (an empty request.userInfo): the
// exemption rests on who made the request, so without one the objects are plain violations,
// reported as failures rather than as evaluation errors.
func TestKyvernoEngineACMESolverWithoutARequester(t *testing.T) {
	e := newEngine(t)
	p, cat := payments(t)
	got := generate(t, p, cat)
	for _, id := range []string{"SUP-01", "SUP-03", "TLS-02", "TLS-03"} {
		t.Run(id, func(t *testing.T) {
			o, ok := got["ValidatingPolicy/"+generated.PolicyName(p, id)]
			if !ok {
				t.Fatalf("no policy for %s", id)
			}
			path, key := e.resource(t, readFixture(t, filepath.Join("..", "..", "catalogue", "testdata", "fixtures", id, "admit-acme-solver.yaml")))
			if v := e.apply(t, []string{e.write(t, o)}, []string{path}, nil).Verdicts()[key]; v != "fail" {
				t.Errorf("%s without a requester: Kyverno says %q, want \"fail\"", key, v)
			}
		})
	}
}
