// Package psscompat_test holds the POD controls to the Pod Security Standards as
// k8s.io/pod-security-admission, the code behind the API server's own Pod Security Admission,
// evaluates them: many generated pods, each judged by that evaluator and by the CEL of the
// ValidatingPolicies Bulwark generates, pod by pod, check by check, level by level.
package psscompat_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/pipeline"
)

var (
	podCount = flag.Int("pss.pods", 3000, "pods the differential test generates")
	podSeed  = flag.Uint64("pss.seed", 1037, "seed of the pod generator")
)

// namespace is the in-scope namespace the pods are created in.
const namespace = "apps"

// profileYAML enables every control with its catalogue defaults (so the PSS allowlists are the
// catalogue's), in Enforce mode, for the one namespace the pods go to.
const profileYAML = `apiVersion: bulwark.dev/v1alpha1
kind: Profile
metadata:
  name: pss
spec:
  framework: soc2
  enforcement: Enforce
  namespaces:
    include: [apps]
`

func intOrString(n int32) intstr.IntOrString { return intstr.FromInt32(n) }

// podControl is one generated POD policy that implements a Pod Security Standards check.
type podControl struct {
	id, check, level string
	policy           *celPolicy
}

var (
	setupOnce sync.Once
	setupErr  error
	controls  []podControl
	policyDir string // the policies as files, for the Kyverno CLI
	target    psapi.Version
)

// setup builds the bundle once and compiles its POD policies.
func setup(t testing.TB) []podControl {
	t.Helper()
	setupOnce.Do(func() { controls, setupErr = build() })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return controls
}

func build() ([]podControl, error) {
	cat, err := catalogue.Load()
	if err != nil {
		return nil, err
	}
	if target, err = psapi.ParseVersion("v" + cat.Kubernetes); err != nil {
		return nil, fmt.Errorf("catalogue kubernetes %q: %w", cat.Kubernetes, err)
	}
	b, err := pipeline.BuildBytes("pss.yaml", []byte(profileYAML), "1.0.0")
	if err != nil {
		return nil, err
	}
	byControl := map[string]*unstructured.Unstructured{}
	dir, err := os.MkdirTemp("", "psscompat-")
	if err != nil {
		return nil, err
	}
	policyDir = dir
	for _, path := range b.ManifestPaths() {
		objs, err := testenv.DecodeYAML(b.Files[path])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, o := range objs {
			if o.GetKind() != "ValidatingPolicy" || !matchesPodCreate(o) {
				continue // the ephemeral-containers companions carry the same CEL
			}
			for _, id := range strings.Split(o.GetAnnotations()[api.AnnotationControls], ",") {
				byControl[id] = o
			}
			if err := os.WriteFile(filepath.Join(dir, o.GetName()+".yaml"), b.Files[path], 0o644); err != nil {
				return nil, err
			}
		}
	}
	var out []podControl
	for _, c := range cat.Controls {
		if c.References.PSSCheck == "" {
			continue
		}
		o, ok := byControl[c.ID]
		if !ok {
			return nil, fmt.Errorf("%s implements PSS check %s but the bundle has no pods policy for it", c.ID, c.References.PSSCheck)
		}
		p, err := compilePolicy(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.ID, err)
		}
		out = append(out, podControl{id: c.ID, check: c.References.PSSCheck, level: c.References.PSSLevel, policy: p})
	}
	return out, nil
}

func matchesPodCreate(o *unstructured.Unstructured) bool {
	rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "matchConstraints", "resourceRules")
	for _, r := range rules {
		res, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resources")
		if slices.Contains(res, "pods") {
			return true
		}
	}
	return false
}

// celPolicy is a ValidatingPolicy's CEL, compiled as Kubernetes and Kyverno evaluate it:
// match conditions, then variables in order (each sees the ones before), then validations.
type celPolicy struct {
	name        string
	conditions  []cel.Program
	varNames    []string
	vars        []cel.Program
	validations []cel.Program
	messages    []string
}

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		env, envErr = cel.NewEnv(
			cel.Variable("object", cel.DynType),
			cel.Variable("oldObject", cel.DynType),
			cel.Variable("request", cel.DynType),
			cel.Variable("namespaceObject", cel.DynType),
			cel.Variable("variables", cel.DynType),
			ext.Strings(), ext.Sets(), ext.Lists(),
			cel.OptionalTypes(),
		)
	})
	return env, envErr
}

