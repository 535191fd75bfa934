package bundles

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ObjectKey identifies an object across bundle versions.
type ObjectKey struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

func (k ObjectKey) String() string {
	if k.Namespace != "" {
		return fmt.Sprintf("%s %s/%s", k.Kind, k.Namespace, k.Name)
	}
	return fmt.Sprintf("%s %s", k.Kind, k.Name)
}

// ObjectChange is one object that differs between two bundles.
type ObjectChange struct {
	ObjectKey
	// Change is added, removed or changed.
	Change   string   `json:"change"`
	Controls []string `json:"controls"`
	TSC      []string `json:"tsc"`
}

// DiffResult is what `bulwark diff -o json` prints.
type DiffResult struct {
	From            string         `json:"from"`
	To              string         `json:"to"`
	Objects         []ObjectChange `json:"objects"`
	ControlsAdded   []string       `json:"controlsAdded"`
	ControlsRemoved []string       `json:"controlsRemoved"`
	// ControlsTouched are the controls whose objects were added, removed or changed.
	ControlsTouched []string `json:"controlsTouched"`
	// TSCTouched are the criteria those controls serve.
	TSCTouched []string `json:"tscTouched"`
}

// Empty reports whether the bundles hold the same objects and controls.
func (d *DiffResult) Empty() bool {
	return len(d.Objects) == 0 && len(d.ControlsAdded) == 0 && len(d.ControlsRemoved) == 0
}

var versionLabel = regexp.MustCompile(`(?m)^(\s+bulwark\.dev/version: ).*$`)

// comparable drops the version label, which every object carries and every release changes.
func comparable(data []byte) string {
	return versionLabel.ReplaceAllString(string(data), "${1}-")
}

// Diff compares two bundles object by object (ignoring the version label) and control by control.
func Diff(a, b *Bundle) *DiffResult {
	d := &DiffResult{
		From: a.Index.Spec.Profile + ":" + a.Index.Spec.Version, To: b.Index.Spec.Profile + ":" + b.Index.Spec.Version,
		Objects: []ObjectChange{}, ControlsAdded: []string{}, ControlsRemoved: []string{}, ControlsTouched: []string{}, TSCTouched: []string{},
	}
	index := func(x *Bundle) map[ObjectKey]IndexObject {
		m := map[ObjectKey]IndexObject{}
		for _, o := range x.Index.Spec.Objects {
			m[ObjectKey{o.APIVersion, o.Kind, o.Namespace, o.Name}] = o
		}
		return m
	}
	ia, ib := index(a), index(b)
	touched, tsc := map[string]bool{}, map[string]bool{}
	note := func(key ObjectKey, change string, o IndexObject) {
		d.Objects = append(d.Objects, ObjectChange{ObjectKey: key, Change: change, Controls: o.Controls, TSC: o.TSC})
		for _, c := range o.Controls {
			touched[c] = true
		}
		for _, t := range o.TSC {
			tsc[t] = true
		}
	}
	for k, oa := range ia {
		ob, ok := ib[k]
		switch {
		case !ok:
			note(k, "removed", oa)
		case comparable(a.Files[oa.File]) != comparable(b.Files[ob.File]):
			note(k, "changed", ob)
		}
	}
	for k, ob := range ib {
		if _, ok := ia[k]; !ok {
			note(k, "added", ob)
		}
	}
	sort.Slice(d.Objects, func(i, j int) bool { return d.Objects[i].String() < d.Objects[j].String() })
	ca, cb := map[string]bool{}, map[string]bool{}
	for _, c := range a.Index.Spec.Controls {
		ca[c.ID] = true
	}
	for _, c := range b.Index.Spec.Controls {
		cb[c.ID] = true
		if !ca[c.ID] {
			d.ControlsAdded = append(d.ControlsAdded, c.ID)
			touched[c.ID] = true
			for _, t := range c.TSC {
				tsc[t] = true
			}
		}
	}
	for _, c := range a.Index.Spec.Controls {
		if !cb[c.ID] {
			d.ControlsRemoved = append(d.ControlsRemoved, c.ID)
			touched[c.ID] = true
			for _, t := range c.TSC {
				tsc[t] = true
			}
		}
	}
	d.ControlsTouched = sortedSet(touched)
	d.TSCTouched = sortedSet(tsc)
	return d
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteText prints a diff for people.
func (d *DiffResult) WriteText(w io.Writer) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s → %s\n", d.From, d.To)
	if d.Empty() {
		sb.WriteString("no changes\n")
		_, err := io.WriteString(w, sb.String())
		return err
	}
	sign := map[string]string{"added": "+", "removed": "-", "changed": "~"}
	for _, o := range d.Objects {
		fmt.Fprintf(&sb, "%s %s  [%s]\n", sign[o.Change], o.ObjectKey, strings.Join(o.Controls, ","))
	}
	if len(d.ControlsAdded) > 0 {
		fmt.Fprintf(&sb, "controls added: %s\n", strings.Join(d.ControlsAdded, " "))
	}
	if len(d.ControlsRemoved) > 0 {
		fmt.Fprintf(&sb, "controls removed: %s\n", strings.Join(d.ControlsRemoved, " "))
	}
	fmt.Fprintf(&sb, "controls touched: %s\nTSC touched: %s\n", strings.Join(d.ControlsTouched, " "), strings.Join(d.TSCTouched, " "))
	_, err := io.WriteString(w, sb.String())
	return err
}

// semver is a parsed MAJOR.MINOR.PATCH[-PRE] tag.
type semver struct {
	nums [3]int
	pre  string
	ok   bool
}

var semverTag = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$`)

func parseSemver(s string) semver {
	m := semverTag.FindStringSubmatch(s)
	if m == nil {
		return semver{}
	}
	var v semver
	for i := 0; i < 3; i++ {
		v.nums[i], _ = strconv.Atoi(m[i+1])
	}
	v.pre, v.ok = m[4], true
	return v
}

// tagLess orders semantic versions first, highest first; other tags after, lexically.
func tagLess(a, b string) bool {
	va, vb := parseSemver(a), parseSemver(b)
	switch {
	case va.ok && !vb.ok:
		return true
	case !va.ok && vb.ok:
		return false
	case !va.ok && !vb.ok:
		return a < b
	}
	for i := 0; i < 3; i++ {
		if va.nums[i] != vb.nums[i] {
			return va.nums[i] > vb.nums[i]
		}
	}
	// A release outranks its prereleases.
	if (va.pre == "") != (vb.pre == "") {
		return va.pre == ""
	}
	return va.pre > vb.pre
}
