package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	"bulwark.dev/bulwark/internal/exitcode"
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
		for _, p := range b.Paths() {
			full := filepath.Join(tmp, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(full, b.Files[p], 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

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
	b := &Bundle{Files: map[string][]byte{}}
	var total int64
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
		if len(b.Files) >= MaxFiles {
			return fmt.Errorf("more than %d files", MaxFiles)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > MaxFileBytes {
			return fmt.Errorf("%s: %d bytes is over the %d-byte limit", rel, info.Size(), MaxFileBytes)
		}
		if total += info.Size(); total > MaxTreeBytes {
			return fmt.Errorf("bundle is over %d bytes", MaxTreeBytes)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.Files[rel] = data
		return nil
	})
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading bundle %s: %w", dir, err))
	}
	if err := b.loadIndex(); err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading bundle %s: %w", dir, err))
	}
	return b, nil
}

// FromFiles builds a bundle from raw files (e.g. an unpacked layer) and checks its index.
func FromFiles(files map[string][]byte) (*Bundle, error) {
	b := &Bundle{Files: files}
	if err := b.loadIndex(); err != nil {
		return nil, exitcode.AsBadInput(err)
	}
	return b, nil
}

// loadIndex parses bulwark.yaml and checks that every file it lists is present with the
// recorded digest, that no unlisted manifest was slipped in, and that kustomization.yaml is
// exactly the one the index implies.
func (b *Bundle) loadIndex() error {
	raw, ok := b.Files[IndexFile]
	if !ok {
		return ErrNotBundle
	}
	var idx Index
	if err := yaml.UnmarshalStrict(raw, &idx); err != nil {
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