func compilePolicy(o *unstructured.Unstructured) (*celPolicy, error) {
	e, err := celEnv()
	if err != nil {
		return nil, err
	}
	compile := func(src string) (cel.Program, error) {
		ast, iss := e.Compile(src)
		if iss.Err() != nil {
			return nil, fmt.Errorf("%s: %w", src, iss.Err())
		}
		return e.Program(ast)
	}
	p := &celPolicy{name: o.GetName()}
	list := func(field string) []map[string]any {
		l, _, _ := unstructured.NestedSlice(o.Object, "spec", field)
		var out []map[string]any
		for _, x := range l {
			out = append(out, x.(map[string]any))
		}
		return out
	}
	for _, m := range list("matchConditions") {
		prg, err := compile(m["expression"].(string))
		if err != nil {
			return nil, err
		}
		p.conditions = append(p.conditions, prg)
	}
	for _, v := range list("variables") {
		prg, err := compile(v["expression"].(string))
		if err != nil {
			return nil, err
		}
		p.varNames = append(p.varNames, v["name"].(string))
		p.vars = append(p.vars, prg)
	}
	for _, v := range list("validations") {
		prg, err := compile(v["expression"].(string))
		if err != nil {
			return nil, err
		}
		msg, _ := v["message"].(string)
		p.validations = append(p.validations, prg)
		p.messages = append(p.messages, msg)
	}
	return p, nil
}

// eval reports whether the policy admits the pod; a failing expression denies, as the
// generated policies' failurePolicy does. The message says why it denied.
func (p *celPolicy) eval(pod map[string]any) (bool, string) {
	in := map[string]any{
		"object":          pod,
		"oldObject":       nil,
		"request":         map[string]any{"operation": "CREATE", "userInfo": map[string]any{"username": "alice"}},
		"namespaceObject": map[string]any{"metadata": map[string]any{"name": namespace, "labels": map[string]any{"kubernetes.io/metadata.name": namespace}}},
	}
	vars := map[string]any{}
	in["variables"] = vars
	for _, c := range p.conditions {
		out, _, err := c.Eval(in)
		if err != nil {
			return false, fmt.Sprintf("match condition error: %v", err)
		}
		if out != types.True {
			return true, "" // not matched: the policy does not act on this pod
		}
	}
	for i, v := range p.vars {
		out, _, err := v.Eval(in)
		if err != nil {
			return false, fmt.Sprintf("variable %s: %v", p.varNames[i], err)
		}
		vars[p.varNames[i]] = out
	}
	for i, v := range p.validations {
		out, _, err := v.Eval(in)
		if err != nil {
			return false, fmt.Sprintf("validation error: %v", err)
		}
		if out != types.True {
			return false, p.messages[i]
		}
	}
	return true, ""
}

