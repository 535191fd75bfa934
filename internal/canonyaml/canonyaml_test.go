package canonyaml_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/canonyaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// sample is a document with every shape the writer has a rule for.
const sample = `{
 "apiVersion": "policies.kyverno.io/v1",
 "kind": "ValidatingPolicy",
 "metadata": {"name": "p", "labels": {"bulwark.dev/version": "1.0.0", "app.kubernetes.io/managed-by": "bulwark"},
   "annotations": {"bulwark.dev/controls": "POD-03,POD-15", "note": "a: b # c", "empty": "", "yes": "yes", "star": "*"}},
 "spec": {
  "validations": [{"expression": "object.spec.containers.all(c,\n  !has(c.securityContext))", "message": "no privileged containers (CC6.1)"},
                  {"expression": "true\n", "messageExpression": "'image ' + object.image"}],
  "matchConstraints": {"resourceRules": [{"apiGroups": [""], "resources": ["pods"], "operations": ["CREATE", "UPDATE"]}]},
  "nested": [[1, 2], [], {}, [{"a": null}]],
  "numbers": {"port": 53, "negative": -1, "big": 9007199254740993, "float": 1.5},
  "bools": [true, false],
  "tricky": ["1.0.0", "0x1F", "12:30", "2024-01-01", "1Gi", "30s", "null", "~", "-x", " lead", "trail ", "tab\there", "é", "line\u2028sep", "\u0085", "a\r\nb", "ends\n\n", "  indented\nfirst", "\nleading", "k8s.io/x:y", "http://x:80/y"],
  "weird keys": {"": 1, "1": 2, "true": 3, "a b": 4, "a:b": 5, "<<": 6, "-": 7}
 }
}`

func TestGolden(t *testing.T) {
	got, err := canonyaml.FromJSON([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "sample.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("FromJSON changed (go test -update if the format change is meant, and re-pin the bundle digests):\n%s", got)
	}
	checkRoundTrip(t, []byte(sample))
}

// checkRoundTrip holds the writer to its promise: yaml.v2 (through sigs.k8s.io/yaml, as
// Kyverno, Flux and kubectl read) and yaml.v3 (as kustomize's kyaml reads) both read back
// exactly the JSON value written, and ToJSON reads it back too.
func checkRoundTrip(t *testing.T, js []byte) {
	t.Helper()
	y, err := canonyaml.FromJSON(js)
	if errors.Is(err, canonyaml.ErrLongKey) {
		return
	}
	if err != nil {
		t.Fatalf("FromJSON(%s): %v", js, err)
	}
	want := decode(t, js)
	v2, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("yaml.v2 cannot read\n%s: %v", y, err)
	}
	if got := decode(t, v2); !reflect.DeepEqual(got, want) {
		t.Fatalf("yaml.v2 reads\n%s\nas %s, want %s", y, v2, js)
	}
	var v3 any
	if err := yaml3.Unmarshal(y, &v3); err != nil {
		t.Fatalf("yaml.v3 cannot read\n%s: %v", y, err)
	}
	if got := normalise(v3); !reflect.DeepEqual(got, want) {
		t.Fatalf("yaml.v3 reads\n%s\nas %#v, want %s", y, got, js)
	}
	back, ok := canonyaml.ToJSON(y)
	if !ok {
		if hasInexactNumber(want) {
			return // left to a YAML parser by design
		}
		t.Fatalf("ToJSON refuses the writer's own\n%s", y)
	}
	if got := decode(t, back); !reflect.DeepEqual(got, want) {
		t.Fatalf("ToJSON reads\n%s\nas %s, want %s", y, back, js)
	}
}

func decode(t *testing.T, js []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// normalise turns yaml.v3's values into encoding/json's.
func normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalise(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalise(e)
		}
		return x
	case int:
		return float64(x)
	case uint64:
		return float64(x)
	case nil:
		return nil
	}
	return v
}

func hasInexactNumber(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if hasInexactNumber(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasInexactNumber(e) {
				return true
			}
		}
	case float64:
		return x != float64(int64(x)) || x > 1e17 || x < -1e17 || (x == 0 && fmt.Sprint(x) != "0")
	}
	return false
}

