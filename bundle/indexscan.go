package bundle

import (
	"bytes"

	"bulwark.dev/bulwark/internal/canonyaml"
)

// objectsKey is the line that opens the index's objects in the canonical form: spec's
// member at indentation 2, its sequence's items at the same indentation.
const objectsKey = "\n  objects:\n"

// noObjects is the line the rest of an index has in their place.
const noObjects = "\n  objects: []\n"

// splitObjects reads the objects of an index in the canonical form line by line, with no
// tree (they are nearly all of a fleet-size index, and a tree of them costs more to build
// than to read), and returns them with the rest of the document, their lines replaced by
// an empty list, for canonyaml to read. It answers only when every line is exactly what
// the canonical writer writes for the objects read; false leaves the index to the general
// reading. The caller must still find the empty list at spec.objects in the rest: that,
// and objects being opened on exactly one line, is what makes these lines spec's objects
// and not, say, a literal block's text.
func splitObjects(y []byte) (rest []byte, objects []IndexObject, ok bool) {
	at := bytes.Index(y, []byte(objectsKey))
	if at < 0 || bytes.Count(y, []byte("\n  objects:")) != 1 {
		return nil, nil, false
	}
	start := at + len(objectsKey)
	s := objectScanner{src: y, pos: start, seen: map[string]string{}}
	for s.pos < len(y) && bytes.HasPrefix(y[s.pos:], []byte("  - ")) {
		o, ok := s.object()
		if !ok {
			return nil, nil, false
		}
		objects = append(objects, o)
	}
	if len(objects) == 0 {
		return nil, nil, false // the writer writes no objects as []
	}
	rest = make([]byte, 0, at+len(y)-s.pos+16)
	rest = append(rest, y[:at]...)
	rest = append(rest, noObjects...)
	rest = append(rest, y[s.pos:]...)
	return rest, objects, true
}

// objectScanner reads object items: "  - " and the first member, then the others at
// indentation 4, each list's items at indentation 4 too.
type objectScanner struct {
	src  []byte
	pos  int
	seen map[string]string
}

// line returns the next line without its break, and false at the end of the input or on
// a last line without one (the writer ends every line).
func (s *objectScanner) line() ([]byte, bool) {
	end := bytes.IndexByte(s.src[s.pos:], '\n')
	if end < 0 {
		return nil, false
	}
	l := s.src[s.pos : s.pos+end]
	s.pos += end + 1
	return l, true
}

func (s *objectScanner) intern(b []byte) string {
	if v, ok := s.seen[string(b)]; ok {
		return v
	}
	v := string(b)
	s.seen[v] = v
	return v
}

// The object fields in the writer's key order (byte order), and which are lists.
var objectFields = []struct {
	key  string
	list bool
}{{"apiVersion", false}, {"controls", true}, {"file", false}, {"kind", false}, {"name", false}, {"namespace", false}, {"sha256", false}, {"tsc", true}}

func (s *objectScanner) object() (IndexObject, bool) {
	var o IndexObject
	next := 0 // the index in objectFields the next key may be at or after
	for first := true; ; first = false {
		// After the first, a member is a line at indentation 4 that is not a list item.
		if next := s.src[s.pos:]; !first && (!bytes.HasPrefix(next, []byte("    ")) || bytes.HasPrefix(next, []byte("    - "))) {
			break
		}
		l, ok := s.line()
		if !ok {
			return o, false
		}
		l = l[4:] // "  - " or "    "
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			return o, false
		}
		key := string(l[:colon])
		f := next
		for f < len(objectFields) && objectFields[f].key != key {
			f++
		}
		if f == len(objectFields) {
			return o, false // unknown, repeated or out of order
		}
		next = f + 1
		val := l[colon+1:]
		if objectFields[f].list {
			list, ok := s.list(val)
			if !ok {
				return o, false
			}
			if key == "controls" {
				o.Controls = list
			} else {
				o.TSC = list
			}
			continue
		}
		if len(val) < 2 || val[0] != ' ' {
			return o, false
		}
		str, ok := canonyaml.ReadString(val[1:])
		if !ok {
			return o, false
		}
		switch key {
		case "apiVersion":
			o.APIVersion = s.intern(str)
		case "file":
			o.File = string(str)
		case "kind":
			o.Kind = s.intern(str)
		case "name":
			o.Name = string(str)
		case "namespace":
			o.Namespace = s.intern(str)
		case "sha256":
			o.SHA256 = string(str)
		}
	}
	return o, true
}

// list reads a list member's value: " []" on its line, or nothing there and the items on
// the lines after, each "    - " and a string.
func (s *objectScanner) list(val []byte) ([]string, bool) {
	if string(val) == " []" {
		return []string{}, true
	}
	if len(val) != 0 {
		return nil, false
	}
	var out []string
	for s.pos < len(s.src) && bytes.HasPrefix(s.src[s.pos:], []byte("    - ")) {
		l, ok := s.line()
		if !ok {
			return nil, false
		}
		str, ok := canonyaml.ReadString(l[6:])
		if !ok {
			return nil, false
		}
		out = append(out, s.intern(str))
	}
	return out, len(out) > 0
}

// marshalIndex writes the index in the canonical form, as canonyaml.Marshal does, with
// its objects written line by line (appendObjects) rather than through JSON and a tree: a
// fleet-size index's tree is 7 MB, most of a build's peak memory. Any object the lines
// cannot say exactly as Marshal would goes through Marshal whole.
func marshalIndex(idx Index) ([]byte, error) {
	objects := idx.Spec.Objects
	var lines []byte
	ok := len(objects) > 0
	if ok {
		lines, ok = appendObjects(make([]byte, 0, 320*len(objects)), objects)
	}
	if !ok {
		return canonyaml.Marshal(idx)
	}
	idx.Spec.Objects = []IndexObject{}
	rest, err := canonyaml.Marshal(idx)
	if err != nil {
		return nil, err
	}
	at := bytes.Index(rest, []byte(noObjects))
	if at < 0 || bytes.Count(rest, []byte("\n  objects:")) != 1 {
		idx.Spec.Objects = objects
		return canonyaml.Marshal(idx)
	}
	out := make([]byte, 0, len(rest)+len(lines))
	out = append(out, rest[:at]...)
	out = append(out, objectsKey...)
	out = append(out, lines...)
	return append(out, rest[at+len(noObjects):]...), nil
}

// appendObjects writes the objects' sequence items as the canonical writer does (the
// lines splitObjects reads), and false for an object it cannot: a string the writer would
// double-quote or fold into a block, or a nil list (which JSON writes as null).
func appendObjects(b []byte, objects []IndexObject) ([]byte, bool) {
	ok := true
	// line writes prefix, the scalar of s and a line break.
	line := func(prefix, s string) {
		b = append(b, prefix...)
		var good bool
		b, good = canonyaml.AppendString(b, s)
		ok = ok && good
		b = append(b, '\n')
	}
	list := func(key string, l []string) {
		switch {
		case l == nil:
			ok = false
		case len(l) == 0:
			b = append(b, "    "+key+": []\n"...)
		default:
			b = append(b, "    "+key+":\n"...)
			for _, s := range l {
				line("    - ", s)
			}
		}
	}
	for _, o := range objects {
		line("  - apiVersion: ", o.APIVersion)
		list("controls", o.Controls)
		line("    file: ", o.File)
		line("    kind: ", o.Kind)
		line("    name: ", o.Name)
		if o.Namespace != "" {
			line("    namespace: ", o.Namespace)
		}
		line("    sha256: ", o.SHA256)
		list("tsc", o.TSC)
		if !ok {
			return nil, false
		}
	}
	return b, true
}
