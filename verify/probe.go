package verify

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bulwark.dev/bulwark/catalogue"
)

// Enforcement probes. Everything else verify reads says what the cluster stores; only
// asking admission proves that the webhook is registered and called, that Kyverno has the
// policy in its cache (it reports a policy Ready before every replica has loaded it), and
// that the policy's scope reaches the namespace. Each enforcing control's catalogue deny
// fixture is sent as a server-side dry run (dryRun=All: admission runs, nothing is stored)
// and must be refused with the control's id in the message; its admit fixture must not be
// refused by it. Probes go to one in-scope namespace the control applies to (cluster-scoped
// fixtures are sent once), never to an excluded one.

// CheckProbe: admission refuses a control's deny fixture and admits its admit fixture.
const CheckProbe Check = "probe"

// ProbeRoleName is the ClusterRole in RoleFile that lets verify send its probes.
const ProbeRoleName = "bulwark-verify-probe"

// probeRetries is how often a probe refused only by the controls its fixture also breaks
// is sent again: the API server calls Kyverno's per-policy webhooks concurrently and
// reports whichever refusal comes first.
const probeRetries = 16

// probeRetriesOthers bounds the retries of a probe refused by a control its fixture is not
// known to break (an image signature check of the cluster's own, say): that one will most
// likely answer first every time.
const probeRetriesOthers = 3

// probeNamePrefix starts the name of every probe object, so a dry run never collides with
// a real object and its purpose shows in audit logs.
const probeNamePrefix = "bulwark-probe-"

// controlIDInMessage finds the control ids a refusal names ("POD-03: ...").
var controlIDInMessage = regexp.MustCompile(`\b([A-Z]{3}-[0-9]{2}):`)

// nsInScope is an in-scope namespace as coverage found it.
type nsInScope struct {
	name      string
	sensitive bool
}

// probes sends every enforcing control's probe fixtures.
func (v *verifier) probes() error {
	cat, err := catalogue.Load()
	if err != nil {
		return err
	}
	if want := v.b.Index.Spec.Catalogue; want != "" && want != cat.Version {
		v.add(CheckProbe, Warn, nil, nil, "probes send the fixtures of catalogue %s; the bundle was built with catalogue %s", cat.Version, want)
	}
	enforced := map[string][]string{} // control -> the bundle ValidatingPolicies realising it
	for _, o := range v.b.Index.Spec.Objects {
		if o.APIVersion == "policies.kyverno.io/v1" && o.Kind == "ValidatingPolicy" {
			for _, c := range o.Controls {
				enforced[c] = append(enforced[c], o.Name)
			}
		}
	}
	// A fresh suffix per run: a probe's name cannot be known in advance, so no admission rule
	// can single probes out to refuse them (and look enforced).
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	v.probeSuffix = hex.EncodeToString(rnd[:])
	for _, ic := range v.b.Index.Spec.Controls {
		if ic.Enforcement != "Enforce" || len(enforced[ic.ID]) == 0 {
			continue
		}
		c, ok := cat.Get(ic.ID)
		if !ok || c.ProbeFixtures == nil {
			continue
		}
		if err := v.probe(c, enforced[ic.ID]); err != nil {
			return err
		}
	}
	return nil
}

// probe sends one control's deny and admit fixtures.
func (v *verifier) probe(c *catalogue.Control, policies []string) error {
	deny, admit, err := c.ProbeObjects()
	if err != nil {
		return err
	}
	ns, why := v.probeNamespace(c)
	var msgs []string
	status := Pass
	for _, p := range []struct {
		obj  *unstructured.Unstructured
		deny bool
		file string
	}{{deny, true, c.ProbeFixtures.Deny}, {admit, false, c.ProbeFixtures.Admit}} {
		target := ns
		if p.deny && c.ProbeFixtures.DenyNamespace != "" {
			target = c.ProbeFixtures.DenyNamespace
		}
		st, msg, err := v.sendProbe(c, policies, p.obj, p.deny, p.file, target, why)
		if err != nil {
			return err
		}
		msgs = append(msgs, msg)
		if worse(st, status) {
			status = st
		}
	}
	f := v.add(CheckProbe, status, []string{c.ID}, nil, "%s", strings.Join(msgs, "; "))
	if status != Pass {
		f.Command = "kubectl get validatingwebhookconfigurations -l webhook.kyverno.io/managed-by=kyverno -o yaml"
	}
	return nil
}

