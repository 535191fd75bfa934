package verify

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// desired is what verify holds the cluster to for one bundle object: everything the
// bundle sets except status and the metadata the server owns. Identity (name, namespace)
// was matched by the LIST; labels and annotations the bundle sets must be there.
func desired(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		switch k {
		case "status":
		case "metadata":
			md, _ := v.(map[string]any)
			kept := map[string]any{}
			for _, f := range []string{"labels", "annotations"} {
				if md[f] != nil {
					kept[f] = md[f]
				}
			}
			out[k] = kept
		default:
			out[k] = v
		}
	}
	return out
}

// difference is the first place live does not hold what the bundle sets.
type difference struct {
	path      string
	want, got any
}

// subset reports whether want ⊆ got: every field want sets has the same value in got,
// while got may carry more (server defaults, fields other managers own). Lists must have
// the same length and each item must be a subset of its counterpart. A zero value (false,
// 0, "", {} or []) matches an absent field, because typed API servers drop zero values
// that their types mark omitempty. Numbers compare by value whatever their Go type. An
// empty label selector ({} under a key named selector or *Selector) must stay empty.
func subset(want, got any) (difference, bool) {
	return subsetAt(want, got, "")
}

func subsetAt(want, got any, path string) (difference, bool) {
	if want == nil || (got == nil && isZero(want)) {
		return difference{}, true
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return difference{orRoot(path), want, got}, false
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if emptySelector(k, w[k]) {
				// An empty label selector means "everything"; one that gained labels
				// selects less, which no server default does.
				if gm, _ := g[k].(map[string]any); len(gm) > 0 {
					return difference{path + field(k), w[k], g[k]}, false
				}
				continue
			}
			if d, ok := subsetAt(w[k], g[k], path+field(k)); !ok {
				return d, false
			}
		}
		return difference{}, true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return difference{orRoot(path), want, got}, false
		}
		for i := range w {
			if d, ok := subsetAt(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return d, false
			}
		}
		return difference{}, true
	}
	if !scalarEqual(want, got) {
		return difference{orRoot(path), want, got}, false
	}
	return difference{}, true
}

func emptySelector(key string, v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 0 && (key == "selector" || strings.HasSuffix(key, "Selector"))
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// field writes a path step as kubectl's JSONPath does: .name, or ["a.b/c"] for keys like
// label names.
func field(k string) string {
	if identifier.MatchString(k) {
		return "." + k
	}
	return fmt.Sprintf("[%q]", k)
}

func orRoot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func isZero(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	case bool:
		return !x
	}
	if f, ok := number(v); ok {
		return f == 0
	}
	return false
}

// scalarEqual compares YAML and JSON scalars: numbers by value (YAML decodes int64, JSON
// may give float64), everything else exactly, so "true" never equals true.
func scalarEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func short(v any) string {
	if v == nil {
		return "nothing"
	}
	var s string
	switch v.(type) {
	case map[string]any, []any:
		raw, _ := json.Marshal(v)
		s = string(raw)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Sprintf("%q", s)
}
