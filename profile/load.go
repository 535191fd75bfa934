package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// LoadOptions tune loading.
type LoadOptions struct {
	// KnownControls is the set of valid control ids; nil skips the check (profile knows no
	// catalogue of its own).
	KnownControls map[string]bool
	// Params describes the parameters of each control, by control id; nil skips the
	// parameter checks. A control absent from Params has no parameters.
	// Every parameter a profile sets is checked against its spec (type, enum, format,
	// bounds), and a name the spec does not list is refused.
	Params map[string][]ParamSpec
	// Now is the reference time for exception expiry; zero means time.Now().
	Now time.Time
}

// Load reads, defaults and validates the profile at path. Problems in the profile come back
// as an ErrorList naming file, line, column and field.
func Load(path string, opts LoadOptions) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading profile %s: %w", path, err)
	}
	defer f.Close()
	// Read one byte past the limit so an oversized file is refused without reading it all.
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("loading profile %s: %w", path, err)
	}
	return LoadBytes(path, data, opts)
}

// LoadBytes is Load for a profile already in memory; source names it in errors.
func LoadBytes(source string, data []byte, opts LoadOptions) (*Profile, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if err := precheck(source, data); err != nil {
		return nil, err
	}
	d := &decoder{file: source, pos: map[string]position{}}
	root, err := parse(source, data)
	if err != nil {
		return nil, err
	}
	// Structural problems do not stop the semantic checks: what decoded cleanly is still
	// checked, so one run reports every problem in the file.
	value, _ := d.decode(root, reflect.TypeOf(Profile{}), "", 0)
	if d.nodes > maxNodes {
		return nil, d.errs.sorted()
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("loading profile %s: %w", source, err)
	}
	p := &Profile{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, ErrorList{{File: source, Line: 1, Col: 1, Msg: err.Error()}}
	}
	p.Source = source
	p.Default()
	v := &validator{decoder: d, opts: opts}
	v.validate(p)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return p, nil
}

// precheck refuses input that is not a text profile before any parsing.
func precheck(source string, data []byte) error {
	fail := func(line, col int, msg string) error {
		return ErrorList{{File: source, Line: line, Col: col, Msg: msg}}
	}
	if len(data) > MaxBytes {
		return fail(0, 0, fmt.Sprintf("file is larger than %d bytes; a profile is a few KiB of YAML", MaxBytes))
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line, col := lineCol(data, i)
		return fail(line, col, "binary data (NUL byte): a profile is YAML text")
	}
	if !utf8.Valid(data) {
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				line, col := lineCol(data, i)
				return fail(line, col, "invalid UTF-8: a profile is YAML text")
			}
			i += size
		}
	}
	var errs ErrorList
	for i, line := range bytes.Split(data, []byte("\n")) {
		for j, c := range line {
			if c == '\t' {
				errs = append(errs, &FieldError{File: source, Line: i + 1, Col: j + 1, Msg: "tab character in indentation (YAML allows spaces only)"})
				break
			}
			if c != ' ' {
				break
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fail(1, 1, "empty file (expected a Profile document: apiVersion: "+APIVersion+", kind: "+Kind+")")
	}
	return nil
}

func lineCol(data []byte, off int) (int, int) {
	line := bytes.Count(data[:off], []byte("\n")) + 1
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// parse reads exactly one YAML document into a node tree; aliases are not expanded here,
// so an alias bomb costs nothing until the decoder refuses it.
func parse(source string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, yamlError(source, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, ErrorList{{File: source, Line: extra.Line, Col: extra.Column, Msg: "more than one YAML document (a profile file holds exactly one Profile)"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(source, data, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, ErrorList{{File: source, Line: 1, Col: 1, Msg: "empty document (expected a Profile)"}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, ErrorList{{File: source, Line: root.Line, Col: root.Column, Msg: "expected a Profile mapping (apiVersion, kind, metadata, spec), got " + kindOf(root)}}
	}
	return root, nil
}

func yamlError(source string, data []byte, err error) error {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	// For an unclosed flow collection the parser names the line where its context began,
	// which is often the line before; point at the line that opens the collection instead.
	if strings.Contains(msg, "did not find expected ','") {
		lines := strings.Split(string(data), "\n")
		for i := line - 1; i >= 0 && i < len(lines); i++ {
			if strings.Count(lines[i], "[") > strings.Count(lines[i], "]") || strings.Count(lines[i], "{") > strings.Count(lines[i], "}") {
				line = i + 1
				break
			}
		}
	}
	msg = yamlLineRE.ReplaceAllString(msg, "")
	msg = regexp.MustCompile(`^yaml:\s*:?\s*`).ReplaceAllString(msg, "")
	return ErrorList{{File: source, Line: line, Col: 1, Msg: "invalid YAML: " + msg}}
}
