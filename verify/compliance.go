package verify

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Compliance, not only convergence: what the policy engine found in the cluster. Kyverno's
// reports controller writes one report per resource with a result per policy rule (in
// background scans and at admission); verify reads every report with one LIST per report
// kind the cluster serves, maps each result to its control by the bundle policy that
// produced it, and counts them per control and namespace. In an Audit profile this is the
// signal that matters; with RequireCompliant a failing result fails the gate.

// CheckCompliance: the policy engine's results for a control's policies.
const CheckCompliance Check = "compliance"

// The report kinds Kyverno 1.19's reports controller writes: the Open Reports API, or the
// Policy WG's PolicyReport it replaces, whichever the cluster serves.
var reportGVKs = []schema.GroupVersionKind{
	{Group: "openreports.io", Version: "v1alpha1", Kind: "Report"},
	{Group: "openreports.io", Version: "v1alpha1", Kind: "ClusterReport"},
	{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"},
	{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "ClusterPolicyReport"},
}

// maxFailing bounds the failing resources listed per control; FailingTotal has them all.
const maxFailing = 20

// Compliance is what the policy engine's reports say about one control.
type Compliance struct {
	// Pass, Fail, Warn, Skip and Error count results, one per policy rule and resource.
	// A result skipped by an exception that has expired counts as a failure: verify judges
	// expiry itself (Kyverno's background scans do not).
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Skip  int `json:"skip"`
	Error int `json:"error"`
	// ExpiredSkips counts the results counted in Fail because the exceptions they were
	// skipped by had expired.
	ExpiredSkips int `json:"expiredSkips,omitempty"`
	// Namespaces break the counts down by namespace ("" for cluster-scoped resources).
	Namespaces []NamespaceCompliance `json:"namespaces,omitempty"`
	// Failing are the first failing resources (by kind, namespace and name);
	// FailingTotal counts them all.
	Failing      []FailingResource `json:"failing,omitempty"`
	FailingTotal int               `json:"failingTotal"`
}

// NamespaceCompliance are one namespace's counts.
type NamespaceCompliance struct {
	Namespace string `json:"namespace"`
	Pass      int    `json:"pass"`
	Fail      int    `json:"fail"`
	Warn      int    `json:"warn"`
	Skip      int    `json:"skip"`
	Error     int    `json:"error"`
}

// FailingResource is a resource with a failing result, and why.
type FailingResource struct {
	ObjectRef
	// Policy and Rule produced the result; Message is the policy's.
	Policy  string `json:"policy"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message,omitempty"`
}

type counts struct{ pass, fail, warn, skip, error int }

func (c *counts) add(result string) {
	switch result {
	case "pass":
		c.pass++
	case "fail":
		c.fail++
	case "warn":
		c.warn++
	case "skip":
		c.skip++
	default:
		c.error++
	}
}

// compliance reads the reports listed and records per control what they found.
func (v *verifier) compliance() {
	policies := map[string][]string{} // bundle policy name -> controls
	for _, o := range v.b.Index.Spec.Objects {
		if gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind); gvk.Group == policyExceptionGVK.Group && gvk.Kind != policyExceptionGVK.Kind {
			policies[o.Name] = o.Controls
		}
	}
	if len(policies) == 0 {
		return
	}
	// Kyverno names the exceptions behind a result, without their namespace: one is in force
	// only if an exception of that name exists and none of that name has expired.
	known, expiredName := map[string]bool{}, map[string]bool{}
	for _, pe := range v.live[policyExceptionGVK.GroupKind()] {
		known[pe.GetName()] = true
		if expiredException(&pe, v.opts.Now) {
			expiredName[pe.GetName()] = true
		}
	}
	// One result per policy, rule and resource: the worst of those the reports hold (both
	// report APIs served, a stale report beside a fresh one).
	type key struct{ policy, rule, resource string }
	type judged struct {
		result, msg string
		subject     ObjectRef
		expired     bool
	}
	results := map[key]judged{}
	var order []key
	served := false
	for _, gvk := range reportGVKs {
		reports, ok := v.live[gvk.GroupKind()]
		served = served || ok
		for i := range reports {
			rep := &reports[i]
			scope, _, _ := unstructured.NestedMap(rep.Object, "scope")
			items, _, _ := unstructured.NestedSlice(rep.Object, "results")
			for _, r := range items {
				res, _ := r.(map[string]any)
				policy, _ := res["policy"].(string)
				if _, ours := policies[policy]; !ours {
					continue
				}
				rule, _ := res["rule"].(string)
				subject := resultSubject(res, scope, rep.GetNamespace())
				j := judged{subject: subject}
				j.result, _ = res["result"].(string)
				if j.msg, _ = res["message"].(string); j.msg == "" {
					j.msg, _ = res["description"].(string)
				}
				switch {
				case j.result == "warn":
					// The bundle's policies are all scored: Kyverno writes a failure as warn only
					// for a policy someone annotated policies.kyverno.io/scored=false.
					j.result, j.msg = "fail", "reported as warn (the policy was made unscored): "+j.msg
				case j.result == "pass" || j.result == "skip":
					// Skipped, or passed (reportResult: pass), because of exceptions: only as
					// good as the exceptions, which Kyverno's background scans do not expire.
					props, _ := res["properties"].(map[string]any)
					if names, _ := props["exceptions"].(string); names != "" && !exceptionsInForce(names, known, expiredName) {
						j.result, j.expired = "fail", true
						j.msg = "exempted by exceptions no longer in force (" + names + "): " + j.msg
					}
				}
				k := key{policy, rule, subject.Kind + "/" + subject.Namespace + "/" + subject.Name}
				prev, seen := results[k]
				if !seen {
					order = append(order, k)
				}
				if !seen || resultRank(j.result) > resultRank(prev.result) {
					results[k] = j
				}
			}
		}
	}
	type perControl struct {
		total   counts
		expired int
		byNS    map[string]*counts
		failing []FailingResource
	}
	found := map[string]*perControl{}
	for _, k := range order {
		j := results[k]
		for _, c := range policies[k.policy] {
			pc := found[c]
			if pc == nil {
				pc = &perControl{byNS: map[string]*counts{}}
				found[c] = pc
			}
			pc.total.add(j.result)
			if pc.byNS[j.subject.Namespace] == nil {
				pc.byNS[j.subject.Namespace] = &counts{}
			}
			pc.byNS[j.subject.Namespace].add(j.result)
			if j.expired {
				pc.expired++
			}
			if j.result == "fail" {
				pc.failing = append(pc.failing, FailingResource{ObjectRef: j.subject, Policy: k.policy, Rule: k.rule, Message: firstLine(j.msg)})
			}
		}
	}
	if !served {
		return
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	v.compliances = map[string]*Compliance{}
	for _, id := range ids {
		pc := found[id]
		sort.Slice(pc.failing, func(i, j int) bool { return failingKey(pc.failing[i]) < failingKey(pc.failing[j]) })
		c := &Compliance{Pass: pc.total.pass, Fail: pc.total.fail, Warn: pc.total.warn, Skip: pc.total.skip, Error: pc.total.error,
			ExpiredSkips: pc.expired, FailingTotal: len(pc.failing)}
		c.Failing = pc.failing[:min(len(pc.failing), maxFailing)]
		nss := make([]string, 0, len(pc.byNS))
		for ns := range pc.byNS {
			nss = append(nss, ns)
		}
		sort.Strings(nss)
		for _, ns := range nss {
			n := pc.byNS[ns]
			c.Namespaces = append(c.Namespaces, NamespaceCompliance{Namespace: ns, Pass: n.pass, Fail: n.fail, Warn: n.warn, Skip: n.skip, Error: n.error})
		}
		v.compliances[id] = c
		total := c.Pass + c.Fail + c.Warn + c.Skip + c.Error
		if c.Fail == 0 && c.Error > 0 {
			status := Warn
			if v.opts.RequireCompliant {
				status = Fail
			}
			f := v.add(CheckCompliance, status, []string{id}, nil, "%d of %d results of the policy engine are errors: it could not evaluate its policy there (%d pass)", c.Error, total, c.Pass)
			f.Command = "kubectl get policyreports.wgpolicyk8s.io -A -o wide"
			continue
		}
		if c.Fail == 0 {
			v.add(CheckCompliance, Pass, []string{id}, nil, "%d results of the policy engine, none failing (%d pass, %d warn, %d skip, %d error)", total, c.Pass, c.Warn, c.Skip, c.Error)
			continue
		}
		status := Warn
		if v.opts.RequireCompliant {
			status = Fail
		}
		var where []string
		for _, ns := range c.Namespaces {
			if ns.Fail > 0 {
				where = append(where, fmt.Sprintf("%s: %d", orUnknown(ns.Namespace, "cluster-scoped"), ns.Fail))
			}
		}
		var first []string
		for _, f := range c.Failing[:min(len(c.Failing), 3)] {
			first = append(first, f.Kind+" "+nameOfRef(f.ObjectRef))
		}
		more := ""
		if c.FailingTotal > len(first) {
			more = fmt.Sprintf(" and %d more", c.FailingTotal-len(first))
		}
		expiredNote := ""
		if c.ExpiredSkips > 0 {
			expiredNote = fmt.Sprintf(" (%d skipped by expired exceptions)", c.ExpiredSkips)
		}
		f := v.add(CheckCompliance, status, []string{id}, nil, "%d of %d results of the policy engine fail%s, in %s: %s%s",
			c.Fail, total, expiredNote, strings.Join(where, ", "), strings.Join(first, ", "), more)
		f.Command = "kubectl get policyreports.wgpolicyk8s.io -A -o wide"
	}
}

// resultSubject is the resource a result is about: its own subjects (Open Reports) or
// resources (PolicyReport), else the report's scope, else the report's namespace alone.
func resultSubject(res, scope map[string]any, reportNS string) ObjectRef {
	for _, field := range []string{"subjects", "resources"} {
		if list, _ := res[field].([]any); len(list) > 0 {
			if m, _ := list[0].(map[string]any); m != nil {
				return refFromMap(m, reportNS)
			}
		}
	}
	if scope != nil {
		return refFromMap(scope, reportNS)
	}
	return ObjectRef{Namespace: reportNS}
}

func refFromMap(m map[string]any, ns string) ObjectRef {
	s := func(k string) string { x, _ := m[k].(string); return x }
	r := ObjectRef{APIVersion: s("apiVersion"), Kind: s("kind"), Namespace: s("namespace"), Name: s("name")}
	if r.Namespace == "" {
		r.Namespace = ns
	}
	return r
}

func nameOfRef(r ObjectRef) string {
	if r.Namespace != "" {
		return r.Namespace + "/" + r.Name
	}
	return r.Name
}

func failingKey(f FailingResource) string {
	return f.Kind + "/" + f.Namespace + "/" + f.Name + "/" + f.Policy + "/" + f.Rule
}

// exceptionsInForce reports whether a result's exceptions (comma-separated names) hold it:
// one of them exists and none of that name has expired.
func exceptionsInForce(names string, known, expired map[string]bool) bool {
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" && known[n] && !expired[n] {
			return true
		}
	}
	return false
}

// resultRank orders results worst last: a repeated result counts as its worst.
func resultRank(r string) int {
	switch r {
	case "pass":
		return 0
	case "skip":
		return 1
	case "warn":
		return 2
	case "fail":
		return 4
	}
	return 3 // error, or anything unknown
}
