package generators

import (
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/certmanager"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/generators/istio"
	"bulwark.dev/bulwark/generators/kyverno"
	"bulwark.dev/bulwark/generators/network"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/parallel"
	"bulwark.dev/bulwark/profile"
)

// DefaultVersion is the bundle version when none is given.
const DefaultVersion = "0.0.0-dev"

// semver without build metadata: the version is a label value, and '+' is not allowed there.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// ValidVersion reports whether v can version a bundle: semver, no build metadata, at most
// 63 characters (it becomes a label value).
func ValidVersion(v string) bool {
	return len(v) <= 63 && semverRE.MatchString(v)
}

// target is one generator; the order is irrelevant because the output is sorted.
type target struct {
	name     string
	generate func(*profile.Profile, *catalogue.Catalogue) ([]generated.Object, error)
	// notRealised says why the generator emits nothing for enabled controls it realises
	// in general; reasons of earlier targets win.
	notRealised func(*profile.Profile, *catalogue.Catalogue) map[string]string
}

var targets = []target{
	{"kyverno", kyverno.Generate, kyverno.NotRealised},
	{"network", network.Generate, func(p *profile.Profile, _ *catalogue.Catalogue) map[string]string { return network.NotRealised(p) }},
	{"istio", istio.Generate, func(p *profile.Profile, _ *catalogue.Catalogue) map[string]string { return istio.NotRealised(p) }},
	{"certmanager", certmanager.Generate, func(p *profile.Profile, _ *catalogue.Catalogue) map[string]string { return certmanager.NotRealised(p) }},
}

// ReasonUnknown is the reason recorded for an enabled control no object realises when no
// generator said why; a test holds every example profile to specific reasons.
const ReasonUnknown = "no generator emitted an object for it with this profile"

// VerifyOnly reports whether verify alone realises the control (every realisation is
// verify's): it is realised by verify's probe, with no object in the bundle.
func VerifyOnly(c *catalogue.Control) bool {
	for _, r := range c.RealisedBy {
		if r.Generator != "verify" {
			return false
		}
	}
	return len(c.RealisedBy) > 0
}

