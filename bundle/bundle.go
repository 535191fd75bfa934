package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/atomicfile"
	"bulwark.dev/bulwark/internal/canonyaml"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/parallel"
)

// Limits that keep a hostile bundle (from a directory or a registry) from exhausting memory.
const (
	MaxFiles     = 10000
	MaxFileBytes = 8 << 20
	MaxTreeBytes = 256 << 20
)

// Bundle is a built bundle tree: the index and every file by slash-separated relative path.
// Files includes the index (bulwark.yaml) and kustomization.yaml.
type Bundle struct {
	Index Index
	Files map[string][]byte
}

// Paths returns the file paths in lexical order, the order they are written and packed in.
func (b *Bundle) Paths() []string {
	paths := make([]string, 0, len(b.Files))
	for p := range b.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// ManifestPaths returns the paths of the objects GitOps tools apply, in lexical order.
func (b *Bundle) ManifestPaths() []string {
	var out []string
	for _, p := range b.Paths() {
		if p != IndexFile && p != KustomizeFile {
			out = append(out, p)
		}
	}
	return out
}

// Stream writes every manifest as one multi-document YAML stream, for `kubectl apply -f -`.
func (b *Bundle) Stream(w io.Writer) error {
	for i, p := range b.ManifestPaths() {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "# Source: %s\n", p); err != nil {
			return err
		}
		if _, err := w.Write(b.Files[p]); err != nil {
			return err
		}
	}
	return nil
}

// ErrNotBundle is returned when a directory exists but holds no bundle index.
var ErrNotBundle = errors.New("not a bulwark bundle (no " + IndexFile + ")")

// WriteDir writes the bundle tree to dir atomically: a complete new tree replaces the old
// one, or nothing changes. A non-empty dst that is not a bundle is refused unless force.
func (b *Bundle) WriteDir(dir string, force bool) error {
	if !force {
		if err := checkReplaceable(dir); err != nil {
			return err
		}
	}
	return atomicfile.ReplaceDir(dir, func(tmp string) error {
		paths := b.Paths()
		made := map[string]bool{}
		for _, p := range paths {
			if d := filepath.Dir(filepath.Join(tmp, filepath.FromSlash(p))); !made[d] {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
				made[d] = true
			}
		}
		return parallel.Do(ioWorkers, len(paths), func(i int) error {
			return os.WriteFile(filepath.Join(tmp, filepath.FromSlash(paths[i])), b.Files[paths[i]], 0o644)
		})
	})
}

// ioWorkers is how many files are read or written at once: a tree of thousands of small
// files costs system calls more than bytes, and they overlap even on one core.
const ioWorkers = 8

func checkReplaceable(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return exitcode.AsBadInput(fmt.Errorf("output %s: %w", dir, err))
	}
	if _, err := os.Stat(filepath.Join(dir, IndexFile)); err != nil {
		return exitcode.AsBadInput(fmt.Errorf("output %s exists and is %w; pass --force to replace it", dir, ErrNotBundle))
	}
	return nil
}

