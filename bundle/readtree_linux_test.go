package bundle

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadTreeAgrees: the system-call reader reads what the os package's reader reads, in
// the same order, and refuses the same trees with the same reason: links (to files and to
// directories), a FIFO, a file over the size limit, more files than the limit. Both read
// the index before the rest and hand it over.
func TestReadTreeAgrees(t *testing.T) {
	put := func(t *testing.T, dir, rel, data string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree := func(t *testing.T) string {
		dir := t.TempDir()
		put(t, dir, IndexFile, "index\n")
		put(t, dir, "b/z.yaml", "z\n")
		put(t, dir, "b/a/y.yaml", "y\n")
		put(t, dir, "a.yaml", "")
		put(t, dir, "b/a.yaml", "a\n")
		if err := os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cases := []struct {
		name string
		edit func(t *testing.T, dir string) string // returns the directory to read
		want string                                // "" reads the tree
	}{
		{"a tree", func(t *testing.T, dir string) string { return dir }, ""},
		{"a root that is a link to a tree", func(t *testing.T, dir string) string {
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(dir, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, ""},
		{"a link to a file", func(t *testing.T, dir string) string {
			must(t, os.Symlink("a.yaml", filepath.Join(dir, "b", "l.yaml")))
			return dir
		}, "b/l.yaml: only regular files"},
		{"a link to a directory", func(t *testing.T, dir string) string {
			must(t, os.Symlink("b", filepath.Join(dir, "c")))
			return dir
		}, "c: only regular files"},
		{"the index a link", func(t *testing.T, dir string) string {
			must(t, os.Remove(filepath.Join(dir, IndexFile)))
			must(t, os.Symlink("a.yaml", filepath.Join(dir, IndexFile)))
			return dir
		}, IndexFile + ": only regular files"},
		{"the index a FIFO", func(t *testing.T, dir string) string {
			must(t, os.Remove(filepath.Join(dir, IndexFile)))
			must(t, syscall.Mkfifo(filepath.Join(dir, IndexFile), 0o644))
			return dir
		}, IndexFile + ": only regular files"},
		{"a FIFO", func(t *testing.T, dir string) string {
			must(t, syscall.Mkfifo(filepath.Join(dir, "b", "a", "f"), 0o644))
			return dir
		}, "b/a/f: only regular files"},
		{"a file over the limit", func(t *testing.T, dir string) string {
			put(t, dir, "b/big.yaml", strings.Repeat("x", MaxFileBytes+1))
			return dir
		}, "b/big.yaml: 8388609 bytes is over the 8388608-byte limit"},
		{"more files than the limit", func(t *testing.T, dir string) string {
			// The tree has 5 files: the limit is lowered to 4 for this case.
			return dir
		}, "more than 4 files"},
		{"no such directory", func(t *testing.T, dir string) string { return filepath.Join(dir, "none") }, "no such file or directory"},
		{"a file for the root", func(t *testing.T, dir string) string { return filepath.Join(dir, "a.yaml") }, "not a directory"},
		{"two refusals: the first in path order", func(t *testing.T, dir string) string {
			must(t, os.Symlink("a.yaml", filepath.Join(dir, "b", "a", "l")))
			put(t, dir, "b/a.yaml", strings.Repeat("x", MaxFileBytes+1))
			return dir
		}, "b/a.yaml: 8388609 bytes is over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.want, "more than") {
				defer func(n int) { maxFiles = n }(maxFiles)
				maxFiles = 4
			}
			dir := tc.edit(t, tree(t))
			type result struct {
				rels  []string
				data  [][]byte
				index []byte
				err   error
			}
			read := func(open func(string) (treeFS, error)) result {
				var r result
				tr, err := open(dir)
				if err != nil {
					r.err = err
					return r
				}
				defer tr.close()
				// Buffers are reused: what is kept is copied.
				r.err = readTree(tr, func(b []byte) { r.index = b }, true, func(rel string, data []byte, sum [32]byte) error {
					if sum != sha256.Sum256(data) {
						t.Errorf("%s: the digest handed over is not its bytes'", rel)
					}
					r.rels, r.data = append(r.rels, rel), append(r.data, bytes.Clone(data))
					return nil
				})
				if r.err != nil {
					r.rels, r.data = nil, nil
				}
				return r
			}
			fast, portable := read(openTree), read(openTreePortable)
			if tc.want == "" {
				if fast.err != nil || portable.err != nil {
					t.Fatalf("errors: %v; portable: %v", fast.err, portable.err)
				}
				// Path order: sorted full paths, so b/a.yaml before b/a/y.yaml.
				want := []string{"a.yaml", "b/a.yaml", "b/a/y.yaml", "b/z.yaml", IndexFile}
				if !reflect.DeepEqual(fast.rels, want) || !reflect.DeepEqual(portable.rels, want) {
					t.Fatalf("files %q; portable %q; want %q", fast.rels, portable.rels, want)
				}
				if !reflect.DeepEqual(fast.data, portable.data) || string(fast.index) != "index\n" || string(portable.index) != "index\n" {
					t.Fatalf("contents %q (index %q); portable %q (index %q)", fast.data, fast.index, portable.data, portable.index)
				}
				return
			}
			for name, r := range map[string]result{"linux": fast, "portable": portable} {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
					t.Errorf("%s: %v, want an error saying %q", name, r.err, tc.want)
				}
			}
		})
	}
}

// TestStatTypeAndReadAt: on a file system whose directory entries carry no type, the walk
// asks for it, without following a link; and a file swapped for a link or a FIFO after the
// walk listed it is refused when it is opened (a FIFO without waiting for a writer).
func TestStatTypeAndReadAt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("d", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	for name, want := range map[string]uint8{"f": unix.DT_REG, "d": unix.DT_DIR, "l": unix.DT_UNKNOWN} {
		if got, err := statType(root, name); err != nil || got != want {
			t.Errorf("statType(%s) = %d, %v; want %d", name, got, err, want)
		}
	}
	must(t, os.Symlink("f", filepath.Join(dir, "lf")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "p"), 0o644))
	for _, name := range []string{"lf", "p", "d"} {
		if _, err := readAt(root, name, nil); err == nil || !strings.Contains(err.Error(), name+": only regular files") {
			t.Errorf("readAt(%s): %v, want it refused as not a regular file", name, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
