package catalogue

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	istiosecurityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/testenv"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// This file evaluates every rule's CEL against its fixtures, with the catalogue defaults, the
// way a ValidatingPolicy does: parameters then rule variables (lazily: a variable that fails
// fails only the expressions that read it), matchConditions, then validations. It catches a
// wrong rule in this package; generators/kyverno runs the same fixtures through Kyverno's
// own engine.

// celEnv declares what a Kyverno ValidatingPolicy expression sees, with the CEL extensions
// Kubernetes enables (strings, optionals).
func celEnv(t testing.TB) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(
		cel.Variable("object", cel.DynType),
		cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType),
		cel.Variable("namespaceObject", cel.DynType),
		cel.Variable("variables", cel.DynType),
		ext.Strings(),
		cel.OptionalTypes(),
	)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// podTemplates are the Pod controllers the kyverno generator asks Kyverno to autogenerate Pod
// rules for, with where each keeps its pod template.
var podTemplates = map[string]string{
	"Deployment":  "spec.template",
	"StatefulSet": "spec.template",
	"DaemonSet":   "spec.template",
	"Job":         "spec.template",
	"CronJob":     "spec.jobTemplate.spec.template",
}

// autogen rewrites a Pod expression for a controller as Kyverno's autogen does: object.spec and
// object.metadata (and the oldObject ones) move under the pod template, except
// object.metadata.namespace, which a template does not carry.
func autogen(expr, template string) string {
	for _, root := range []string{"object", "oldObject"} {
		for _, field := range []string{"spec", "metadata"} {
			expr = rewritePath(expr, root+"."+field, root+"."+template+"."+field)
		}
	}
	return expr
}