// ReadDir loads a bundle tree from dir and checks it against its index.
func ReadDir(dir string) (*Bundle, error) {
	files := map[string][]byte{}
	idx, err := readDir(dir, false, func(p string, data []byte, _ [32]byte) error {
		files[p] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Bundle{Index: idx, Files: files}, nil
}

// StreamDir reads the bundle tree in dir and checks it against its index as ReadDir does,
// without keeping it: each is given every file in path order (the order of Paths), as
// soon as it and every file before it are read, so that a caller packing the tree does so
// while it is read. data is valid only until each returns. The index is checked once every
// file is in: what each was given is a bundle only if StreamDir returns no error.
func StreamDir(dir string, each func(path string, data []byte) error) (Index, error) {
	return readDir(dir, true, func(p string, data []byte, _ [32]byte) error { return each(p, data) })
}

// readDir reads a tree (readTree), records every file's digest and the kustomization, and
// checks them against the index, decoded in the background meanwhile.
func readDir(dir string, reuse bool, each func(path string, data []byte, sum [32]byte) error) (Index, error) {
	fail := func(err error) (Index, error) {
		return Index{}, exitcode.AsBadInput(fmt.Errorf("reading bundle %s: %w", dir, err))
	}
	t, err := openTree(dir)
	if err != nil {
		return fail(err)
	}
	defer t.close()
	var pending *PendingIndex
	var sums treeSums
	err = readTree(t, func(raw []byte) { pending = DecodeIndexAsync(raw) }, reuse, func(p string, data []byte, sum [32]byte) error {
		sums.add(p, data, sum)
		return each(p, data, sum)
	})
	if err != nil {
		return fail(err)
	}
	if !sums.hasIndex {
		return Index{}, exitcode.AsBadInput(fmt.Errorf("reading bundle %s: %w", dir, ErrNotBundle))
	}
	idx, err := pending.result(sums.index)
	if err := sums.check(idx, err); err != nil {
		return fail(err)
	}
	return idx, nil
}

// FromFiles builds a bundle from raw files (e.g. an unpacked layer) and checks its index.
func FromFiles(files map[string][]byte) (*Bundle, error) {
	return FromFilesIndex(files, nil)
}

// PendingIndex is a bundle index being decoded in the background. A fleet-size bundle's
// index takes about as long to decode as its other files take to read or unpack, and it is
// the first file of a bundle's tar stream and its directory, so the two can overlap.
type PendingIndex struct {
	raw  []byte
	done chan struct{}
	idx  Index
	err  error
}

// DecodeIndexAsync starts decoding raw, the bytes of a bundle's index file.
func DecodeIndexAsync(raw []byte) *PendingIndex {
	p := &PendingIndex{raw: raw, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.idx, p.err = decodeIndex(raw)
	}()
	return p
}

// result is the decoding of raw: the background one when it decoded those bytes (p may be
// nil), else one done here.
func (p *PendingIndex) result(raw []byte) (Index, error) {
	if p == nil {
		return decodeIndex(raw)
	}
	<-p.done
	if !bytes.Equal(p.raw, raw) {
		return decodeIndex(raw)
	}
	return p.idx, p.err
}

// FromFilesIndex is FromFiles with the index already decoding. A pending index of other
// bytes than files' index file, or none, is decoded here instead.
func FromFilesIndex(files map[string][]byte, pending *PendingIndex) (*Bundle, error) {
	raw, ok := files[IndexFile]
	if !ok {
		return nil, exitcode.AsBadInput(ErrNotBundle)
	}
	idx, err := pending.result(raw)
	b := &Bundle{Files: files}
	var sums treeSums
	for _, p := range b.Paths() {
		sums.add(p, files[p], sha256.Sum256(files[p]))
	}
	if err := sums.check(idx, err); err != nil {
		return nil, exitcode.AsBadInput(err)
	}
	b.Index = idx
	return b, nil
}

// treeSums is what checking a tree against its index needs of it: every file's path, in
// path order, and digest, and the bytes of the index and the kustomization.
type treeSums struct {
	paths                []string
	sums                 map[string][32]byte
	index, kustomization []byte
	hasIndex, hasKust    bool
}

// add records a file, and the index's and the kustomization's bytes (whose buffers a
// streamed tree does not reuse).
func (t *treeSums) add(p string, data []byte, sum [32]byte) {
	if t.sums == nil {
		t.sums = map[string][32]byte{}
	}
	t.paths = append(t.paths, p)
	t.sums[p] = sum
	switch p {
	case IndexFile:
		t.index, t.hasIndex = data, true
	case KustomizeFile:
		t.kustomization, t.hasKust = data, true
	}
}

// check checks the decoded index (err is the decoding's, reported first): every file it
// lists is present with the recorded digest, no unlisted manifest was slipped in, and
// kustomization.yaml is exactly the one the index implies.
func (t *treeSums) check(idx Index, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", IndexFile, err)
	}
	if idx.APIVersion != IndexAPIVersion || idx.Kind != IndexKind {
		return fmt.Errorf("%s: apiVersion/kind is %s/%s, want %s/%s", IndexFile, idx.APIVersion, idx.Kind, IndexAPIVersion, IndexKind)
	}
	if err := checkClaims(idx.Spec); err != nil {
		return err
	}
	listed := make(map[string]bool, len(idx.Spec.Objects)+2)
	listed[IndexFile], listed[KustomizeFile] = true, true
	for _, o := range idx.Spec.Objects {
		sum, ok := t.sums[o.File]
		if !ok {
			return fmt.Errorf("%s lists %s, which is missing", IndexFile, o.File)
		}
		if got := hex.EncodeToString(sum[:]); got != o.SHA256 {
			return fmt.Errorf("%s: sha256 %s does not match the index (%s)", o.File, got, o.SHA256)
		}
		listed[o.File] = true
	}
	var manifests []string
	for _, p := range t.paths {
		if !listed[p] {
			return fmt.Errorf("%s is not listed in %s", p, IndexFile)
		}
		if p != IndexFile && p != KustomizeFile {
			manifests = append(manifests, p)
		}
	}
	want, err := Kustomization(manifests)
	if err != nil {
		return err
	}
	switch {
	case !t.hasKust:
		return fmt.Errorf("%s is missing: it is part of a bundle", KustomizeFile)
	case !bytes.Equal(t.kustomization, want):
		return fmt.Errorf("%s says more than the index: a bundle's kustomization lists its objects and nothing else (no patches, resources or generators of its own)", KustomizeFile)
	}
	return nil
}

// decodeIndex reads bulwark.yaml strictly. An index in the canonical form Assemble writes
// is read without a YAML parser (canonyaml answers only when its reading is the parser's):
// its objects, nearly all of a fleet-size index, line by line, and the rest through
// strict JSON decoding. Any other index, or one either way refuses, goes through
// sigs.k8s.io/yaml, so that its errors are the ones users see.
func decodeIndex(raw []byte) (Index, error) {
	if idx, ok := fastIndex(raw); ok {
		return idx, nil
	}
	var idx Index
	err := yaml.UnmarshalStrict(raw, &idx)
	return idx, err
}

// fastIndex is decodeIndex without a YAML parser, and false where it needs one: the
// objects line by line (lineIndex), or else the whole index through canonyaml's JSON, and
// either way strict JSON decoding.
func fastIndex(raw []byte) (Index, bool) {
	if idx, ok := lineIndex(raw); ok {
		return idx, true
	}
	js, ok := canonyaml.ToJSON(raw)
	if !ok {
		return Index{}, false
	}
	var idx Index
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if dec.Decode(&idx) != nil || dec.More() {
		return Index{}, false
	}
	return idx, true
}

// lineIndex is fastIndex with the objects read line by line.
func lineIndex(raw []byte) (Index, bool) {
	rest, objects, ok := splitObjects(raw)
	if !ok {
		return Index{}, false
	}
	var idx Index
	var fast bool
	canonyaml.Read(rest, func(root canonyaml.Value) {
		if v, ok := root.Get("spec", "objects"); !ok || !v.IsArray() || v.Len() != 0 {
			return
		}
		idx, fast = restIndex(root)
	})
	if !fast {
		return Index{}, false
	}
	idx.Spec.Objects = objects
	return idx, true
}

// restIndex decodes an index but for its objects, strictly, through JSON; false when the
// objects are not spec.objects alone (encoding/json matches keys to fields regardless of
// case) or the decoding refuses the rest.
func restIndex(root canonyaml.Value) (Index, bool) {
	spec, _ := root.Get("spec")
	if !onlyKey(root, "spec") || !onlyKey(spec, "objects") {
		return Index{}, false
	}
	js := root.Without("spec", "objects").AppendJSON(nil)
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var idx Index
	if dec.Decode(&idx) != nil || dec.More() {
		return Index{}, false
	}
	return idx, true
}

// onlyKey reports whether key is the only one of o's keys that encoding/json, which matches
// keys to fields regardless of case, would decode into key's field.
func onlyKey(o canonyaml.Value, key string) bool {
	for i := range o.Len() {
		if k, _ := o.Member(i); !bytes.Equal(k, []byte(key)) && bytes.EqualFold(k, []byte(key)) {
			return false
		}
	}
	return true
}

// SHA256 is the hex digest recorded for a file in the index.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ValidPath reports whether p is a clean, relative, slash-separated path inside a bundle.
func ValidPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || bytes.ContainsRune([]byte(p), 0) {
		return false
	}
	if path.Clean(p) != p {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return false
		}
	}
	return true
}
