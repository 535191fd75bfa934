package canonyaml

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is the JSON type of a node.
type kind uint8

const (
	kNull kind = iota
	kFalse
	kTrue
	kNumber
	kString
	kArray
	kObject
)

// node is one JSON value. text is a number's literal or a string's decoded bytes; both
// point into the input or the arena's byte slab, so a tree lives as long as one call.
type node struct {
	kind    kind
	text    []byte
	items   []node
	members []member
	// literal is set by the reader on a string read from a literal block.
	literal bool
}

type member struct {
	key []byte
	val node
}

// arena holds the slabs a tree's slices are cut from. Reused through a pool, a document's
// containers and decoded strings cost no allocation once the slabs have grown to fit.
type arena struct {
	nodes   []node
	members []member
	bytes   []byte
	// stacks hold a container's children while it is parsed; they are copied to the slabs
	// when it closes, because nested containers interleave with their parent's children.
	nodeStack   []node
	memberStack []member
}

func (a *arena) reset() {
	clear(a.nodes)
	clear(a.members)
	a.nodes, a.members, a.bytes = a.nodes[:0], a.members[:0], a.bytes[:0]
	a.nodeStack, a.memberStack = a.nodeStack[:0], a.memberStack[:0]
}

// maxPooledItems bounds the arenas and buffers kept for reuse: an object's document is a
// few hundred members; a bundle index's is tens of thousands, read or written once, and
// an arena that size held in the pool is 7 MB of a build's peak memory for nothing.
const maxPooledItems = 4096

// maxPooledBytes is maxPooledItems for the writer's buffers.
const maxPooledBytes = 256 << 10

// putArena returns a to the pool, unless a fleet-size document grew it: a pool that pins
// megabytes for documents that are read once per process costs more than it saves.
func putArena(a *arena) {
	if cap(a.members) > maxPooledItems || cap(a.nodes) > maxPooledItems {
		return
	}
	a.reset()
	arenas.Put(a)
}

// reserve sizes the slabs for at most nodes sequence items and members mapping members, at
// most once each, rather than by doubling (whose outgrown slabs a tree still points into).
func (a *arena) reserve(nodes, members int) {
	if cap(a.nodes) < nodes {
		a.nodes = make([]node, 0, nodes)
	}
	if cap(a.members) < members {
		a.members = make([]member, 0, members)
	}
}

// closeArray moves the nodes stacked since from to the slab and returns them.
func (a *arena) closeArray(from int) []node { return closeRun(&a.nodes, &a.nodeStack, from) }

// closeObject moves the members stacked since from to the slab and returns them.
func (a *arena) closeObject(from int) []member {
	return closeRun(&a.members, &a.memberStack, from)
}

func closeRun[T any](slab, stack *[]T, from int) []T {
	if len(*stack) == from {
		return nil
	}
	start := len(*slab)
	*slab = append(*slab, (*stack)[from:]...)
	clear((*stack)[from:])
	*stack = (*stack)[:from]
	return (*slab)[start:len(*slab):len(*slab)]
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 1000

var errDepth = errors.New("nested more than 1000 levels deep")

// jsonParser reads RFC 8259 JSON into a tree.
type jsonParser struct {
	in  []byte
	pos int
	a   *arena
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func parseJSON(in []byte, a *arena) (node, error) {
	p := &jsonParser{in: in, a: a}
	n, err := p.value(0)
	if err != nil {
		return node{}, err
	}
	p.space()
	if p.pos != len(in) {
		return node{}, p.errorf("unexpected %q after the value", in[p.pos])
	}
	return n, nil
}

func (p *jsonParser) value(depth int) (node, error) {
	if depth > maxDepth {
		return node{}, errDepth
	}
	p.space()
	if p.pos >= len(p.in) {
		return node{}, p.errorf("unexpected end of input")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		return node{kind: kString, text: s}, err
	case c == 't':
		return p.literal("true", kTrue)
	case c == 'f':
		return p.literal("false", kFalse)
	case c == 'n':
		return p.literal("null", kNull)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return node{}, p.errorf("unexpected %q", c)
	}
}

func (p *jsonParser) literal(word string, k kind) (node, error) {
	if !bytes.HasPrefix(p.in[p.pos:], []byte(word)) {
		return node{}, p.errorf("invalid literal")
	}
	p.pos += len(word)
	return node{kind: k}, nil
}

func (p *jsonParser) number() (node, error) {
	start := p.pos
	in := p.in
	i := p.pos
	if i < len(in) && in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && in[i] >= '1' && in[i] <= '9':
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return node{}, p.errorf("invalid number")
	}
	if i < len(in) && in[i] == '.' {
		i++
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			p.pos = i
			return node{}, p.errorf("invalid number")
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			p.pos = i
			return node{}, p.errorf("invalid number")
		}
	}
	p.pos = i
	return node{kind: kNumber, text: in[start:i:i]}, nil
}