func worse(a, b Status) bool {
	rank := map[Status]int{Pass: 0, Warn: 1, Fail: 2}
	return rank[a] > rank[b]
}

// probeNamespace picks where a control's namespaced probes go: the first in-scope namespace the control applies to that no exception of the
// profile waives it in, outside the sensitive tier when the control is for every namespace
// (the sensitive tier's own controls would answer too). Empty with the reason when none is.
func (v *verifier) probeNamespace(c *catalogue.Control) (string, string) {
	var fallback string
	for _, ns := range v.inScope {
		if v.waived(c.ID, ns.name) != "" {
			continue
		}
		switch {
		case c.Tier == "sensitive" && ns.sensitive:
			return ns.name, ""
		case c.Tier == "sensitive":
		case !ns.sensitive:
			return ns.name, ""
		case fallback == "":
			fallback = ns.name
		}
	}
	if fallback != "" {
		return fallback, ""
	}
	if c.Tier == "sensitive" {
		return "", "no namespace of the sensitive tier is in scope without an exception waiving it"
	}
	return "", "no namespace is in scope without an exception waiving it"
}

// sendProbe sends one fixture as a server-side dry run and judges the answer.
func (v *verifier) sendProbe(c *catalogue.Control, policies []string, obj *unstructured.Unstructured, wantDenied bool, file, ns, noNS string) (Status, string, error) {
	obj = obj.DeepCopy()
	gvk := obj.GroupVersionKind()
	probe := map[bool]string{true: "deny", false: "admit"}[wantDenied] + " probe " + file
	m, err := v.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return Warn, fmt.Sprintf("%s: %s not sent: the cluster does not serve %s", c.ID, probe, gvk.GroupKind()), nil
		}
		return "", "", fmt.Errorf("discovering %s: %w", gvk.GroupKind(), err)
	}
	obj.SetName(probeNamePrefix + obj.GetName() + "-" + v.probeSuffix)
	ri := v.dyn.Resource(m.Resource)
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	where := ""
	var create func() error
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if ns == "" {
			return Warn, fmt.Sprintf("%s: %s not sent: %s", c.ID, probe, noNS), nil
		}
		obj.SetNamespace(ns)
		where = " in namespace " + ns
		create = func() error { _, err := ri.Namespace(ns).Create(v.ctx, obj, dryRun); return err }
	} else {
		obj.SetNamespace("")
		create = func() error { _, err := ri.Create(v.ctx, obj, dryRun); return err }
	}
	v.substituteImages(obj)
	what := fmt.Sprintf("%s (a %s %s%s, as a server-side dry run)", probe, gvk.Kind, obj.GetName(), where)
	var err2 error
	var named []string
	for attempt := 0; attempt <= probeRetries; attempt++ {
		err2 = create()
		if err2 == nil {
			break
		}
		named = idsIn(err2.Error())
		if len(named) == 0 || slices.Contains(named, c.ID) {
			break
		}
		if attempt >= probeRetriesOthers && !onlyOverlaps(named, c) {
			break
		}
	}
	switch {
	case err2 == nil && wantDenied:
		return Fail, fmt.Sprintf("%s is not enforced: its %s was admitted (nothing was stored); the webhook, Kyverno's policy cache or the policy's scope does not reach it", c.ID, what), nil
	case err2 == nil:
		return Pass, fmt.Sprintf("%s admitted", what), nil // the control let it through
	case apierrors.IsForbidden(err2) && len(named) == 0 && !strings.Contains(err2.Error(), "admission webhook"):
		// RBAC said no (to the create, or to granting permissions not held): not an answer
		// of admission.
		return Warn, fmt.Sprintf("%s: %s not sent: %v (%s in %s grants the dry-run creates probes need)", c.ID, probe, firstLine(err2.Error()), ProbeRoleName, RoleFile), nil
	case isTransient(err2):
		return "", "", err2
	case slices.Contains(named, c.ID) && wantDenied && !byBundlePolicy(err2.Error(), policies):
		// The id alone proves nothing: any admission rule can write "POD-03:". Only a
		// refusal of Kyverno's webhook in the name of the bundle's policy is the control's.
		return Warn, fmt.Sprintf("%s not proven: its %s was refused with %s in the message, but not by Kyverno's webhook for %s: %s",
			c.ID, what, c.ID, strings.Join(policies, " or "), firstLine(err2.Error())), nil
	case slices.Contains(named, c.ID) && wantDenied:
		return Pass, fmt.Sprintf("%s refused by %s", what, c.ID), nil
	case slices.Contains(named, c.ID):
		return Fail, fmt.Sprintf("%s refuses what it must admit: its %s was refused: %s", c.ID, what, firstLine(err2.Error())), nil
	case wantDenied && onlyOverlaps(named, c):
		// Refused every time only by controls the fixture also breaks: were the control's
		// own webhook called, its refusal would have arrived first at least once.
		return Fail, fmt.Sprintf("%s is not enforced: its %s was refused %d times, each time only by %s, which the fixture also breaks, never by %s: %s",
			c.ID, what, probeRetries+1, strings.Join(named, ", "), c.ID, firstLine(err2.Error())), nil
	case wantDenied:
		return Warn, fmt.Sprintf("%s not proven: its %s was refused, but not by %s: %s", c.ID, what, c.ID, firstLine(err2.Error())), nil
	default:
		return Warn, fmt.Sprintf("%s not proven: its %s was refused by something else: %s", c.ID, what, firstLine(err2.Error())), nil
	}
}

