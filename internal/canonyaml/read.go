package canonyaml

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"
)

// errNotCanonical stops the reader at the first thing the writer would not have written;
// the caller then leaves the document to a general YAML parser.
var errNotCanonical = errors.New("not canonical")

// ToJSON returns the JSON of a document in the canonical form, and false for any other
// document, which the caller must give to a YAML parser. It reads the document, writes
// what it read, and answers only if that gives back the same bytes: what a YAML parser
// reads from a document the writer produced is what the writer was given (the tests hold
// the writer to that), so the answer is the parser's. Keys must be in byte order, which
// also rules out the duplicates YAML parsers refuse, and numbers must be integers of at
// most 18 digits, which every parser reads exactly.
func ToJSON(y []byte) ([]byte, bool) {
	var js []byte
	ok := Read(y, func(root Value) { js = root.AppendJSON(make([]byte, 0, len(y))) })
	return js, ok
}

// Read calls fn with the root of a document in the canonical form, read as ToJSON reads
// it, and returns false without calling fn for any other document. The root and every
// value reached from it are valid only until fn returns.
func Read(y []byte, fn func(root Value)) bool {
	a := arenas.Get().(*arena)
	defer putArena(a)
	// A sequence item starts with "- " and a mapping member's key ends with ':'.
	a.reserve(bytes.Count(y, []byte("- ")), bytes.Count(y, []byte(":")))
	r := &reader{src: y, a: a}
	root, err := r.document()
	if err != nil {
		return false
	}
	e := emitBufs.Get().(*emitter)
	defer emitBufs.Put(e)
	// The writing must give y back, so it is len(y) long: one allocation, not a doubling.
	if cap(e.buf) < len(y) {
		e.buf = make([]byte, 0, len(y))
	}
	e.buf, e.err = e.buf[:0], nil
	e.document(root)
	same := e.err == nil && bytes.Equal(e.buf, y)
	if cap(e.buf) > maxPooledBytes {
		e.buf = nil
	}
	if !same {
		return false
	}
	fn(Value{root})
	return true
}

// reader walks a document line by line. pos is where the current line's unread part
// starts and col its column: after "- " or inside a line the reader continues at a column
// greater than zero, as if the rest of the line were a line indented that far.
type reader struct {
	src   []byte
	pos   int
	col   int
	depth int
	a     *arena
}

// line returns the current line's indentation and content, and false at the end.
func (r *reader) line() (int, []byte, bool) {
	if r.pos >= len(r.src) {
		return 0, nil, false
	}
	i := r.pos
	for i < len(r.src) && r.src[i] == ' ' {
		i++
	}
	end := bytes.IndexByte(r.src[i:], '\n')
	if end < 0 {
		return 0, nil, false // the writer ends every line, the last too
	}
	return r.col + i - r.pos, r.src[i : i+end], true
}

// advance moves to the next line.
func (r *reader) advance() {
	end := bytes.IndexByte(r.src[r.pos:], '\n')
	r.pos += end + 1
	r.col = 0
}

// enter continues the current line at its content's column plus n.
func (r *reader) enter(ind, n int) {
	for r.src[r.pos] == ' ' {
		r.pos++
	}
	r.pos += n
	r.col = ind + n
}

func (r *reader) document() (node, error) {
	ind, content, ok := r.line()
	if !ok || ind != 0 || len(content) == 0 {
		return node{}, errNotCanonical
	}
	var n node
	var err error
	switch {
	case content[0] == '-':
		n, err = r.sequence(0)
	case isMember(content):
		n, err = r.mapping(0)
	default:
		n, err = r.scalar(content, 0)
		r.advance()
	}
	if err != nil {
		return node{}, err
	}
	if r.pos != len(r.src) {
		return node{}, errNotCanonical
	}
	return n, nil
}

// isMember reports whether a line's content is a mapping member: a quoted key followed by
// a colon, or a plain key, which never holds a colon, followed by ": " or ending in ':'.
func isMember(content []byte) bool {
	if content[0] == '"' || content[0] == '\'' {
		end := quotedEnd(content)
		return end > 0 && end < len(content) && content[end] == ':'
	}
	i := bytes.IndexByte(content, ':')
	return i > 0 && (i == len(content)-1 || content[i+1] == ' ')
}