// str reads a string; without escapes it is a slice of the input.
func (p *jsonParser) str() ([]byte, error) {
	p.pos++ // opening quote
	start := p.pos
	in := p.in
	for i := start; i < len(in); i++ {
		switch c := in[i]; {
		case c == '"':
			p.pos = i + 1
			s := in[start:i:i]
			if !utf8.Valid(s) {
				return p.a.validUTF8(s), nil
			}
			return s, nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			p.pos = i
			return nil, p.errorf("control character in string")
		}
	}
	p.pos = len(in)
	return nil, p.errorf("unterminated string")
}

// validUTF8 replaces invalid bytes with U+FFFD, as encoding/json does.
func (a *arena) validUTF8(s []byte) []byte {
	start := len(a.bytes)
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		a.bytes = utf8.AppendRune(a.bytes, r)
		s = s[size:]
	}
	return a.bytes[start:len(a.bytes):len(a.bytes)]
}

// escaped decodes a string with escapes into the arena's byte slab.
func (p *jsonParser) escaped(start int) ([]byte, error) {
	in := p.in
	out := len(p.a.bytes)
	buf := p.a.bytes
	i := start
	for i < len(in) {
		c := in[i]
		switch {
		case c == '"':
			p.pos = i + 1
			p.a.bytes = buf
			return buf[out:len(buf):len(buf)], nil
		case c < 0x20:
			p.pos = i
			return nil, p.errorf("control character in string")
		case c == '\\':
			if i+1 >= len(in) {
				p.pos = i
				return nil, p.errorf("unterminated escape")
			}
			switch e := in[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
				i += 2
			case 'b':
				buf, i = append(buf, '\b'), i+2
			case 'f':
				buf, i = append(buf, '\f'), i+2
			case 'n':
				buf, i = append(buf, '\n'), i+2
			case 'r':
				buf, i = append(buf, '\r'), i+2
			case 't':
				buf, i = append(buf, '\t'), i+2
			case 'u':
				r, ok := hex4(in, i+2)
				if !ok {
					p.pos = i
					return nil, p.errorf("invalid \\u escape")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(-1), false
					if i+1 < len(in) && in[i] == '\\' && in[i+1] == 'u' {
						r2, ok2 = hex4(in, i+2)
					}
					if d := utf16.DecodeRune(r, r2); ok2 && d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				p.pos = i
				return nil, p.errorf("invalid escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(in[i:])
			buf = utf8.AppendRune(buf, r)
			i += size
		}
	}
	p.pos = len(in)
	return nil, p.errorf("unterminated string")
}

func hex4(in []byte, i int) (rune, bool) {
	if i+4 > len(in) {
		return 0, false
	}
	var r rune
	for _, c := range in[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (p *jsonParser) array(depth int) (node, error) {
	p.pos++
	from := len(p.a.nodeStack)
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		return node{kind: kArray}, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return node{}, err
		}
		p.a.nodeStack = append(p.a.nodeStack, v)
		p.space()
		if p.pos >= len(p.in) {
			return node{}, p.errorf("unterminated array")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return node{kind: kArray, items: p.a.closeArray(from)}, nil
		default:
			return node{}, p.errorf("expected , or ] in array")
		}
	}
}

func (p *jsonParser) object(depth int) (node, error) {
	p.pos++
	from := len(p.a.memberStack)
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		return node{kind: kObject}, nil
	}
	for {
		p.space()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return node{}, p.errorf("expected a string key")
		}
		k, err := p.str()
		if err != nil {
			return node{}, err
		}
		p.space()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return node{}, p.errorf("expected : after a key")
		}
		p.pos++
		v, err := p.value(depth + 1)
		if err != nil {
			return node{}, err
		}
		p.a.memberStack = append(p.a.memberStack, member{key: k, val: v})
		p.space()
		if p.pos >= len(p.in) {
			return node{}, p.errorf("unterminated object")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			ms := p.a.closeObject(from)
			slices.SortFunc(ms, func(x, y member) int { return bytes.Compare(x.key, y.key) })
			for i := 1; i < len(ms); i++ {
				if bytes.Equal(ms[i-1].key, ms[i].key) {
					return node{}, fmt.Errorf("duplicate key %q", ms[i].key)
				}
			}
			return node{kind: kObject, members: ms}, nil
		default:
			return node{}, p.errorf("expected , or } in object")
		}
	}
}
