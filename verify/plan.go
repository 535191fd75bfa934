package verify

import (
	"errors"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/internal/parallel"
)

// concurrentLists is how many kinds are listed at once: enough to keep the API server and
// the client both busy, few enough not to crowd a server that others use too.
const concurrentLists = 4

// kindPlan is what verify reads for one kind.
type kindPlan struct {
	gk      schema.GroupKind
	version string               // the bundle's version; empty: the server's preferred one
	objects []bundle.IndexObject // the bundle's objects of this kind
	whole   bool                 // list every object: coverage judges them whoever created them
}

func objKey(gk schema.GroupKind, ns, name string) string {
	return gk.String() + "|" + ns + "|" + name
}

func (v *verifier) plan() []*kindPlan {
	byGK := map[schema.GroupKind]*kindPlan{}
	for _, o := range v.b.Index.Spec.Objects {
		gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		p := byGK[gvk.GroupKind()]
		if p == nil {
			p = &kindPlan{gk: gvk.GroupKind(), version: gvk.Version}
			byGK[p.gk] = p
		}
		p.objects = append(p.objects, o)
	}
	for _, gk := range api.GeneratedKinds {
		if byGK[gk] == nil {
			byGK[gk] = &kindPlan{gk: gk}
		}
	}
	for _, gvk := range v.coverageKinds() {
		p := byGK[gvk.GroupKind()]
		if p == nil {
			p = &kindPlan{gk: gvk.GroupKind(), version: gvk.Version}
			byGK[p.gk] = p
		}
		p.whole = true
	}
	plans := make([]*kindPlan, 0, len(byGK))
	for _, p := range byGK {
		plans = append(plans, p)
	}
	sort.Slice(plans, func(i, j int) bool { return plans[i].gk.String() < plans[j].gk.String() })
	return plans
}

func (v *verifier) run() error {
	spec := v.b.Index.Spec
	ours := labels.SelectorFromSet(labels.Set{api.LabelManagedBy: api.ManagedByValue, api.LabelProfile: spec.Profile})
	plans := v.plan()
	// The kinds are listed concurrently, a few at a time, so that the API server's work on
	// one overlaps the client's decoding of another; what was listed is then judged kind by
	// kind in plan order, so findings and the error returned do not depend on timing.
	type listing struct {
		live []unstructured.Unstructured
		err  error
	}
	listed := make([]listing, len(plans))
	_ = parallel.Do(concurrentLists, len(plans), func(i int) error {
		var sel labels.Selector
		if !plans[i].whole {
			sel = ours
		}
		listed[i].live, listed[i].err = v.list(plans[i].gk, plans[i].version, sel)
		return nil // each kind's error is judged below, in plan order
	})
	for i, p := range plans {
		live, err := listed[i].live, listed[i].err
		if err == nil {
			v.report.Stats.Lists++
			v.report.Stats.Objects += len(live)
		}
		var notServed errNotServed
		switch {
		case errors.As(err, &notServed):
			for _, o := range p.objects {
				v.add(CheckPresent, Fail, o.Controls, ref(o), "%s %s is missing: %v", o.Kind, name(o), err)
			}
			continue
		case err != nil && len(p.objects) == 0 && !p.whole && apierrors.IsForbidden(err):
			// Only drift of a kind this bundle no longer holds depends on it.
			v.add(CheckDrift, Warn, nil, nil, "cannot look for %s left behind by earlier versions: %v (%s grants it)", p.gk, err, RoleFile)
			continue
		case err != nil:
			return err
		}
		v.live[p.gk] = live
		byKey := map[string]*unstructured.Unstructured{}
		for i := range live {
			l := &live[i]
			byKey[objKey(p.gk, l.GetNamespace(), l.GetName())] = l
		}
		want := map[string]bool{}
		for _, o := range p.objects {
			k := objKey(p.gk, o.Namespace, o.Name)
			want[k] = true
			l, ok := byKey[k]
			if !ok {
				msg := "%s %s is missing"
				if !p.whole {
					msg += " (verify finds bundle objects by the labels " + ours.String() + ")"
				}
				v.add(CheckPresent, Fail, o.Controls, ref(o), msg, o.Kind, name(o))
				continue
			}
			v.matching(o, l)
			v.ready(o, l)
		}
		for _, l := range live {
			if want[objKey(p.gk, l.GetNamespace(), l.GetName())] || !leftBehind(ours, &l) {
				continue
			}
			var ctl []string
			for _, c := range strings.Split(l.GetAnnotations()[api.AnnotationControls], ",") {
				if c = strings.TrimSpace(c); c != "" {
					ctl = append(ctl, c)
				}
			}
			v.add(CheckDrift, Fail, ctl, refOf(&l), "%s %s carries profile %s (version %s) but bundle %s does not contain it: prune it or re-sync",
				l.GetKind(), nameOf(&l), spec.Profile, orUnknown(l.GetLabels()[api.LabelVersion], "unknown"), spec.Version)
		}
	}
	if err := v.coverage(); err != nil {
		return err
	}
	if err := v.gitops(); err != nil {
		return err
	}
	if err := v.auditLogging(); err != nil {
		return err
	}
	v.exceptions()
	v.foreignExceptions()
	v.foreignLegacyExceptions()
	v.compliance()
	return nil
}

// leftBehind reports whether a live object not in the bundle is one an earlier bundle
// version shipped: labelled as the profile's and dated by a version label. Objects Kyverno
// generates from the bundle's GeneratingPolicy carry the profile's labels without a
// version (Kyverno also relabels them managed-by=kyverno), and belong to the policy.
func leftBehind(ours labels.Selector, l *unstructured.Unstructured) bool {
	lbl := l.GetLabels()
	return ours.Matches(labels.Set(lbl)) && lbl[api.LabelVersion] != ""
}

func ref(o bundle.IndexObject) *ObjectRef {
	return &ObjectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

func refOf(l *unstructured.Unstructured) *ObjectRef {
	return &ObjectRef{APIVersion: l.GetAPIVersion(), Kind: l.GetKind(), Namespace: l.GetNamespace(), Name: l.GetName()}
}

func name(o bundle.IndexObject) string {
	if o.Namespace != "" {
		return o.Namespace + "/" + o.Name
	}
	return o.Name
}

func nameOf(l *unstructured.Unstructured) string {
	if l.GetNamespace() != "" {
		return l.GetNamespace() + "/" + l.GetName()
	}
	return l.GetName()
}

func orUnknown(s, unknown string) string {
	if s == "" {
		return unknown
	}
	return s
}