func TestRoundTripStrings(t *testing.T) {
	for _, s := range stringCorpus {
		js, _ := json.Marshal(map[string]any{"k": s, "list": []any{s, map[string]any{s: s}}, s: []any{s}})
		checkRoundTrip(t, js)
	}
}

// stringCorpus holds the strings each rule of the writer turns on.
var stringCorpus = []string{
	"", " ", "a", "A", "_a", "/a", "a b", "a  b", "a: b", "a:b", "a:", "a #b", "a#b", "#a", "-", "-a", "- a", "--- a", "---", "...",
	"?", "? a", ":a", ",a", "a,b", "[a]", "{a}", "a]", "'a'", "a'b", "\"a\"", "a\"b", "a\\b", "\\", "!a", "a!", "&a", "*a", "*", "|", "|a", ">", ">a",
	"%a", "@a", "`a", "=", "<<", "~", "y", "Y", "n", "N", "yes", "No", "ON", "off", "True", "FALSE", "null", "Null", "NULL", "nul",
	"0", "00", "1", "-1", "+1", "1.0", ".5", "1.", "1e3", "1E3", "1e+3", "0x1F", "0o17", "0b101", "017", "1_000", "1:30", "190:20:30",
	"2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", ".inf", ".NaN", "-.inf", "inf", "nan",
	"1Gi", "30s", "1.0.0", "1.2.3-rc.1", "v1.0.0", "sha256:abc", "http://a:80/b", "a b ", " a", "\ta", "a\tb", "a\n", "a\nb", "a\nb\n",
	"a\n\nb", "a\n\n", "\n", "\n\n", "\na", " a\nb", "a\n b", "a \nb", "a\n \nb", "a\r\nb", "a\rb", "\x00", "\x1f", "\x7f", "é", "aé", "é\nb",
	"\u0085", "a\u0085b", "\u00a0", "\u2028", "\u2029", "\ufeff", "\ufffd", "\U0001F600", "a\n\tb", "a\n#b", "a\n- b", "a\n---\nb", "a\n...\nb",
	"a\n  b:\n c", "object.spec.containers.all(c, !has(c.securityContext) ||\n  c.securityContext.privileged == false)",
}

// FuzzRoundTrip writes every string the fuzzer finds, as a value, a key and a list item.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range stringCorpus {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		js, _ := json.Marshal(map[string]any{"k": s, "list": []any{s, map[string]any{s: []any{s}}}, s: s})
		checkRoundTrip(t, js)
	})
}