// podObject is the pod as the admission request carries it: its JSON.
func podObject(t testing.TB, p *corev1.Pod) map[string]any {
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// upstreamChecks are pod-security-admission's checks at a version, by id.
func upstreamChecks(v psapi.Version) map[string]policy.CheckPodFn {
	out := map[string]policy.CheckPodFn{}
	for _, c := range policy.DefaultChecks() {
		var fn policy.CheckPodFn
		for _, vc := range c.Versions {
			if !v.Older(vc.MinimumVersion) {
				fn = vc.CheckPod
			}
		}
		if fn != nil {
			out[string(c.ID)] = fn
		}
	}
	return out
}

// upstreamLevels are the checks each level runs, as pod-security-admission's registry orders
// them (restricted checks override the baseline ones they replace).
func upstreamLevel(v psapi.Version) map[string]psapi.Level {
	out := map[string]psapi.Level{}
	for _, c := range policy.DefaultChecks() {
		for _, vc := range c.Versions {
			if !v.Older(vc.MinimumVersion) {
				out[string(c.ID)] = c.Level
			}
		}
	}
	return out
}

// TestEveryPodSecurityCheckHasOneControl: each check pod-security-admission runs at the
// catalogue's version is implemented by exactly one control, at the same level, and no
// control names a check that does not exist.
func TestEveryPodSecurityCheckHasOneControl(t *testing.T) {
	ctrls := setup(t)
	levels := upstreamLevel(target)
	have := map[string][]string{}
	for _, c := range ctrls {
		have[c.check] = append(have[c.check], c.id)
		lvl, ok := levels[c.check]
		switch {
		case !ok:
			t.Errorf("%s names PSS check %q, which pod-security-admission %s does not run", c.id, c.check, target)
		case string(lvl) != c.level:
			t.Errorf("%s implements %s at level %s; pod-security-admission defines it at %s", c.id, c.check, c.level, lvl)
		}
	}
	for id := range levels {
		if n := len(have[id]); n != 1 {
			t.Errorf("PSS check %s (%s) has %d controls %v, want exactly one", id, levels[id], n, have[id])
		}
	}
}

// TestPodSecurityStandardsDifferential compares, for every generated pod, pod-security-admission's
// verdict with the generated policies': check by check, and for the baseline and restricted
// levels at the catalogue's version and at "latest". Any disagreement fails with the pod.
func TestPodSecurityStandardsDifferential(t *testing.T) {
	ctrls := setup(t)
	r := rand.New(rand.NewPCG(*podSeed, 0))
	pods := make([]*corev1.Pod, *podCount)
	for i := range pods {
		pods[i] = genPod(r, i)
	}
	disagreements := compare(t, ctrls, pods)
	t.Logf("compared %d pods (seed %d) with pod-security-admission %s and latest: %d checks × pods, 2 levels × 2 versions, %d disagreements",
		len(pods), *podSeed, target, len(ctrls)*len(pods), disagreements)
}

// compare judges every pod both ways and reports each disagreement; it returns their number.
func compare(t testing.TB, ctrls []podControl, pods []*corev1.Pod) int {
	t.Helper()
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := upstreamChecks(target)
	disagreements := 0
	seen := map[string]int{} // first few pods per disagreement kind, to keep the output readable
	report := func(kind string, p *corev1.Pod, format string, args ...any) {
		disagreements++
		if seen[kind]++; seen[kind] > 3 {
			return
		}
		data, _ := yaml.Marshal(p)
		t.Errorf("%s: %s\n%s", kind, fmt.Sprintf(format, args...), data)
	}
	// Both counts must be non-trivial, or the comparison proves little.
	admitted := map[psapi.Level]int{}
	forbidden := map[string]int{} // check -> pods it forbids
	for _, p := range pods {
		obj := podObject(t, p)
		verdict := map[string]bool{}
		why := map[string]string{}
		for _, c := range ctrls {
			verdict[c.id], why[c.id] = c.policy.eval(obj)
			up := checks[c.check](&p.ObjectMeta, &p.Spec)
			if !up.Allowed {
				forbidden[c.check]++
			}
			if up.Allowed != verdict[c.id] {
				report(c.id+"/"+c.check, p, "pod-security-admission %s check %s allowed=%v (%s %s); %s allowed=%v (%s)",
					target, c.check, up.Allowed, up.ForbiddenReason, up.ForbiddenDetail, c.id, verdict[c.id], why[c.id])
			}
		}
		for _, lvl := range []psapi.Level{psapi.LevelBaseline, psapi.LevelRestricted} {
			ours, denied := true, []string{}
			for _, c := range ctrls {
				if (lvl == psapi.LevelBaseline && c.level != "baseline") || verdict[c.id] {
					continue
				}
				ours = false
				denied = append(denied, c.id)
			}
			for _, v := range []psapi.Version{target, psapi.LatestVersion()} {
				res := policy.AggregateCheckResults(evaluator.EvaluatePod(psapi.LevelVersion{Level: lvl, Version: v}, &p.ObjectMeta, &p.Spec))
				if res.Allowed != ours {
					report(string(lvl)+"@"+v.String(), p, "pod-security-admission %s@%s allowed=%v (%s); Bulwark's %s controls allowed=%v (denied by %v)",
						lvl, v, res.Allowed, res.ForbiddenDetail(), lvl, ours, denied)
				}
			}
			if ours {
				admitted[lvl]++
			}
		}
	}
	for _, lvl := range []psapi.Level{psapi.LevelBaseline, psapi.LevelRestricted} {
		if len(pods) >= 100 && (admitted[lvl] < len(pods)/20 || admitted[lvl] > len(pods)*19/20) {
			t.Errorf("%s admitted %d of %d pods: the generator no longer explores both sides of the boundary", lvl, admitted[lvl], len(pods))
		}
	}
	for _, c := range ctrls {
		if len(pods) >= 1000 && (forbidden[c.check] < 10 || forbidden[c.check] > len(pods)-10) {
			t.Errorf("check %s forbids %d of %d pods: the generator does not explore it on both sides", c.check, forbidden[c.check], len(pods))
		}
	}
	if len(seen) > 0 {
		kinds := make([]string, 0, len(seen))
		for k, n := range seen {
			kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
		}
		sort.Strings(kinds)
		t.Errorf("disagreements by kind: %s", strings.Join(kinds, ", "))
	}
	return disagreements
}

// FuzzPodSecurityStandards is the longer run: each input seeds a generator of a few pods.
// make fuzz runs it for FUZZTIME.
func FuzzPodSecurityStandards(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(1037), uint64(0))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		ctrls := setup(t)
		r := rand.New(rand.NewPCG(a, b))
		pods := make([]*corev1.Pod, 8)
		for i := range pods {
			pods[i] = genPod(r, i)
		}
		compare(t, ctrls, pods)
	})
}