// quotedEnd returns the index just past a quoted scalar at the start of s, or -1.
func quotedEnd(s []byte) int {
	if s[0] == '\'' {
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					i++
					continue
				}
				return i + 1
			}
		}
		return -1
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func (r *reader) nest() error {
	if r.depth++; r.depth > maxDepth {
		return errDepth
	}
	return nil
}

// mapping reads members at indentation ind, starting on the current line.
func (r *reader) mapping(ind int) (node, error) {
	if err := r.nest(); err != nil {
		return node{}, err
	}
	defer func() { r.depth-- }()
	from := len(r.a.memberStack)
	var last []byte
	for first := true; ; first = false {
		at, content, ok := r.line()
		if ok && len(content) == 0 {
			return node{}, errNotCanonical
		}
		if !ok || at < ind || (!first && at == ind && content[0] == '-') {
			break
		}
		if at != ind || !isMember(content) {
			return node{}, errNotCanonical
		}
		var key, rest []byte
		if content[0] == '"' || content[0] == '\'' {
			end := quotedEnd(content)
			k, err := r.quoted(content[:end])
			if err != nil {
				return node{}, err
			}
			key, rest = k, content[end+1:]
		} else {
			i := bytes.IndexByte(content, ':')
			key, rest = content[:i], content[i+1:]
		}
		if !first && bytes.Compare(last, key) >= 0 {
			return node{}, errNotCanonical
		}
		last = key
		var val node
		var err error
		if len(rest) == 0 {
			r.advance()
			at, next, ok := r.line()
			switch {
			case !ok || len(next) == 0:
				return node{}, errNotCanonical
			case at == ind && next[0] == '-':
				val, err = r.sequence(ind)
			case at == ind+2:
				val, err = r.mapping(ind + 2)
			default:
				return node{}, errNotCanonical
			}
		} else {
			if rest[0] != ' ' || len(rest) < 2 {
				return node{}, errNotCanonical
			}
			val, err = r.scalar(rest[1:], ind+2)
			r.advanceIfScalar(val)
		}
		if err != nil {
			return node{}, err
		}
		r.a.memberStack = append(r.a.memberStack, member{key: key, val: val})
	}
	return node{kind: kObject, members: r.a.closeObject(from)}, nil
}

// advanceIfScalar moves past a one-line scalar; a literal block has moved past its lines.
func (r *reader) advanceIfScalar(v node) {
	if !v.literal {
		r.advance()
	}
}

// sequence reads items whose dashes are at indentation ind, starting on the current line.
func (r *reader) sequence(ind int) (node, error) {
	if err := r.nest(); err != nil {
		return node{}, err
	}
	defer func() { r.depth-- }()
	from := len(r.a.nodeStack)
	for {
		at, content, ok := r.line()
		if ok && len(content) == 0 {
			return node{}, errNotCanonical
		}
		if !ok || at < ind || (at == ind && content[0] != '-') {
			break
		}
		if at != ind || len(content) < 3 || content[1] != ' ' {
			return node{}, errNotCanonical
		}
		rest := content[2:]
		var item node
		var err error
		switch {
		case rest[0] == '-':
			r.enter(at, 2)
			item, err = r.sequence(ind + 2)
		case isMember(rest):
			r.enter(at, 2)
			item, err = r.mapping(ind + 2)
		default:
			item, err = r.scalar(rest, ind+2)
			r.advanceIfScalar(item)
		}
		if err != nil {
			return node{}, err
		}
		r.a.nodeStack = append(r.a.nodeStack, item)
	}
	return node{kind: kArray, items: r.a.closeArray(from)}, nil
}

// scalar reads a value written on one line, or a literal block whose lines are at
// blockInd.
func (r *reader) scalar(s []byte, blockInd int) (node, error) {
	switch {
	case string(s) == "{}":
		return node{kind: kObject}, nil
	case string(s) == "[]":
		return node{kind: kArray}, nil
	case string(s) == "null":
		return node{kind: kNull}, nil
	case string(s) == "true":
		return node{kind: kTrue}, nil
	case string(s) == "false":
		return node{kind: kFalse}, nil
	case string(s) == "|" || string(s) == "|-":
		return r.block(blockInd, len(s) == 1)
	case s[0] == '"' || s[0] == '\'':
		if quotedEnd(s) != len(s) {
			return node{}, errNotCanonical
		}
		text, err := r.quoted(s)
		return node{kind: kString, text: text}, err
	case s[0] == '-' || (s[0] >= '0' && s[0] <= '9'):
		if isInteger(s) {
			return node{kind: kNumber, text: s}, nil
		}
		if s[0] == '-' {
			return node{}, errNotCanonical
		}
	}
	return node{kind: kString, text: s}, nil
}

