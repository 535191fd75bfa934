package profile

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits that keep hostile input cheap to refuse.
const (
	// MaxBytes is the largest profile accepted; real profiles are a few KiB.
	MaxBytes = 1 << 20
	maxDepth = 32
	maxNodes = 100000
)

type position struct{ line, col int }

// decoder walks a YAML node tree against the profile's Go types, so that every unknown
// field, duplicate key and wrong type is reported with its position, not just the first.
type decoder struct {
	file string
	errs ErrorList
	pos  map[string]position // value position by field path
	// keyPos holds where each mapping key was written, for problems with the key itself.
	keyPos map[string]position
	nodes  int
	// failed holds the paths whose values were dropped, so semantic checks stay quiet about them.
	failed map[string]bool
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)})
	if d.failed == nil {
		d.failed = map[string]bool{}
	}
	d.failed[path] = true
}

var dateType = reflect.TypeOf(Date{})

// decode converts n to a JSON-compatible value shaped by t, reporting every mismatch.
// ok is false when nothing usable came out of n.
func (d *decoder) decode(n *yaml.Node, t reflect.Type, path string, depth int) (any, bool) {
	d.nodes++
	if d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errorf(n, path, "too many YAML nodes (at most %d)", maxNodes)
		}
		return nil, false
	}
	if depth > maxDepth {
		d.errorf(n, path, "nested too deeply (at most %d levels)", maxDepth)
		return nil, false
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.errorf(n, path, "YAML anchors and aliases are not supported (write the value out)")
		return nil, false
	}
	d.pos[path] = position{n.Line, n.Column}
	if isNull(n) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			return nil, true
		}
		d.errorf(n, path, "must not be null (expected %s)", describe(t))
		return nil, false
	}
	if t == dateType {
		return d.scalar(n, path, "a date (YYYY-MM-DD, e.g. 2027-03-31)", func(s string) (any, bool) {
			_, err := ParseDate(s)
			return s, dateRE.MatchString(s) && err == nil
		}, "!!str", "!!timestamp")
	}
	switch t.Kind() {
	case reflect.Pointer:
		return d.decode(n, t.Elem(), path, depth)
	case reflect.Struct:
		return d.structure(n, t, path, depth)
	case reflect.Map:
		return d.mapping(n, t, path, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, got %s", kindOf(n))
			return nil, false
		}
		out := make([]any, 0, len(n.Content))
		ok := true
		for i, item := range n.Content {
			v, iok := d.decode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
			ok = ok && iok
			out = append(out, v)
		}
		return out, ok
	case reflect.String:
		return d.scalar(n, path, "a string", func(s string) (any, bool) { return s, true }, "!!str")
	case reflect.Bool:
		return d.scalar(n, path, "true or false", func(s string) (any, bool) {
			b, err := strconv.ParseBool(s)
			return b, err == nil
		}, "!!bool")
	case reflect.Int, reflect.Int32, reflect.Int64:
		return d.scalar(n, path, "an integer", func(s string) (any, bool) {
			i, err := strconv.ParseInt(s, 0, 64)
			return i, err == nil
		}, "!!int")
	case reflect.Interface:
		return d.any(n, path, depth)
	}
	d.errorf(n, path, "unsupported field type %s", t)
	return nil, false
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func (d *decoder) scalar(n *yaml.Node, path, want string, conv func(string) (any, bool), tags ...string) (any, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s, got %s", want, kindOf(n))
		return nil, false
	}
	tagOK := false
	for _, t := range tags {
		if n.ShortTag() == t {
			tagOK = true
		}
	}
	if !tagOK {
		hint := ""
		if tags[0] == "!!str" {
			hint = fmt.Sprintf("; quote it: \"%s\"", n.Value)
		}
		d.errorf(n, path, "expected %s, got %s %q%s", want, tagName(n.ShortTag()), n.Value, hint)
		return nil, false
	}
	v, ok := conv(n.Value)
	if !ok {
		d.errorf(n, path, "%q is not %s", n.Value, want)
		return nil, false
	}
	return v, ok
}

// structure decodes a mapping into a struct's json-tagged fields.
func (d *decoder) structure(n *yaml.Node, t reflect.Type, path string, depth int) (any, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of fields, got %s", kindOf(n))
		return nil, false
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string]any{}
	ok := true
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, kok := d.key(k, path, seen)
		if !kok {
			ok = false
			continue
		}
		fp := join(path, key)
		ft, known := fields[key]
		if !known {
			msg := fmt.Sprintf("unknown field %q", key)
			if s := nearest(key, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf(" (allowed: %s)", strings.Join(names, ", "))
			}
			d.errorf(k, fp, "%s", msg)
			ok = false
			continue
		}
		val, vok := d.decode(v, ft, fp, depth+1)
		ok = ok && vok
		if val != nil {
			out[key] = val
		}
	}
	return out, ok
}

// mapping decodes a mapping with free-form keys.
func (d *decoder) mapping(n *yaml.Node, t reflect.Type, path string, depth int) (any, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", kindOf(n))
		return nil, false
	}
	out := map[string]any{}
	ok := true
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, kok := d.key(k, path, seen)
		if !kok {
			ok = false
			continue
		}
		if d.keyPos == nil {
			d.keyPos = map[string]position{}
		}
		d.keyPos[join(path, key)] = position{k.Line, k.Column}
		val, vok := d.decode(v, t.Elem(), join(path, key), depth+1)
		ok = ok && vok
		out[key] = val
	}
	return out, ok
}

// key reads a mapping key and reports duplicates, which YAML parsers disagree on.
func (d *decoder) key(k *yaml.Node, path string, seen map[string]*yaml.Node) (string, bool) {
	if k.Kind != yaml.ScalarNode {
		d.errorf(k, path, "mapping keys must be plain strings, got %s", kindOf(k))
		return "", false
	}
	if k.Anchor != "" || k.Kind == yaml.AliasNode {
		d.errorf(k, path, "YAML anchors and aliases are not supported (write the value out)")
		return "", false
	}
	if first, dup := seen[k.Value]; dup {
		d.errorf(k, join(path, k.Value), "duplicate key %q (first set on line %d)", k.Value, first.Line)
		return "", false
	}
	seen[k.Value] = k
	return k.Value, true
}

// any decodes free-form values (control parameters).
func (d *decoder) any(n *yaml.Node, path string, depth int) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		return d.mapping(n, reflect.TypeOf(map[string]any{}), path, depth)
	case yaml.SequenceNode:
		return d.decode(n, reflect.TypeOf([]any{}), path, depth)
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return i, true
			}
		case "!!float":
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return f, true
			}
		case "!!bool":
			if b, err := strconv.ParseBool(n.Value); err == nil {
				return b, true
			}
		case "!!null":
			return nil, true
		}
		return n.Value, true
	}
	d.errorf(n, path, "unsupported YAML value (%s)", kindOf(n))
	return nil, false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return tagName(n.ShortTag()) + " " + strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

func tagName(tag string) string {
	switch tag {
	case "!!str":
		return "string"
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "timestamp"
	}
	return strings.TrimPrefix(tag, "!!")
}

func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "a mapping"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	}
	return t.Kind().String()
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// join appends a key to a field path, bracketing keys that contain dots or slashes.
func join(path, key string) string {
	if !plainKey.MatchString(key) {
		key = "[" + strconv.Quote(key) + "]"
		if path == "" {
			return key
		}
		return path + key
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
