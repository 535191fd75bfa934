package canonyaml

import (
	"bytes"
	"unicode/utf8"
)

// Value is one value of a document Read is reading, for a caller that decodes part of it
// itself and the rest through JSON. It is valid only during Read's callback.
type Value struct{ n node }

// IsArray reports whether the value is an array.
func (v Value) IsArray() bool { return v.n.kind == kArray }

// Len is the number of an array's items or an object's members.
func (v Value) Len() int { return len(v.n.items) + len(v.n.members) }

// Member is an object's i-th member, in key order.
func (v Value) Member(i int) (key []byte, val Value) {
	m := v.n.members[i]
	return m.key, Value{m.val}
}

// Get follows path from v through object members, and false when one is not there.
func (v Value) Get(path ...string) (Value, bool) {
	n := v.n
	for _, k := range path {
		i := memberIndex(n, k)
		if i < 0 {
			return Value{}, false
		}
		n = n.members[i].val
	}
	return Value{n}, true
}

// Without returns v with the member at path left out (v itself when it is not there). The
// objects along the path are copied; v is not changed.
func (v Value) Without(path ...string) Value {
	if len(path) == 0 {
		return v
	}
	i := memberIndex(v.n, path[0])
	if i < 0 {
		return v
	}
	members := make([]member, 0, len(v.n.members))
	members = append(members, v.n.members[:i]...)
	if len(path) > 1 {
		child := Value{v.n.members[i].val}.Without(path[1:]...)
		members = append(members, member{key: v.n.members[i].key, val: child.n})
	}
	members = append(members, v.n.members[i+1:]...)
	return Value{node{kind: kObject, members: members}}
}

// AppendJSON appends the value's JSON to b.
func (v Value) AppendJSON(b []byte) []byte { return appendJSON(b, v.n) }

func memberIndex(n node, key string) int {
	if n.kind != kObject {
		return -1
	}
	for i, m := range n.members {
		if string(m.key) == key {
			return i
		}
	}
	return -1
}

// ReadString reads a scalar written on one line as the writer writes a string there: plain,
// or single-quoted when it cannot be plain. Anything else (another type, a double-quoted
// or literal string, a form the writer would not choose) is false, and left to Read.
func ReadString(v []byte) ([]byte, bool) {
	if len(v) == 0 {
		return nil, false
	}
	if v[0] != '\'' {
		return v, plainOK(v)
	}
	if len(v) < 2 || v[len(v)-1] != '\'' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\'') >= 0 {
		out := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 >= len(s) || s[i+1] != '\'' {
					return nil, false
				}
				i++
			}
			out = append(out, s[i])
		}
		s = out
	}
	return s, !plainOK(s) && singleOK(s) && !literalOK(s)
}

// AppendString appends the scalar the writer writes for s as a value on one line, and
// false when the writer would write s otherwise (double-quoted or as a literal block) or s
// is not valid UTF-8 (which the writer's JSON input cannot hold): the forms ReadString
// reads, so that a caller writing lines with it writes what Marshal would.
func AppendString(b []byte, s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return b, false
	}
	bs := []byte(s)
	switch {
	case plainOK(bs):
		return append(b, s...), true
	case singleOK(bs) && !literalOK(bs):
		b = append(b, '\'')
		for i := 0; i < len(s); i++ {
			if s[i] == '\'' {
				b = append(b, '\'')
			}
			b = append(b, s[i])
		}
		return append(b, '\''), true
	}
	return b, false
}
