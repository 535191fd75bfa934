package bundle

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/canonyaml"
)

// sampleIndex is a canonical index as Assemble writes it, with objects in and out of a
// namespace and controls shared between them.
func sampleIndex(t testing.TB) []byte {
	t.Helper()
	h := Header{Profile: "p", Version: "1.0.0", Framework: "soc2", Catalogue: "1.1.1",
		Controls: []IndexControl{{ID: "NET-01", Title: "t", TSC: []string{"CC6.6"}}, {ID: "POD-03", Title: "u", TSC: []string{"CC6.8", "CC7.2"}}}}
	var objs []Object
	for _, ns := range []string{"", "a", "b"} {
		objs = append(objs, Object{Path: ObjectPath("network", "NetworkPolicy", ns, "x"), Data: []byte("kind: NetworkPolicy\n"),
			APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: ns, Name: "x",
			Controls: []string{"NET-01", "POD-03"}, TSC: []string{"CC6.6", "CC6.8", "CC7.2"}})
	}
	b, err := Assemble(h, objs)
	if err != nil {
		t.Fatal(err)
	}
	return b.Files[IndexFile]
}

// slowIndex is what decodeIndex must agree with: the YAML parser's strict reading.
func slowIndex(raw []byte) (Index, error) {
	var idx Index
	err := yaml.UnmarshalStrict(raw, &idx)
	return idx, err
}

// TestDecodeIndexAgrees: the typed reading of an index's objects gives what the YAML
// parser gives, for the canonical index and for every edit below, which each either
// leaves the reading alone or must send the index to the parser (an unknown or differently
// cased field, a value of another type, a null); the last cases are shown to reach the
// typed reading at all.
func TestDecodeIndexAgrees(t *testing.T) {
	raw := string(sampleIndex(t))
	cases := []struct {
		name, old, new string
		fast           bool // read without the parser
		lines          bool // the objects read line by line, without a tree
	}{
		{"canonical", "", "", true, true},
		{"empty controls", "    controls:\n    - NET-01\n    - POD-03\n", "    controls: []\n", true, true},
		{"no tsc", "    tsc:\n    - CC6.6\n    - CC6.8\n    - CC7.2\n", "", true, true},
		{"a quoted name", "    name: x\n", "    name: 'x: y'\n", true, true},
		{"a double-quoted name", "    name: x\n", "    name: \"x\\ty\"\n", true, false},
		{"a name quoted needlessly", "    name: x\n", "    name: 'x'\n", false, false},
		{"keys out of order", "    kind: NetworkPolicy\n    name: x\n", "    name: x\n    kind: NetworkPolicy\n", false, false},
		{"objects twice", "  objects:\n", "  objects:\n  - name: y\n  objects:\n", false, false},
		{"the objects opened inside a literal block", "kind: BundleIndex\n", "kind: |\n  objects:\n  - name: a\n", true, false},
		{"an unknown object field", "    file: network/a/", "    extra: x\n    file: network/a/", false, false},
		{"a field named in another case", "    file: network/a/", "    File: network/a/", false, false},
		{"a second spec in another case", "spec:\n", "Spec:\n  version: '9.9.9'\nspec:\n", false, false},
		{"objects in another case", "  objects:\n", "  Objects: []\n  objects:\n", false, false},
		{"a null namespace", "    namespace: a\n", "    namespace: null\n", true, false},
		{"a number for a name", "    name: x\n", "    name: 12\n", false, false},
		{"controls not a list", "    controls:\n    - NET-01\n    - POD-03\n", "    controls: NET-01\n", false, false},
		{"a control not a string", "    - NET-01\n", "    - 7\n", false, false},
		{"objects not a list", "", "", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := raw
			if tc.old != "" {
				if !strings.Contains(doc, tc.old) {
					t.Fatalf("the sample has no %q:\n%s", tc.old, doc)
				}
				doc = strings.Replace(doc, tc.old, tc.new, 1)
			}
			if tc.name == "objects not a list" {
				doc = doc[:strings.Index(doc, "  objects:\n")] + "  objects: {}\n"
			}
			if _, fast := fastIndex([]byte(doc)); fast != tc.fast {
				t.Errorf("read without the parser: %v, want %v", fast, tc.fast)
			}
			if _, lines := lineIndex([]byte(doc)); lines != tc.lines {
				t.Errorf("objects read line by line: %v, want %v", lines, tc.lines)
			}
			got, gotErr := decodeIndex([]byte(doc))
			want, wantErr := slowIndex([]byte(doc))
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("decodeIndex error %v, the parser's %v", gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeIndex read\n%+v\nthe parser\n%+v", got.Spec.Objects, want.Spec.Objects)
			}
		})
	}
}

