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
	"sync/atomic"

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

// ReadDir loads a bundle tree from dir and checks it against its index. The walk lists the
// files (a directory read gives their types without a stat each); they are then read
// ioWorkers at a time, each checked against the limits by the size of what was opened.
func ReadDir(dir string) (*Bundle, error) {
	var rels []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: only regular files may be in a bundle", rel)
		}
		if len(rels) >= MaxFiles {
			return fmt.Errorf("more than %d files", MaxFiles)
		}
		rels = append(rels, rel)
		return nil
	})
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading bundle %s: %w", dir, err))
	}
	// The index is read first and decoded while the other files are read.
	var pending *PendingIndex
	data := make([][]byte, len(rels))
	for i, rel := range rels {
		if rel != IndexFile {
			continue
		}
		d, err := readLimited(filepath.Join(dir, IndexFile), IndexFile)
		if err != nil {
			return nil, exitcode.AsBadInput(fmt.Errorf("reading bundle %s: %w", dir, err))
		}
		data[i], pending = d, DecodeIndexAsync(d)
	}
	var total atomic.Int64
	err = parallel.Do(ioWorkers, len(rels), func(i int) error {
		d := data[i]
		if d == nil {
			var err error
			if d, err = readLimited(filepath.Join(dir, filepath.FromSlash(rels[i])), rels[i]); err != nil {
				return err
			}
		}
		if total.Add(int64(len(d))) > MaxTreeBytes {
			return fmt.Errorf("bundle is over %d bytes", MaxTreeBytes)
		}
		data[i] = d
		return nil
	})
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading bundle %s: %w", dir, err))
	}
	files := make(map[string][]byte, len(rels))
	for i, rel := range rels {
		files[rel] = data[i]
	}
	b, err := FromFilesIndex(files, pending)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading bundle %s: %w", dir, err))
	}
	return b, nil
}

// readLimited reads a regular file of at most MaxFileBytes. It checks what it opened, not
// what the walk saw, so a file swapped for a link or grown in between is still refused.
func readLimited(path, rel string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: only regular files may be in a bundle", rel)
	}
	if info.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes is over the %d-byte limit", rel, info.Size(), MaxFileBytes)
	}
	// One byte more than the size: a file that grew since the stat is seen, not cut short.
	buf := make([]byte, 0, info.Size()+1)
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) > MaxFileBytes {
			return nil, fmt.Errorf("%s: over the %d-byte limit", rel, MaxFileBytes)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
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

// FromFilesIndex is FromFiles with the index already decoding. A pending index of other
// bytes than files' index file, or none, is decoded here instead.
func FromFilesIndex(files map[string][]byte, pending *PendingIndex) (*Bundle, error) {
	b := &Bundle{Files: files}
	raw, ok := files[IndexFile]
	if !ok {
		return nil, exitcode.AsBadInput(ErrNotBundle)
	}
	var idx Index
	var err error
	if pending != nil {
		<-pending.done
	}
	if pending != nil && bytes.Equal(pending.raw, raw) {
		idx, err = pending.idx, pending.err
	} else {
		idx, err = decodeIndex(raw)
	}
	if err := b.checkIndex(idx, err); err != nil {
		return nil, exitcode.AsBadInput(err)
	}
	return b, nil
}

// checkIndex checks the decoded index (err is the decoding's, reported first): every file
// it lists is present with the recorded digest, no unlisted manifest was slipped in, and
// kustomization.yaml is exactly the one the index implies.
func (b *Bundle) checkIndex(idx Index, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", IndexFile, err)
	}
	if idx.APIVersion != IndexAPIVersion || idx.Kind != IndexKind {
		return fmt.Errorf("%s: apiVersion/kind is %s/%s, want %s/%s", IndexFile, idx.APIVersion, idx.Kind, IndexAPIVersion, IndexKind)
	}
	if err := checkClaims(idx.Spec); err != nil {
		return err
	}
	listed := map[string]bool{IndexFile: true, KustomizeFile: true}
	for _, o := range idx.Spec.Objects {
		data, ok := b.Files[o.File]
		if !ok {
			return fmt.Errorf("%s lists %s, which is missing", IndexFile, o.File)
		}
		if got := SHA256(data); got != o.SHA256 {
			return fmt.Errorf("%s: sha256 %s does not match the index (%s)", o.File, got, o.SHA256)
		}
		listed[o.File] = true
	}
	for p := range b.Files {
		if !listed[p] {
			return fmt.Errorf("%s is not listed in %s", p, IndexFile)
		}
	}
	b.Index = idx
	want, err := Kustomization(b.ManifestPaths())
	if err != nil {
		return err
	}
	got, ok := b.Files[KustomizeFile]
	switch {
	case !ok:
		return fmt.Errorf("%s is missing: it is part of a bundle", KustomizeFile)
	case !bytes.Equal(got, want):
		return fmt.Errorf("%s says more than the index: a bundle's kustomization lists its objects and nothing else (no patches, resources or generators of its own)", KustomizeFile)
	}
	return nil
}

// decodeIndex reads bulwark.yaml strictly. An index in the canonical form Assemble writes
// is read without a YAML parser (canonyaml.ToJSON answers only when its reading is the
// parser's); any other, or one the strict JSON decoding refuses, goes through
// sigs.k8s.io/yaml, so that its errors are the ones users see.
func decodeIndex(raw []byte) (Index, error) {
	if js, ok := canonyaml.ToJSON(raw); ok {
		var idx Index
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if dec.Decode(&idx) == nil && !dec.More() {
			return idx, nil
		}
	}
	var idx Index
	err := yaml.UnmarshalStrict(raw, &idx)
	return idx, err
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