func rewritePath(expr, from, to string) string {
	var b strings.Builder
	for {
		i := strings.Index(expr, from)
		if i < 0 {
			b.WriteString(expr)
			return b.String()
		}
		rest := expr[i+len(from):]
		whole := (i == 0 || !isIdentByte(expr[i-1])) && (rest == "" || !isIdentByte(rest[0]))
		keep := !whole || (strings.HasPrefix(rest, ".namespace") && (len(rest) == len(".namespace") || !isIdentByte(rest[len(".namespace")])))
		b.WriteString(expr[:i])
		if keep {
			b.WriteString(from)
		} else {
			b.WriteString(to)
		}
		expr = rest
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// admission is the request a fixture is evaluated under.
type admission struct {
	operation string
	username  string
	groups    []string
	oldObject map[string]any
}

// outcome is what a ValidatingPolicy would decide.
type outcome struct {
	matched  bool     // the rule's resources and matchConditions select the object
	failures []string // messages of validations that returned false
	errs     []string // expressions that could not be evaluated
}

func (o outcome) String() string {
	return fmt.Sprintf("matched=%v failures=%q errors=%q", o.matched, o.failures, o.errs)
}

// resourceOf names the API resource of a kind, by Kubernetes' pluralisation of the kinds used here.
func resourceOf(kind string) string {
	r := strings.ToLower(kind)
	switch {
	case strings.HasSuffix(r, "y"):
		return r[:len(r)-1] + "ies"
	case strings.HasSuffix(r, "s"):
		return r + "es"
	}
	return r + "s"
}

// selects reports whether the rule selects obj: directly ("" template), or through Kyverno's
// autogen for a Pod controller (the template path).
func selects(r *Rule, obj *unstructured.Unstructured) (template string, ok bool) {
	gvk := obj.GroupVersionKind()
	resource := resourceOf(gvk.Kind)
	in := func(list []string, s string) bool { return slices.Contains(list, s) || slices.Contains(list, "*") }
	for _, rr := range r.Resources {
		if in(rr.APIGroups, gvk.Group) && in(rr.APIVersions, gvk.Version) && in(rr.Resources, resource) {
			return "", true
		}
	}
	if t, ok := podTemplates[gvk.Kind]; ok && r.Autogen {
		return t, true
	}
	return "", false
}

// evaluate runs the control's rule against obj with the given parameter values.
func evaluate(t testing.TB, c *Control, params map[string]any, obj *unstructured.Unstructured, req admission) outcome {
	t.Helper()
	r := c.Rule
	template, ok := selects(r, obj)
	if !ok {
		return outcome{}
	}
	env := celEnv(t)
	run := func(expr string, act map[string]any) (ref.Val, error) {
		if template != "" {
			expr = autogen(expr, template)
		}
		ast, iss := env.Compile(expr)
		if iss != nil && iss.Err() != nil {
			return nil, iss.Err()
		}
		prg, err := env.Program(ast)
		if err != nil {
			return nil, err
		}
		v, _, err := prg.Eval(act)
		return v, err
	}
	vars := map[ref.Val]ref.Val{}
	ns := obj.GetNamespace()
	// A DELETE carries no object and a CREATE no oldObject: both are null, as in admission.
	var object, oldObject any = obj.Object, nil
	if req.operation == "DELETE" {
		object = nil
	}
	if req.oldObject != nil {
		oldObject = req.oldObject
	}
	act := map[string]any{
		"object":    object,
		"oldObject": oldObject,
		"request": map[string]any{
			"operation": req.operation,
			"namespace": ns,
			"name":      obj.GetName(),
			"userInfo":  userInfo(req),
		},
		"namespaceObject": map[string]any{"metadata": map[string]any{
			"name":   ns,
			"labels": map[string]any{"kubernetes.io/metadata.name": ns},
		}},
		"variables": types.NewRefValMap(types.DefaultTypeAdapter, vars),
	}
	for _, p := range c.Params {
		value, ok := params[p.Name]
		if !ok {
			value = p.Default
		}
		lit, err := CELParam(p, value)
		if err != nil {
			t.Fatalf("param %s: %v", p.Name, err)
		}
		v, err := run(lit, act)
		if err != nil {
			t.Fatalf("param %s literal %s: %v", p.Name, lit, err)
		}
		vars[types.String(p.Name)] = v
	}
	for _, v := range r.Variables {
		val, err := run(v.Expression, act)
		if err != nil {
			val = types.NewErr("variable %s: %v", v.Name, err)
		}
		vars[types.String(v.Name)] = val
	}
	var out outcome
	for _, m := range r.MatchConditions {
		v, err := run(m.Expression, act)
		if err != nil {
			out.errs = append(out.errs, fmt.Sprintf("matchCondition %s: %v", m.Name, err))
			return out
		}
		if v != types.True {
			return out
		}
	}
	out.matched = true
	for i, v := range r.Validations {
		val, err := run(v.Expression, act)
		switch {
		case err != nil:
			out.errs = append(out.errs, fmt.Sprintf("validation %d: %v", i, err))
		case val == types.False:
			out.failures = append(out.failures, v.Message)
		case val != types.True:
			out.errs = append(out.errs, fmt.Sprintf("validation %d returned %v", i, val))
		}
	}
	return out
}

// readObject parses a fixture as one Kubernetes object, with integers as int64 as the API
// server and Kyverno see them.
func readObject(path string) (*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(append([]byte("\n"), data...), []byte("\n---")) {
		return nil, fmt.Errorf("%s: one object per fixture", path)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if obj.GetName() == "" {
		return nil, fmt.Errorf("%s: the object has no name", path)
	}
	return obj, nil
}

// userInfo is the request's userInfo as authentication.k8s.io/v1 UserInfo serialises it: groups
// are left out when there are none.
func userInfo(req admission) map[string]any {
	u := map[string]any{"username": req.username}
	if len(req.groups) > 0 {
		groups := make([]any, len(req.groups))
		for i, g := range req.groups {
			groups[i] = g
		}
		u["groups"] = groups
	}
	return u
}

// fixtureUser is who makes a fixture's admission request (testdata/fixture-users.yaml).
type fixtureUser = testenv.FixtureUser

// fixtureUsers maps <control>/<fixture file> to the user creating it; every other fixture is
// created by alice.
func fixtureUsers(t *testing.T) (map[string]fixtureUser, fixtureUser) {
	return testenv.FixtureUsers(t, "testdata")
}

// fixtureParams are the parameter values the fixtures assume where the default is empty.
func fixtureParams(t *testing.T, cat *Catalogue) map[string]map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixture-params.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]map[string]any
	if err := yaml.UnmarshalStrict(data, &all); err != nil {
		t.Fatalf("fixture-params.yaml: %v", err)
	}
	for id, params := range all {
		c, ok := cat.Get(id)
		if !ok {
			t.Fatalf("fixture-params.yaml names unknown control %s", id)
		}
		for name := range params {
			if _, ok := c.Default(name); !ok {
				t.Fatalf("fixture-params.yaml: %s has no parameter %s", id, name)
			}
		}
	}
	return all
}

func TestRulesAgainstFixtures(t *testing.T) {
	cat := load(t)
	params := fixtureParams(t, cat)
	users, alice := fixtureUsers(t)
	dirs, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*"))
	for _, d := range dirs {
		if c, ok := cat.Get(filepath.Base(d)); !ok || c.Rule == nil {
			t.Errorf("%s: fixtures for a control without a rule", d)
		}
	}
	checked := 0
	for i := range cat.Controls {
		c := &cat.Controls[i]
		if c.Rule == nil {
			continue
		}
		checked++
		t.Run(c.ID, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", c.ID, "*"))
			var deny, admit int
			keys := map[string]string{}
			for _, f := range files {
				base := filepath.Base(f)
				wantDeny := strings.HasPrefix(base, "deny-")
				if !wantDeny && !strings.HasPrefix(base, "admit-") || !strings.HasSuffix(base, ".yaml") {
					t.Errorf("%s: fixtures are named deny-*.yaml or admit-*.yaml", base)
					continue
				}
				obj, err := readObject(f)
				if err != nil {
					t.Error(err)
					continue
				}
				// Kyverno's report names resources by namespace and name.
				key := obj.GetNamespace() + "/" + obj.GetName()
				if prev, dup := keys[key]; dup {
					t.Errorf("%s and %s are both %s", prev, base, key)
				}
				keys[key] = base
				if _, ok := selects(c.Rule, obj); !ok {
					t.Errorf("%s: the rule's resources do not match a %s %s", base, obj.GetAPIVersion(), obj.GetKind())
					continue
				}
				u, ok := users[c.ID+"/"+base]
				if !ok {
					u = alice
				}
				got := evaluate(t, c, params[c.ID], obj, admission{operation: "CREATE", username: u.Username, groups: u.Groups})
				switch {
				case len(got.errs) > 0:
					t.Errorf("%s: %v", base, got)
				case !got.matched:
					t.Errorf("%s: the rule's matchConditions skip it: %v", base, got)
				case wantDeny && len(got.failures) == 0:
					t.Errorf("%s: admitted, want denied", base)
				case !wantDeny && len(got.failures) > 0:
					t.Errorf("%s: denied (%q), want admitted", base, got.failures)
				}
				if wantDeny {
					deny++
				} else {
					admit++
				}
			}
			if deny == 0 || admit == 0 {
				t.Errorf("want at least one deny and one admit fixture in testdata/fixtures/%s, have %d and %d", c.ID, deny, admit)
			}
		})
	}
	if checked < 35 {
		t.Errorf("only %d rules checked", checked)
	}
}