// onlyOverlaps reports whether a refusal names only controls the deny fixture is known to
// break as well, so sending it again may let the control's own refusal arrive first.
func onlyOverlaps(named []string, c *catalogue.Control) bool {
	if len(named) == 0 {
		return false
	}
	for _, id := range named {
		if !slices.Contains(c.ProbeFixtures.AlsoBreaks, id) {
			return false
		}
	}
	return true
}

func idsIn(msg string) []string {
	var out []string
	for _, m := range controlIDInMessage.FindAllStringSubmatch(msg, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// isTransient reports errors that say nothing about admission: the cluster could not be
// asked, which is exit 3 like any read that fails.
func isTransient(err error) bool {
	var netErr interface{ Timeout() bool }
	return apierrors.IsUnauthorized(err) || apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsServerTimeout(err) || errors.As(err, &netErr)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// fixtureRegistry is where the catalogue's fixture images live; under a profile that trusts
// other registries SUP-01 would refuse every probe, so their images move to the first
// registry the profile trusts.
const fixtureRegistry = "ghcr.io/acme/"

func (v *verifier) substituteImages(obj *unstructured.Unstructured) {
	regs := v.b.Index.Spec.Scope.Images.AllowedRegistries
	if len(regs) == 0 {
		return
	}
	for _, r := range regs {
		if strings.HasPrefix(fixtureRegistry, strings.TrimSuffix(r, "/")+"/") {
			return // the fixtures' registry is trusted
		}
	}
	to := strings.TrimSuffix(regs[0], "/") + "/"
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, val := range t {
				if s, ok := val.(string); ok && k == "image" && strings.HasPrefix(s, fixtureRegistry) {
					t[k] = to + strings.TrimPrefix(s, fixtureRegistry)
					continue
				}
				walk(val)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(obj.Object)
}

// byBundlePolicy reports whether an admission refusal is Kyverno's webhook refusing in the
// name of one of the bundle's policies (Kyverno writes "Policy NAME failed: MESSAGE").
func byBundlePolicy(msg string, policies []string) bool {
	if !strings.Contains(msg, "admission webhook") || !strings.Contains(msg, "kyverno") || !strings.Contains(msg, "denied the request") {
		return false
	}
	for _, p := range policies {
		if strings.Contains(msg, "Policy "+p+" failed") {
			return true
		}
	}
	return false
}
