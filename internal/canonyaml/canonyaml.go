package canonyaml

import (
	"bytes"
	"encoding/json"
	"sync"
)

var arenas = sync.Pool{New: func() any { return new(arena) }}

// emitBufs hold the output while it is written; the result is copied out at its size.
var emitBufs = sync.Pool{New: func() any { return new(emitter) }}

// Omit names a member that FromJSON leaves out: Path from the document root; with IfNull,
// only when its value is null (a typed object's empty creationTimestamp, say).
type Omit struct {
	Path   []string
	IfNull bool
}

// FromJSON writes a JSON document as canonical YAML, leaving out the omitted members.
func FromJSON(js []byte, omit ...Omit) ([]byte, error) {
	a := arenas.Get().(*arena)
	defer putArena(a)
	// Every array item but the first follows a comma, and every object member has a colon.
	a.reserve(bytes.Count(js, []byte(","))+bytes.Count(js, []byte("[")), bytes.Count(js, []byte(":")))
	root, err := parseJSON(js, a)
	if err != nil {
		return nil, err
	}
	for _, o := range omit {
		remove(&root, o)
	}
	return emit(root, len(js))
}

// Marshal writes v's JSON encoding as canonical YAML.
func Marshal(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return FromJSON(js)
}

// emit writes the document of root; size, the length of its JSON, is about as long as its
// YAML. A large document's buffer is given to the caller rather than copied out of it.
func emit(root node, size int) ([]byte, error) {
	e := emitBufs.Get().(*emitter)
	large := size > 64<<10
	if large {
		e.buf = make([]byte, 0, size+size/4)
	}
	e.buf, e.err = e.buf[:0], nil
	e.document(root)
	out, err := e.buf, e.err
	if large {
		e.buf = nil
	} else {
		out = bytes.Clone(out)
	}
	if cap(e.buf) <= maxPooledBytes { // keep the pool from pinning one large document
		emitBufs.Put(e)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// remove deletes the member o names, if it is there.
func remove(n *node, o Omit) {
	for i, k := range o.Path {
		if n.kind != kObject {
			return
		}
		j := -1
		for m := range n.members {
			if string(n.members[m].key) == k {
				j = m
				break
			}
		}
		if j < 0 {
			return
		}
		if i < len(o.Path)-1 {
			n = &n.members[j].val
			continue
		}
		if o.IfNull && n.members[j].val.kind != kNull {
			return
		}
		// The members are a slice of the arena's slab, owned by this tree alone.
		n.members = append(n.members[:j], n.members[j+1:]...)
	}
}