// FuzzToJSON holds the reader to reading exactly what yaml.v2 reads, whatever it is given.
func FuzzToJSON(f *testing.F) {
	f.Add([]byte(sample))
	y, _ := canonyaml.FromJSON([]byte(sample))
	f.Add(y)
	f.Add([]byte("a: 1\nb:\n- x\n- y: 2\n  z: |-\n    l1\n    l2\n"))
	f.Add([]byte("b: 1\na: 2\n"))
	f.Add([]byte("a: 1\na: 2\n"))
	f.Fuzz(func(t *testing.T, y []byte) {
		got, ok := canonyaml.ToJSON(y)
		if !ok {
			return
		}
		want, err := yaml.YAMLToJSON(y)
		if err != nil {
			t.Fatalf("ToJSON reads %q, which yaml.v2 refuses: %v", y, err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("ToJSON wrote invalid JSON %s: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("ToJSON reads %q as %s; yaml.v2 as %s", y, got, want)
		}
	})
}

func TestToJSONRefuses(t *testing.T) {
	for _, y := range []string{
		"", "a: 1", "b: 1\na: 2\n", "a: 1\na: 2\n", "a:  1\n", "a: 1.5\n", "a: 1e3\n", "a: -0\n", "a: 0123\n", "a: 1.0.0\n",
		"a: True\n", "a: 'x'\n", "a: x # c\n", "a:\n  - x\n", "a: |+\n  x\n", "a: >\n  x\n", "- x\n-y\n", "a: \"\\x41\"\n",
		"a: !!str 1\n", "a: &x 1\nb: *x\n", "---\na: 1\n", "a: 1\n\n", "a:\n\n  b: 1\n", "a: {b: 1}\n", "a: [1]\n",
	} {
		if js, ok := canonyaml.ToJSON([]byte(y)); ok {
			t.Errorf("ToJSON(%q) = %s, want it left to a YAML parser", y, js)
		}
	}
}

func TestFromJSONErrors(t *testing.T) {
	for _, js := range []string{"", "{", `{"a":1,"a":2}`, `{"a" 1}`, "[1,]", `"\x"`, "01", "1.", "-", "tru", `{"a":1}x`, strings.Repeat("[", 2000) + strings.Repeat("]", 2000)} {
		if y, err := canonyaml.FromJSON([]byte(js)); err == nil {
			t.Errorf("FromJSON(%q) = %q, want an error", js, y)
		}
	}
}

func TestOmit(t *testing.T) {
	js := `{"metadata":{"creationTimestamp":null,"name":"x"},"spec":{"a":1},"status":{"b":2}}`
	got, err := canonyaml.FromJSON([]byte(js), canonyaml.Omit{Path: []string{"status"}}, canonyaml.Omit{Path: []string{"metadata", "creationTimestamp"}, IfNull: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "metadata:\n  name: x\nspec:\n  a: 1\n"; string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got, _ = canonyaml.FromJSON([]byte(`{"metadata":{"creationTimestamp":"2024-01-01T00:00:00Z"}}`), canonyaml.Omit{Path: []string{"metadata", "creationTimestamp"}, IfNull: true})
	if want := "metadata:\n  creationTimestamp: '2024-01-01T00:00:00Z'\n"; string(got) != want {
		t.Errorf("a non-null member was omitted: %s", got)
	}
}

func BenchmarkFromJSON(b *testing.B) {
	js := []byte(sample)
	b.ReportAllocs()
	b.SetBytes(int64(len(js)))
	for i := 0; i < b.N; i++ {
		if _, err := canonyaml.FromJSON(js); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToJSON(b *testing.B) {
	// Without the float, which ToJSON leaves to a YAML parser by design.
	y, _ := canonyaml.FromJSON([]byte(strings.Replace(sample, `, "float": 1.5`, "", 1)))
	b.ReportAllocs()
	b.SetBytes(int64(len(y)))
	for i := 0; i < b.N; i++ {
		if _, ok := canonyaml.ToJSON(y); !ok {
			b.Fatal("refused")
		}
	}
}

// FuzzReadString: a scalar ReadString accepts is exactly what the writer writes for the
// string it returns, so that a caller reading lines with it reads what Read would.
func FuzzReadString(f *testing.F) {
	for _, s := range []string{"x", "'x: y'", "'1.0.0'", "''", "'it''s'", "'x'", "\"x\"", "'a'b'", "null", "12", "-x", "x #y"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		s, ok := canonyaml.ReadString(v)
		if !ok {
			return
		}
		if y := writtenValue(t, string(s)); y != "k: "+string(v)+"\n" {
			t.Fatalf("ReadString(%q) = %q, which the writer writes as %q", v, s, y)
		}
	})
}

// FuzzAppendString: what AppendString writes for a string is what the writer writes for
// it, and ReadString reads it back.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"x", "x: y", "1.0.0", "", "it's", "a\tb", "a\nb", "null", "é", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := canonyaml.AppendString(nil, s)
		if !ok {
			return
		}
		if y := writtenValue(t, s); y != "k: "+string(v)+"\n" {
			t.Fatalf("AppendString(%q) = %q, the writer writes %q", s, v, y)
		}
		if back, ok := canonyaml.ReadString(v); !ok || string(back) != s {
			t.Fatalf("ReadString(%q) = %q, %v; want %q", v, back, ok, s)
		}
	})
}

// writtenValue is the document the writer writes for {"k": s}.
func writtenValue(t *testing.T, s string) string {
	t.Helper()
	js, err := json.Marshal(map[string]string{"k": s})
	if err != nil {
		t.Fatal(err)
	}
	y, err := canonyaml.FromJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	return string(y)
}