// pod builds a minimal Pod around one container image.
func pod(image string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": "payments"},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}},
	}}
}

func TestSUP01RegistryPrefixEndsAtABoundary(t *testing.T) {
	c, _ := load(t).Get("SUP-01")
	tests := []struct {
		allowed []any
		image   string
		admit   bool
	}{
		{[]any{"ghcr.io/acme"}, "ghcr.io/acme/app:1.0", true},
		{[]any{"ghcr.io/acme"}, "ghcr.io/acme-mirror/app:1.0", false},
		{[]any{"ghcr.io/acme/"}, "ghcr.io/acme-mirror/app:1.0", false},
		{[]any{"ghcr.io/acme/app"}, "ghcr.io/acme/app:1.0", true},
		{[]any{"ghcr.io/acme/app"}, "ghcr.io/acme/app@sha256:" + strings.Repeat("a", 64), true},
		{[]any{"ghcr.io/acme/app"}, "ghcr.io/acme/app", true},
		{[]any{"ghcr.io/acme/app"}, "ghcr.io/acme/apple:1.0", false},
		{[]any{"registry.acme.example:5000"}, "registry.acme.example:5000/app:1", true},
		{[]any{"registry.acme.example"}, "registry.acme.example.evil.io/app:1", false},
		{[]any{"docker.io/library/"}, "nginx:1.27", false},
		{[]any{}, "anything:1", true},
	}
	for _, tt := range tests {
		got := evaluate(t, c, map[string]any{"allowedRegistries": tt.allowed}, pod(tt.image), admission{operation: "CREATE"})
		if len(got.errs) > 0 || (len(got.failures) == 0) != tt.admit {
			t.Errorf("allowed %v, image %s: %v, want admit=%v", tt.allowed, tt.image, got, tt.admit)
		}
	}
}

