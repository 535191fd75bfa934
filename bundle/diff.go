package bundle

import (
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/api"
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

// The kinds of change.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// ObjectChange is one object that differs between two bundles.
type ObjectChange struct {
	ObjectKey
	// Change is added, removed or changed.
	Change string `json:"change"`
	// Controls and TSC are those the object serves, in either bundle.
	Controls []string `json:"controls"`
	TSC      []string `json:"tsc"`
	// Fields are the paths of the fields that differ in a changed object (e.g.
	// spec.validations[0].expression), at most maxFields of them; FieldsOmitted counts
	// the rest.
	Fields        []string `json:"fields,omitempty"`
	FieldsOmitted int      `json:"fieldsOmitted,omitempty"`
}

// ControlChange is a control realised by both bundles whose enforcement or probe moved;
// From and To are "" for none.
type ControlChange struct {
	ID    string `json:"id"`
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// DiffResult is what `bulwark diff -o json` prints.
type DiffResult struct {
	From    string         `json:"from"`
	To      string         `json:"to"`
	Objects []ObjectChange `json:"objects"`
	// ControlsAdded and ControlsRemoved are the controls the second bundle realises and the
	// first does not, and the reverse (each index's controls: realised ones only).
	ControlsAdded   []string        `json:"controlsAdded"`
	ControlsRemoved []string        `json:"controlsRemoved"`
	ControlsChanged []ControlChange `json:"controlsChanged"`
	// ControlsTouched are the controls added, removed, changed, or whose objects were.
	ControlsTouched []string `json:"controlsTouched"`
	// TSCTouched are the criteria those controls serve.
	TSCTouched []string `json:"tscTouched"`
}

// Empty reports whether the bundles hold the same objects and controls.
func (d *DiffResult) Empty() bool {
	return len(d.Objects) == 0 && len(d.ControlsAdded) == 0 && len(d.ControlsRemoved) == 0 && len(d.ControlsChanged) == 0
}

// maxFields bounds the field summary of one changed object; a rewritten object says
// "changed" either way, and the list is for a reviewer, not a patch.
const maxFields = 8

var versionLabel = regexp.MustCompile(`(?m)^(\s+` + regexp.QuoteMeta(api.LabelVersion) + `: ).*$`)

// comparable drops the version label, which every object carries and every release
// changes: without this every object of a new version would differ from the last.
func comparable(data []byte) string {
	return versionLabel.ReplaceAllString(string(data), `${1}"*"`)
}

// Diff compares two bundles object by object (keyed by apiVersion, kind, namespace and
// name from the indexes; an object changed when its bytes differ other than in its
// version label) and control by control, and collects the controls and TSC points the
// changes touch.
func Diff(a, b *Bundle) *DiffResult {
	d := &DiffResult{
		From: a.Index.Spec.Profile + ":" + a.Index.Spec.Version, To: b.Index.Spec.Profile + ":" + b.Index.Spec.Version,
		Objects: []ObjectChange{}, ControlsAdded: []string{}, ControlsRemoved: []string{}, ControlsChanged: []ControlChange{},
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
	note := func(c ObjectChange, objs ...IndexObject) {
		ctl, t := map[string]bool{}, map[string]bool{}
		for _, o := range objs {
			for _, id := range o.Controls {
				ctl[id], touched[id] = true, true
			}
			for _, p := range o.TSC {
				t[p], tsc[p] = true, true
			}
		}
		c.Controls, c.TSC = sortedSet(ctl), sortedSet(t)
		d.Objects = append(d.Objects, c)
	}
	for k, oa := range ia {
		ob, ok := ib[k]
		switch {
		case !ok:
			note(ObjectChange{ObjectKey: k, Change: ChangeRemoved}, oa)
		default:
			ca, cb := comparable(a.Files[oa.File]), comparable(b.Files[ob.File])
			c := ObjectChange{ObjectKey: k, Change: ChangeChanged}
			switch {
			case ca != cb:
				c.Fields, c.FieldsOmitted = changedFields(ca, cb)
			case !sameStrings(oa.Controls, ob.Controls):
				c.Fields = []string{"(index) controls"}
			default:
				continue
			}
			note(c, oa, ob)
		}
	}
	for k, ob := range ib {
		if _, ok := ia[k]; !ok {
			note(ObjectChange{ObjectKey: k, Change: ChangeAdded}, ob)
		}
	}
	sort.Slice(d.Objects, func(i, j int) bool { return d.Objects[i].String() < d.Objects[j].String() })

	ca, cb := map[string]IndexControl{}, map[string]IndexControl{}
	for _, c := range a.Index.Spec.Controls {
		ca[c.ID] = c
	}
	for _, c := range b.Index.Spec.Controls {
		cb[c.ID] = c
	}
	mark := func(c IndexControl) {
		touched[c.ID] = true
		for _, t := range c.TSC {
			tsc[t] = true
		}
	}
	for _, c := range b.Index.Spec.Controls {
		old, ok := ca[c.ID]
		switch {
		case !ok:
			d.ControlsAdded = append(d.ControlsAdded, c.ID)
			mark(c)
		default:
			for _, f := range []ControlChange{{c.ID, "enforcement", old.Enforcement, c.Enforcement}, {c.ID, "probe", old.Probe, c.Probe}} {
				if f.From != f.To {
					d.ControlsChanged = append(d.ControlsChanged, f)
					mark(c)
				}
			}
		}
	}
	for _, c := range a.Index.Spec.Controls {
		if _, ok := cb[c.ID]; !ok {
			d.ControlsRemoved = append(d.ControlsRemoved, c.ID)
			mark(c)
		}
	}
	sort.Strings(d.ControlsAdded)
	sort.Strings(d.ControlsRemoved)
	sort.SliceStable(d.ControlsChanged, func(i, j int) bool { return d.ControlsChanged[i].ID < d.ControlsChanged[j].ID })
	d.ControlsTouched = sortedSet(touched)
	d.TSCTouched = sortedSet(tsc)
	return d
}

func sameStrings(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// changedFields lists the paths whose values differ between two YAML documents, in
// document order (keys sorted, list items by index), at most maxFields of them, and how many more there were. Text that does not parse is
// reported as one change of the whole document.
func changedFields(a, b string) ([]string, int) {
	var va, vb any
	if yaml.Unmarshal([]byte(a), &va) != nil || yaml.Unmarshal([]byte(b), &vb) != nil {
		return []string{"(document)"}, 0
	}
	var out []string
	walkDiff("", va, vb, &out)
	if len(out) == 0 {
		// Same values, different text (e.g. formatting or key order).
		return []string{"(formatting)"}, 0
	}
	if len(out) > maxFields {
		return out[:maxFields], len(out) - maxFields
	}
	return out, 0
}

// walkDiff appends the paths below prefix where a and b differ: a key or element present
// on one side only, or scalars that differ.
func walkDiff(prefix string, a, b any, out *[]string) {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		for _, k := range sortedSet(keys) {
			walkDiff(joinField(prefix, k), x[k], y[k], out)
		}
		return
	case []any:
		y, ok := b.([]any)
		if !ok {
			break
		}
		for i := 0; i < len(x) || i < len(y); i++ {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			switch {
			case i >= len(x), i >= len(y):
				*out = append(*out, p)
			default:
				walkDiff(p, x[i], y[i], out)
			}
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		if prefix == "" {
			prefix = "(document)"
		}
		*out = append(*out, prefix)
	}
}

var plainField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// joinField writes a path as kubectl's JSONPath does: dots for plain keys, brackets and
// quotes for keys such as label names.
func joinField(prefix, key string) string {
	if !plainField.MatchString(key) {
		return fmt.Sprintf("%s[%q]", prefix, key)
	}
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteText prints a diff for people: one line per object (+ added, - removed,
// ~ changed, with the fields that changed), then the controls and TSC points.
func (d *DiffResult) WriteText(w io.Writer) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s → %s\n", d.From, d.To)
	if d.Empty() {
		sb.WriteString("no changes\n")
		_, err := io.WriteString(w, sb.String())
		return err
	}
	sign := map[string]string{ChangeAdded: "+", ChangeRemoved: "-", ChangeChanged: "~"}
	for _, o := range d.Objects {
		fmt.Fprintf(&sb, "%s %s  [%s]\n", sign[o.Change], o.ObjectKey, strings.Join(o.Controls, ","))
		if len(o.Fields) > 0 {
			more := ""
			if o.FieldsOmitted > 0 {
				more = fmt.Sprintf(" (+%d more)", o.FieldsOmitted)
			}
			fmt.Fprintf(&sb, "    %s%s\n", strings.Join(o.Fields, ", "), more)
		}
	}
	if len(d.ControlsAdded) > 0 {
		fmt.Fprintf(&sb, "controls added: %s\n", strings.Join(d.ControlsAdded, " "))
	}
	if len(d.ControlsRemoved) > 0 {
		fmt.Fprintf(&sb, "controls removed: %s\n", strings.Join(d.ControlsRemoved, " "))
	}
	none := func(s string) string {
		if s == "" {
			return "none"
		}
		return s
	}
	for _, c := range d.ControlsChanged {
		fmt.Fprintf(&sb, "control %s %s: %s → %s\n", c.ID, c.Field, none(c.From), none(c.To))
	}
	fmt.Fprintf(&sb, "controls touched: %s\nTSC touched: %s\n", strings.Join(d.ControlsTouched, " "), strings.Join(d.TSCTouched, " "))
	_, err := io.WriteString(w, sb.String())
	return err
}