// TestKyvernoEngineAgrees runs a sample of the generated pods through Kyverno's own engine
// (the Kyverno CLI the other suites use) with the same policies, so the CEL evaluation above is
// not a private reading of them: policy by policy, pod by pod, Kyverno must reach the same
// verdict.
func TestKyvernoEngineAgrees(t *testing.T) {
	ctrls := setup(t)
	testenv.KyvernoCLI(t) // skips under -short, builds or finds the CLI otherwise
	r := rand.New(rand.NewPCG(*podSeed, 1))
	dir := t.TempDir()
	var resources []string
	want := map[string]bool{} // policy/pod -> admitted
	denied := 0
	for i := 0; i < 80; i++ {
		p := genPod(r, i)
		obj := podObject(t, p)
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, p.Name+".json")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		resources = append(resources, f)
		for _, c := range ctrls {
			ok, _ := c.policy.eval(obj)
			want[c.policy.name+"/"+p.Name] = ok
			if !ok {
				denied++
			}
		}
	}
	if denied == 0 {
		t.Fatal("the sample has no denied pod; it proves nothing")
	}
	values := filepath.Join(dir, "values.yaml")
	vdata, err := yaml.Marshal(map[string]any{
		"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Value", "metadata": map[string]any{"name": "namespaces"},
		"namespaceSelector": []any{map[string]any{"name": namespace, "labels": map[string]any{"kubernetes.io/metadata.name": namespace}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(values, vdata, 0o644); err != nil {
		t.Fatal(err)
	}
	var policies []string
	for _, c := range ctrls {
		policies = append(policies, filepath.Join(policyDir, c.policy.name+".yaml"))
	}
	res, err := testenv.KyvernoApply(t, policies, resources, "--values-file", values)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, row := range res.Results {
		if row.Kind != "Pod" {
			continue
		}
		key := row.Policy + "/" + row.Name
		switch row.Result {
		case "pass":
			if _, seen := got[key]; !seen {
				got[key] = true
			}
		case "fail", "error":
			got[key] = false
		}
	}
	agree := 0
	for key, w := range want {
		g, ok := got[key]
		switch {
		case !ok:
			t.Errorf("%s: Kyverno reported nothing", key)
		case g != w:
			t.Errorf("%s: Kyverno admitted=%v, the differential test's CEL admitted=%v", key, g, w)
		default:
			agree++
		}
	}
	t.Logf("Kyverno's engine agreed on %d policy × pod verdicts (%d denials) of 80 generated pods", agree, denied)
}