// isInteger reports whether s is an integer every YAML parser and encoding/json read
// exactly: no leading zero, no sign but '-', at most 18 digits. Other numbers (and "-0")
// are left to a YAML parser.
func isInteger(s []byte) bool {
	d := s
	if d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 || (d[0] == '0' && (len(d) > 1 || len(s) > 1)) {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// block reads a literal block's lines: empty lines, and lines indented ind or more.
func (r *reader) block(ind int, keep bool) (node, error) {
	r.advance()
	start := len(r.a.bytes)
	buf := r.a.bytes
	for n := 0; ; n++ {
		if r.pos >= len(r.src) {
			break
		}
		end := bytes.IndexByte(r.src[r.pos:], '\n')
		if end < 0 {
			return node{}, errNotCanonical
		}
		line := r.src[r.pos : r.pos+end]
		if len(line) > 0 {
			if len(line) <= ind || string(line[:ind]) != spaces(ind) {
				break
			}
			line = line[ind:]
		}
		if n > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, line...)
		r.pos += end + 1
	}
	if keep {
		buf = append(buf, '\n')
	}
	r.a.bytes = buf
	if !utf8.Valid(buf[start:]) {
		return node{}, errNotCanonical
	}
	return node{kind: kString, text: buf[start:len(buf):len(buf)], literal: true}, nil
}

var spaceRun = bytes.Repeat([]byte{' '}, 256)

func spaces(n int) string {
	if n <= len(spaceRun) {
		return string(spaceRun[:n])
	}
	return string(bytes.Repeat([]byte{' '}, n))
}

// quoted decodes a quoted scalar (quotes included): single-quoted with ” for ', or
// double-quoted with the escapes the writer uses.
func (r *reader) quoted(s []byte) ([]byte, error) {
	single := s[0] == '\''
	s = s[1 : len(s)-1]
	if single {
		if !utf8.Valid(s) {
			return nil, errNotCanonical
		}
		if bytes.IndexByte(s, '\'') < 0 {
			return s, nil
		}
		start := len(r.a.bytes)
		r.a.bytes = append(r.a.bytes, bytes.ReplaceAll(s, []byte("''"), []byte("'"))...)
		return r.a.bytes[start:len(r.a.bytes):len(r.a.bytes)], nil
	}
	if bytes.IndexByte(s, '\\') < 0 {
		if !utf8.Valid(s) {
			return nil, errNotCanonical
		}
		return s, nil
	}
	start := len(r.a.bytes)
	buf := r.a.bytes
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			buf = append(buf, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, errNotCanonical
		}
		i++
		switch s[i] {
		case '"', '\\':
			buf = append(buf, s[i])
		case 'n':
			buf = append(buf, '\n')
		case 't':
			buf = append(buf, '\t')
		case 'r':
			buf = append(buf, '\r')
		case 'u', 'U':
			n := 4
			if s[i] == 'U' {
				n = 8
			}
			if i+1+n > len(s) {
				return nil, errNotCanonical
			}
			v, err := strconv.ParseUint(string(s[i+1:i+1+n]), 16, 32)
			if err != nil || !utf8.ValidRune(rune(v)) {
				return nil, errNotCanonical
			}
			buf = utf8.AppendRune(buf, rune(v))
			i += n
		default:
			return nil, errNotCanonical
		}
	}
	r.a.bytes = buf
	if !utf8.Valid(buf[start:]) {
		return nil, errNotCanonical
	}
	return buf[start:len(buf):len(buf)], nil
}

// appendJSON writes a tree as JSON.
func appendJSON(b []byte, n node) []byte {
	switch n.kind {
	case kNull:
		return append(b, "null"...)
	case kTrue:
		return append(b, "true"...)
	case kFalse:
		return append(b, "false"...)
	case kNumber:
		return append(b, n.text...)
	case kString:
		return appendJSONString(b, n.text)
	case kArray:
		b = append(b, '[')
		for i, it := range n.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, it)
		}
		return append(b, ']')
	default:
		b = append(b, '{')
		for i, m := range n.members {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, m.key)
			b = append(b, ':')
			b = appendJSON(b, m.val)
		}
		return append(b, '}')
	}
}

func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
