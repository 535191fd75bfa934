package bundle

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestStreamDir: ReadDir reads back the bundle written; StreamDir hands it over file by
// file in the order of Paths (the tar stream's), every byte as written (while buffers are
// reused), with its index; an error from the handler ends the reading with that error.
func TestStreamDir(t *testing.T) {
	var objs []Object
	for _, ns := range []string{"a", "a-b", "b"} {
		for _, name := range []string{"x", "y"} {
			objs = append(objs, Object{Path: ObjectPath("network", "NetworkPolicy", ns, name), Data: []byte("kind: NetworkPolicy\nname: " + name + "\n"),
				APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: ns, Name: name})
		}
	}
	objs = append(objs, Object{Path: "network/a.yaml", Data: []byte("kind: NetworkPolicy\n"), APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Name: "a"})
	b, err := Assemble(Header{Profile: "p", Version: "1.0.0"}, objs)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tree")
	if err := b.WriteDir(dir, false); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Files, b.Files) || !reflect.DeepEqual(got.Index, b.Index) {
		t.Error("the bundle read is not the one written")
	}
	// What ReadDir keeps is the files' size, not the whole pages a reused buffer has.
	for p, data := range got.Files {
		if cap(data) > len(data)+1 {
			t.Errorf("%s: %d bytes kept in a buffer of %d", p, len(data), cap(data))
			break
		}
	}
	var handed []string
	idx, err := StreamDir(dir, func(p string, data []byte) error {
		if !bytes.Equal(data, b.Files[p]) {
			t.Errorf("%s handed over as %q, written as %q", p, data, b.Files[p])
		}
		handed = append(handed, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(handed, b.Paths()) {
		t.Errorf("handed over in the order\n%q\nwant Paths'\n%q", handed, b.Paths())
	}
	if !reflect.DeepEqual(idx, b.Index) {
		t.Error("the index streamed is not the one written")
	}
	stop := errors.New("handler refused")
	n := 0
	_, err = StreamDir(dir, func(string, []byte) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), "reading bundle") {
		t.Errorf("a handler's error: %v, want it returned", err)
	}
}
