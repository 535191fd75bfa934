package canonyaml

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// emitter appends the canonical YAML of a tree to buf.
type emitter struct {
	buf []byte
	err error
}

// maxKey is the longest key written. YAML limits an implicit key to 1024 characters, and
// the explicit form (`? key`) is not worth its weight for what Bulwark writes: Kubernetes
// caps label and annotation keys at 317 bytes.
const maxKey = 1000

// ErrLongKey is returned for an object key that is too long for a YAML implicit key.
var ErrLongKey = errors.New("an object key is longer than a YAML implicit key may be (1,000 bytes written)")

func (e *emitter) indent(n int) {
	for ; n > 0; n-- {
		e.buf = append(e.buf, ' ')
	}
}

// document writes a whole document: a collection in block style, a scalar on one line.
func (e *emitter) document(n node) {
	switch {
	case n.kind == kObject && len(n.members) > 0:
		e.mapping(n.members, 0, false)
	case n.kind == kArray && len(n.items) > 0:
		e.sequence(n.items, 0, false)
	case n.kind == kString:
		e.quoted(n.text)
		e.buf = append(e.buf, '\n')
	default:
		e.flowScalar(n)
		e.buf = append(e.buf, '\n')
	}
}

// mapping writes members at indentation ind; inline means the first starts on the current
// line, after a sequence dash.
func (e *emitter) mapping(ms []member, ind int, inline bool) {
	for i, m := range ms {
		if i > 0 || !inline {
			e.indent(ind)
		}
		e.key(m.key)
		e.buf = append(e.buf, ':')
		e.value(m.val, ind, false)
	}
}

// sequence writes items with their dashes at indentation ind, inline as for mapping.
func (e *emitter) sequence(items []node, ind int, inline bool) {
	for i, it := range items {
		if i > 0 || !inline {
			e.indent(ind)
		}
		e.buf = append(e.buf, '-')
		e.value(it, ind, true)
	}
}

// value writes what follows a key's colon (afterDash false: the key is at ind) or a
// sequence dash (the dash is at ind). A key's mapping is indented under it and its
// sequence sits at its indentation; a dash's collection starts on the dash's line.
func (e *emitter) value(v node, ind int, afterDash bool) {
	switch {
	case v.kind == kObject && len(v.members) > 0:
		if afterDash {
			e.buf = append(e.buf, ' ')
			e.mapping(v.members, ind+2, true)
			return
		}
		e.buf = append(e.buf, '\n')
		e.mapping(v.members, ind+2, false)
	case v.kind == kArray && len(v.items) > 0:
		if afterDash {
			e.buf = append(e.buf, ' ')
			e.sequence(v.items, ind+2, true)
			return
		}
		e.buf = append(e.buf, '\n')
		e.sequence(v.items, ind, false)
	case v.kind == kString && literalOK(v.text):
		e.literal(v.text, ind+2)
	default:
		e.buf = append(e.buf, ' ')
		e.flowScalar(v)
		e.buf = append(e.buf, '\n')
	}
}

// literal writes a literal block scalar whose lines are at ind; empty lines carry no
// indentation, so that no line of the document ends in a space.
func (e *emitter) literal(text []byte, ind int) {
	e.buf = append(e.buf, " |"...)
	if text[len(text)-1] == '\n' {
		text = text[:len(text)-1]
	} else {
		e.buf = append(e.buf, '-')
	}
	e.buf = append(e.buf, '\n')
	for {
		line, rest, more := bytes.Cut(text, []byte{'\n'})
		if len(line) > 0 {
			e.indent(ind)
			e.buf = append(e.buf, line...)
		}
		e.buf = append(e.buf, '\n')
		if !more {
			return
		}
		text = rest
	}
}

// flowScalar writes a value that fits on the current line.
func (e *emitter) flowScalar(v node) {
	switch v.kind {
	case kNull:
		e.buf = append(e.buf, "null"...)
	case kTrue:
		e.buf = append(e.buf, "true"...)
	case kFalse:
		e.buf = append(e.buf, "false"...)
	case kNumber:
		e.buf = append(e.buf, v.text...)
	case kString:
		if plainOK(v.text) {
			e.buf = append(e.buf, v.text...)
		} else {
			e.quote(v.text)
		}
	case kObject:
		e.buf = append(e.buf, "{}"...)
	case kArray:
		e.buf = append(e.buf, "[]"...)
	}
}

func (e *emitter) key(k []byte) {
	start := len(e.buf)
	if plainKeyOK(k) {
		e.buf = append(e.buf, k...)
	} else {
		e.quote(k)
	}
	if len(e.buf)-start > maxKey && e.err == nil {
		e.err = ErrLongKey
	}
}

const hexDigits = "0123456789abcdef"

// quote writes a scalar that cannot be plain: single-quoted when every character prints
// as itself on one line (only ' is doubled, so JSON and CEL inside stay readable),
// double-quoted otherwise.
func (e *emitter) quote(s []byte) {
	if !singleOK(s) {
		e.quoted(s)
		return
	}
	e.buf = append(e.buf, '\'')
	for _, c := range s {
		if c == '\'' {
			e.buf = append(e.buf, '\'')
		}
		e.buf = append(e.buf, c)
	}
	e.buf = append(e.buf, '\'')
}