// RealisedWhen says when a bundle realises the enabled control: what its profile must give
// the generators, "" when every bundle with the control enabled realises it. It states the
// same conditions the generators' NotRealised reasons report.
func RealisedWhen(c *catalogue.Control) string {
	if VerifyOnly(c) {
		return ""
	}
	conds := kyverno.When(c)
	if c.Realises("network") {
		conds = append(conds, network.When(c.ID)...)
	}
	seen := map[string]bool{}
	var out []string
	for _, w := range conds {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return strings.Join(out, "; and ")
}

// Claims splits the profile's enabled controls into those the bundle realises (at least one
// of objs names it, or verify alone realises it) and those it does not, with the reason the
// generator that skipped it gave. It is the one place that decides what a bundle claims:
// the index, and through it the summary, validate, diff and the OCI annotations, use it.
func Claims(p *profile.Profile, cat *catalogue.Catalogue, objs []generated.Object) ([]bundle.IndexControl, []bundle.NotRealisedControl) {
	named := map[string]bool{}
	for _, o := range objs {
		for _, id := range o.Controls {
			named[id] = true
		}
	}
	reasons := map[string]string{}
	for _, t := range targets {
		for id, r := range t.notRealised(p, cat) {
			if _, ok := reasons[id]; !ok {
				reasons[id] = r
			}
		}
	}
	var realised []bundle.IndexControl
	var not []bundle.NotRealisedControl
	for i := range cat.Controls {
		c := &cat.Controls[i]
		if !p.ControlEnabled(c.ID) {
			continue
		}
		if !named[c.ID] && !VerifyOnly(c) {
			r := reasons[c.ID]
			if r == "" {
				r = ReasonUnknown
			}
			not = append(not, bundle.NotRealisedControl{ID: c.ID, Title: c.Title, Reason: r})
			continue
		}
		ic := bundle.IndexControl{ID: c.ID, Title: c.Title, TSC: c.TSC, Probe: c.Probe}
		if c.Rule != nil {
			ic.Enforcement = string(p.EnforcementFor(c.ID))
		}
		realised = append(realised, ic)
	}
	return realised, not
}

// Objects runs every generator and stamps the common labels and annotations.
func Objects(p *profile.Profile, cat *catalogue.Catalogue, version string) ([]generated.Object, error) {
	var all []generated.Object
	for _, t := range targets {
		objs, err := t.generate(p, cat)
		if err != nil {
			return nil, fmt.Errorf("generating %s objects for profile %s: %w", t.name, p.Metadata.Name, err)
		}
		all = append(all, objs...)
	}
	for _, o := range all {
		if err := stamp(o, p, cat, version); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// stamp adds the labels every generated object carries and the control/TSC annotations.
func stamp(o generated.Object, p *profile.Profile, cat *catalogue.Catalogue, version string) error {
	if len(o.Controls) == 0 {
		return fmt.Errorf("%s %s realises no control", kindOf(o), o.Object.GetName())
	}
	labels := o.Object.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[api.LabelManagedBy] = api.ManagedByValue
	labels[api.LabelProfile] = p.Metadata.Name
	labels[api.LabelVersion] = version
	o.Object.SetLabels(labels)

	controls, tsc, err := trace(o.Controls, cat)
	if err != nil {
		return fmt.Errorf("%s %s: %w", kindOf(o), o.Object.GetName(), err)
	}
	ann := o.Object.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[api.AnnotationControls] = strings.Join(controls, ",")
	ann[api.AnnotationTSC] = strings.Join(tsc, ",")
	o.Object.SetAnnotations(ann)
	return nil
}

// trace returns the sorted unique controls and the sorted union of their TSC points.
func trace(ids []string, cat *catalogue.Catalogue) (controls, tsc []string, err error) {
	seenC, seenT := map[string]bool{}, map[string]bool{}
	for _, id := range ids {
		c, ok := cat.Get(id)
		if !ok {
			return nil, nil, fmt.Errorf("control %s is not in catalogue %s", id, cat.Version)
		}
		if !seenC[id] {
			seenC[id] = true
			controls = append(controls, id)
		}
		for _, t := range c.TSC {
			if !seenT[t] {
				seenT[t] = true
				tsc = append(tsc, t)
			}
		}
	}
	sort.Strings(controls)
	sort.Slice(tsc, func(i, j int) bool { return tscLess(tsc[i], tsc[j]) })
	return controls, tsc, nil
}

// tscLess orders TSC points naturally: CC6.2 before CC6.10.
func tscLess(a, b string) bool {
	pa, na := splitTSC(a)
	pb, nb := splitTSC(b)
	if pa != pb {
		return pa < pb
	}
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	return len(na) < len(nb)
}

func splitTSC(s string) (string, []int) {
	i := strings.IndexAny(s, "0123456789")
	if i < 0 {
		return s, nil
	}
	var nums []int
	for _, part := range strings.Split(s[i:], ".") {
		n := 0
		for _, r := range part {
			if r < '0' || r > '9' {
				break
			}
			n = n*10 + int(r-'0')
		}
		nums = append(nums, n)
	}
	return s[:i], nums
}

func kindOf(o generated.Object) string {
	return o.Object.GetObjectKind().GroupVersionKind().Kind
}

// Build generates every object for the profile and assembles the bundle (bundle.Assemble
// writes its files, index and kustomization).
func Build(p *profile.Profile, cat *catalogue.Catalogue, version string) (*bundle.Bundle, error) {
	if version == "" {
		version = DefaultVersion
	}
	if !ValidVersion(version) {
		return nil, exitcode.AsBadInput(fmt.Errorf("version %q is not a semantic version without build metadata (e.g. 1.4.0, 1.5.0-rc.1)", version))
	}
	objs, err := Objects(p, cat, version)
	if err != nil {
		return nil, err
	}
	h := bundle.Header{Profile: p.Metadata.Name, Version: version, Framework: p.Spec.Framework, Catalogue: cat.Version, Scope: p.Spec}
	h.Controls, h.NotRealised = Claims(p, cat, objs)
	// Serialising is most of a build and each object's is its own, so the objects are
	// shared out over the CPUs, each result into the object's slot. A typed object is let
	// go once serialised: at fleet size the typed objects and their YAML together were most
	// of a build's peak memory.
	entries := make([]bundle.Object, len(objs))
	err = parallel.Do(runtime.GOMAXPROCS(0), len(objs), func(i int) error {
		var err error
		entries[i], err = entry(objs[i], cat)
		objs[i] = generated.Object{}
		return err
	})
	if err != nil {
		return nil, err
	}
	return bundle.Assemble(h, entries)
}

// entry serialises one generated object and traces it to its controls and TSC points.
func entry(o generated.Object, cat *catalogue.Catalogue) (bundle.Object, error) {
	data, err := generated.Marshal(o.Object)
	if err != nil {
		return bundle.Object{}, fmt.Errorf("serialising %s %s: %w", kindOf(o), o.Object.GetName(), err)
	}
	controls, tsc, err := trace(o.Controls, cat)
	if err != nil {
		return bundle.Object{}, err
	}
	gvk := o.Object.GetObjectKind().GroupVersionKind()
	return bundle.Object{
		Path: bundle.ObjectPath(o.Dir, gvk.Kind, o.Object.GetNamespace(), o.Object.GetName()), Data: data,
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: o.Object.GetNamespace(), Name: o.Object.GetName(),
		Controls: controls, TSC: tsc,
	}, nil
}