func TestSUP02Tags(t *testing.T) {
	c, _ := load(t).Get("SUP-02")
	for image, admit := range map[string]bool{
		"ghcr.io/acme/app:1.2.3":                             true,
		"ghcr.io/acme/app:latest":                            false,
		"ghcr.io/acme/app":                                   false,
		"registry.acme.example:5000/app":                     false,
		"registry.acme.example:5000/app:2":                   true,
		"ghcr.io/acme/app@sha256:" + strings.Repeat("b", 64): true,
	} {
		got := evaluate(t, c, nil, pod(image), admission{operation: "CREATE"})
		if len(got.errs) > 0 || (len(got.failures) == 0) != admit {
			t.Errorf("%s: %v, want admit=%v", image, got, admit)
		}
	}
}

func TestCHG02ProtectsManagedPolicies(t *testing.T) {
	c, _ := load(t).Get("CHG-02")
	policy := func(managed bool) map[string]any {
		labels := map[string]any{}
		if managed {
			labels["app.kubernetes.io/managed-by"] = "bulwark"
		}
		return map[string]any{
			"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy",
			"metadata": map[string]any{"name": "payments-soc2-pod-03", "labels": labels},
			"spec":     map[string]any{"validationActions": []any{"Deny"}},
		}
	}
	flux := "system:serviceaccount:flux-system:kustomize-controller"
	tests := []struct {
		name    string
		op      string
		user    string
		managed bool
		admit   bool
	}{
		{"alice edits a managed policy", "UPDATE", "alice", true, false},
		{"alice deletes a managed policy", "DELETE", "alice", true, false},
		{"flux edits a managed policy", "UPDATE", flux, true, true},
		{"flux deletes a managed policy", "DELETE", flux, true, true},
		{"alice edits her own policy", "UPDATE", "alice", false, true},
		{"alice creates a policy", "CREATE", "alice", true, true},
	}
	for _, tt := range tests {
		obj := &unstructured.Unstructured{Object: policy(tt.managed)}
		req := admission{operation: tt.op, username: tt.user}
		if tt.op != "CREATE" {
			req.oldObject = policy(tt.managed)
		}
		got := evaluate(t, c, nil, obj, req)
		if len(got.errs) > 0 || (len(got.failures) == 0) != tt.admit {
			t.Errorf("%s: %v, want admit=%v", tt.name, got, tt.admit)
		}
	}
}

func TestAutogenRewrite(t *testing.T) {
	tests := []struct{ in, template, want string }{
		{"object.spec.containers", "spec.template", "object.spec.template.spec.containers"},
		{"has(object.metadata.labels)", "spec.template", "has(object.spec.template.metadata.labels)"},
		{"object.metadata.namespace != 'default'", "spec.template", "object.metadata.namespace != 'default'"},
		{"object.metadata.namespaces", "spec.template", "object.spec.template.metadata.namespaces"},
		{"oldObject.spec.x", "spec.jobTemplate.spec.template", "oldObject.spec.jobTemplate.spec.template.spec.x"},
		{"namespaceObject.metadata.name", "spec.template", "namespaceObject.metadata.name"},
		{"object.specs", "spec.template", "object.specs"},
	}
	for _, tt := range tests {
		if got := autogen(tt.in, tt.template); got != tt.want {
			t.Errorf("autogen(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// fixtureScheme knows every kind the fixtures use, with Kubernetes' and the add-ons' own types.
func fixtureScheme(t *testing.T) runtime.Decoder {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientscheme.AddToScheme, certmanagerv1.AddToScheme, istiosecurityv1.AddToScheme, kyvernov1.Install,
	} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}

// TestFixturesAreValidObjects decodes every fixture strictly into its upstream Go type, so a
// misspelt or misplaced field cannot make a fixture pass or fail for the wrong reason (Istio's
// protobuf-generated types are the exception: they ignore unknown fields).
func TestFixturesAreValidObjects(t *testing.T) {
	dec := fixtureScheme(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*", "*.yaml"))
	if len(files) < 80 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := dec.Decode(data, nil, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