// singleOK reports whether s is all printable characters with no line break or tab.
func singleOK(s []byte) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if !printable(r) {
			return false
		}
		i += size
	}
	return true
}

// quoted writes a double-quoted scalar: JSON's short escapes, and \u for every rune YAML
// does not print or reads as a line break.
func (e *emitter) quoted(s []byte) {
	e.buf = append(e.buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				e.buf = append(e.buf, '\\', c)
			case c == '\n':
				e.buf = append(e.buf, '\\', 'n')
			case c == '\t':
				e.buf = append(e.buf, '\\', 't')
			case c == '\r':
				e.buf = append(e.buf, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				e.buf = append(e.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				e.buf = append(e.buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case printable(r):
			e.buf = append(e.buf, s[i:i+size]...)
		case r > 0xffff:
			// Not reached for valid UTF-8 (printable covers the supplementary planes).
			e.buf = append(e.buf, '\\', 'U')
			for shift := 28; shift >= 0; shift -= 4 {
				e.buf = append(e.buf, hexDigits[(r>>shift)&0xf])
			}
		default:
			e.buf = append(e.buf, '\\', 'u', hexDigits[(r>>12)&0xf], hexDigits[(r>>8)&0xf], hexDigits[(r>>4)&0xf], hexDigits[r&0xf])
		}
		i += size
	}
	e.buf = append(e.buf, '"')
}

// printable reports whether a non-ASCII rune may appear as itself in any YAML scalar: in
// YAML's printable set and not one of the characters YAML 1.1 reads as a line break (NEL,
// LS, PS) or a byte order mark.
func printable(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return false // invalid input is written as U+FFFD escaped, never as raw bytes
	case r >= 0xa0 && r <= 0xd7ff:
		return r != 0x2028 && r != 0x2029
	case r >= 0xe000 && r <= 0xfffd:
		return r != 0xfeff
	case r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

// plainOK reports whether s can be written as a plain scalar that every YAML 1.1 and 1.2
// parser reads back as this string. It is deliberately narrower than YAML allows: ASCII
// only, starting with a letter, digit, '/' or '_', no '#', tabs or leading/trailing
// space, a ':' only before a non-space, and nothing a resolver could take for a boolean,
// null, number or timestamp. (Brackets and braces are content in a block-context plain
// scalar, so CEL expressions stay readable.)
func plainOK(s []byte) bool {
	if len(s) == 0 || !plainStart(s[0]) || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return false
	}
	for i, c := range s {
		if c < 0x20 || c >= 0x7f {
			return false
		}
		switch c {
		case '#':
			return false
		case ':':
			if s[i+1] == ' ' { // s does not end with ':', so i+1 is in range
				return false
			}
		}
	}
	return !resolvesOtherwise(s)
}

// plainKeyOK is plainOK for keys, narrower still: names, paths and dotted or dashed
// identifiers.
func plainKeyOK(s []byte) bool {
	if len(s) == 0 || !plainStart(s[0]) {
		return false
	}
	for _, c := range s {
		if !isAlnum(c) && c != '.' && c != '-' && c != '_' && c != '/' {
			return false
		}
	}
	return !resolvesOtherwise(s)
}

func plainStart(c byte) bool { return isAlnum(c) || c == '/' || c == '_' }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// resolvesOtherwise reports whether a plain scalar that passed the character checks could
// be read as something other than a string: YAML 1.1's booleans and nulls (any case), and
// anything starting with a digit made only of what numbers, base-60 numbers and
// timestamps are made of (so 1.0.0 and 12:30 are quoted, 1Gi and 30s are not).
func resolvesOtherwise(s []byte) bool {
	if len(s) <= 5 {
		var low [5]byte
		for i, c := range s {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			low[i] = c
		}
		switch string(low[:len(s)]) {
		case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
			return true
		}
	}
	if s[0] < '0' || s[0] > '9' {
		return false
	}
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '+', c == '-', c == ' ':
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		case c == 'x', c == 'X', c == 'o', c == 'O', c == 't', c == 'T', c == 'z', c == 'Z':
		default:
			return false
		}
	}
	return true
}

// literalOK reports whether a string with line breaks can be a literal block that reads
// back exactly: printable, no tabs or carriage returns, no line ending in a space, a first
// non-empty line that does not start with one (it would be taken for indentation), and at
// most one final line break (chomping `|` or `|-`).
func literalOK(s []byte) bool {
	if bytes.IndexByte(s, '\n') < 0 {
		return false
	}
	if len(s) >= 2 && s[len(s)-1] == '\n' && s[len(s)-2] == '\n' {
		return false
	}
	firstContent := true
	lineStart := true
	prev := byte('\n')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			if prev == ' ' {
				return false
			}
			lineStart = true
		case c < 0x20 || c == 0x7f:
			return false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s[i:])
			if !printable(r) {
				return false
			}
			firstContent, lineStart = false, false
			prev = c
			i += size
			continue
		default:
			if lineStart && firstContent && c == ' ' {
				return false
			}
			firstContent, lineStart = false, false
		}
		prev = c
		i++
	}
	return prev != ' ' && !firstContent
}