// FuzzDecodeIndex: whatever an index says, decodeIndex reads what the YAML parser reads and
// fails when it fails.
func FuzzDecodeIndex(f *testing.F) {
	raw := sampleIndex(f)
	f.Add(raw)
	f.Add([]byte(strings.Replace(string(raw), "    name: x\n", "    name: 'x y'\n", 1)))
	f.Add([]byte(strings.Replace(string(raw), "    name: x\n", "    Name: x\n", 1)))
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, gotErr := decodeIndex(doc)
		want, wantErr := slowIndex(doc)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("decodeIndex error %v, the parser's %v", gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeIndex read\n%+v\nthe parser\n%+v", got, want)
		}
	})
}

// TestMarshalIndexIsMarshal: the index written with its objects line by line is, byte for
// byte, canonyaml.Marshal's, for names of every form the writer has (plain, quoted,
// double-quoted, a block), lists empty and nil, an object in no namespace, and no objects;
// and it reads back line by line when every line can say its object.
func TestMarshalIndexIsMarshal(t *testing.T) {
	obj := func(name, ns string, controls []string) IndexObject {
		return IndexObject{File: "network/" + ns + "/x.yaml", APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: ns, Name: name,
			Controls: controls, TSC: []string{"CC6.6"}, SHA256: "0123abcd"}
	}
	cases := []struct {
		name    string
		objects []IndexObject
		lines   bool
	}{
		{"plain", []IndexObject{obj("x", "a", []string{"NET-01"}), obj("y", "b", []string{"NET-01", "POD-03"})}, true},
		{"quoted", []IndexObject{obj("x: y", "a", []string{"1.0"}), obj("it's", "", []string{}), obj("yes", "null", []string{"#"})}, true},
		{"double-quoted", []IndexObject{obj("x", "a", nil), obj("a\tb", "a", []string{"NET-01"})}, false},
		{"a block", []IndexObject{obj("a\nb", "a", []string{"NET-01"})}, false},
		{"a nil list", []IndexObject{obj("x", "a", nil)}, false},
		{"not UTF-8", []IndexObject{obj("\xff", "a", []string{"NET-01"})}, false},
		{"no objects", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idx := Index{APIVersion: IndexAPIVersion, Kind: IndexKind, Metadata: IndexMeta{Name: "p"},
				Spec: IndexSpec{Profile: "p", Version: "1.0.0", Controls: []IndexControl{{ID: "NET-01"}}, Objects: tc.objects}}
			got := marshalIndexIsMarshal(t, idx)
			if _, lines := appendObjects(nil, tc.objects); len(tc.objects) > 0 && lines != tc.lines {
				t.Errorf("written line by line: %v, want %v", lines, tc.lines)
			}
			if _, lines := lineIndex(got); lines != tc.lines {
				t.Errorf("read back line by line: %v, want %v", lines, tc.lines)
			}
		})
	}
}

// FuzzMarshalIndex: whatever an object's strings, the index written line by line is
// canonyaml.Marshal's.
func FuzzMarshalIndex(f *testing.F) {
	f.Add("x", "a", "NET-01")
	f.Add("x: y", "", "'")
	f.Add("1.0", "a\tb", "")
	f.Fuzz(func(t *testing.T, name, ns, control string) {
		idx := Index{APIVersion: IndexAPIVersion, Kind: IndexKind, Spec: IndexSpec{Objects: []IndexObject{
			{File: "a.yaml", Name: name, Namespace: ns, Controls: []string{control}, TSC: []string{}},
			{File: "b.yaml", Name: ns, Namespace: name, Controls: []string{}, TSC: []string{control, name}},
		}}}
		marshalIndexIsMarshal(t, idx)
	})
}

// marshalIndexIsMarshal returns marshalIndex's writing of idx, failing t unless it is
// canonyaml.Marshal's byte for byte.
func marshalIndexIsMarshal(t *testing.T, idx Index) []byte {
	t.Helper()
	got, err := marshalIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := canonyaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("marshalIndex wrote\n%s\ncanonyaml.Marshal\n%s", got, want)
	}
	return got
}
