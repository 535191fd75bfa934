package bundles

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the artifact. The layer is the OCI tar+gzip type, which both Flux's
// OCIRepository and Argo CD's OCI source accept without configuration; the config type is
// Flux's, which Argo CD ignores.
const (
	ConfigMediaType types.MediaType = "application/vnd.cncf.flux.config.v1+json"
	LayerMediaType  types.MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Annotation keys on the manifest.
const (
	AnnotationSource    = "org.opencontainers.image.source"
	AnnotationRevision  = "org.opencontainers.image.revision"
	AnnotationVersion   = "org.opencontainers.image.version"
	AnnotationTitle     = "org.opencontainers.image.title"
	AnnotationCreated   = "org.opencontainers.image.created"
	AnnotationProfile   = "dev.bulwark.profile"
	AnnotationFramework = "dev.bulwark.framework"
	AnnotationCatalogue = "dev.bulwark.catalogue"
	AnnotationControls  = "dev.bulwark.controls"
)

// PackOptions are the provenance annotations; none changes the layer.
type PackOptions struct {
	// Source is where the profile lives, e.g. a git URL.
	Source string
	// Revision is the source revision, e.g. main@sha1:abc.
	Revision string
	// Created overrides the creation time; zero means SOURCE_DATE_EPOCH or the epoch, so the
	// same input always has the same digest.
	Created time.Time
}

// createdTime is the pinned creation time: explicit, SOURCE_DATE_EPOCH, or the Unix epoch.
func createdTime(opts PackOptions) (time.Time, error) {
	if !opts.Created.IsZero() {
		return opts.Created.UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time", s)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

// Tarball writes the bundle as a reproducible gzip'd tar: lexical order, regular files only
// with mode 0644, directories 0755, uid/gid 0, no owner names, zero times, and a gzip header
// with no name and zero mtime.
func Tarball(b *Bundle) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	for _, p := range b.Paths() {
		if !ValidPath(p) {
			return nil, fmt.Errorf("bundle path %q is not a clean relative path", p)
		}
		// Parent directories first, once, so extractors that need them find them.
		parts := strings.Split(path.Dir(p), "/")
		for i := range parts {
			dir := strings.Join(parts[:i+1], "/")
			if dir == "." || dirs[dir] {
				continue
			}
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, Format: tar.FormatPAX, ModTime: time.Unix(0, 0)}); err != nil {
				return nil, err
			}
		}
		data := b.Files[p]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatPAX, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Pack builds the OCI artifact for a bundle.
func Pack(b *Bundle, opts PackOptions) (v1.Image, error) {
	tgz, err := Tarball(b)
	if err != nil {
		return nil, fmt.Errorf("packing bundle: %w", err)
	}
	created, err := createdTime(opts)
	if err != nil {
		return nil, err
	}
	spec := b.Index.Spec
	var ids []string
	for _, c := range spec.Controls {
		ids = append(ids, c.ID)
	}
	ann := map[string]string{
		AnnotationVersion:   spec.Version,
		AnnotationTitle:     spec.Profile,
		AnnotationCreated:   created.Format(time.RFC3339),
		AnnotationProfile:   spec.Profile,
		AnnotationFramework: spec.Framework,
		AnnotationCatalogue: spec.Catalogue,
		AnnotationControls:  strings.Join(ids, ","),
	}
	if opts.Source != "" {
		ann[AnnotationSource] = opts.Source
	}
	if opts.Revision != "" {
		ann[AnnotationRevision] = opts.Revision
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ConfigMediaType)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(tgz, LayerMediaType),
		Annotations: map[string]string{AnnotationTitle: spec.Profile + "-" + spec.Version + ".tgz"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, ann).(v1.Image), nil
}

// Digest is the manifest digest a registry will report for the packed bundle.
func Digest(b *Bundle, opts PackOptions) (v1.Hash, error) {
	img, err := Pack(b, opts)
	if err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// Unpack reads a bundle layer, refusing anything a bundle never contains: absolute or
// escaping paths, links, devices, duplicates, and oversized content (counted after
// decompression, so a gzip bomb stops at the limit).
func Unpack(layer io.Reader) (map[string][]byte, error) {
	gz, err := gzip.NewReader(layer)
	if err != nil {
		return nil, fmt.Errorf("bundle layer is not gzip: %w", err)
	}
	tr := tar.NewReader(io.LimitReader(gz, MaxTreeBytes+1<<20))
	files := map[string][]byte{}
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading bundle layer: %w", err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		switch hdr.Typeflag {
		case tar.TypeDir:
			if !ValidPath(strings.TrimSuffix(name, "/")) {
				return nil, fmt.Errorf("bundle layer entry %q escapes the bundle", hdr.Name)
			}
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("bundle layer entry %q is not a regular file (type %q): links and devices are refused", hdr.Name, hdr.Typeflag)
		}
		if !ValidPath(name) {
			return nil, fmt.Errorf("bundle layer entry %q escapes the bundle", hdr.Name)
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("bundle layer has %q twice", name)
		}
		if hdr.Size > MaxFileBytes {
			return nil, fmt.Errorf("bundle layer entry %q is %d bytes (limit %d)", name, hdr.Size, MaxFileBytes)
		}
		if len(files) >= MaxFiles {
			return nil, fmt.Errorf("bundle layer has more than %d files", MaxFiles)
		}
		data, err := io.ReadAll(io.LimitReader(tr, MaxFileBytes+1))
		if err != nil {
			return nil, fmt.Errorf("reading %s from the bundle layer: %w", name, err)
		}
		if int64(len(data)) > MaxFileBytes {
			return nil, fmt.Errorf("bundle layer entry %q is over %d bytes", name, MaxFileBytes)
		}
		if total += int64(len(data)); total > MaxTreeBytes {
			return nil, fmt.Errorf("bundle layer is over %d bytes", MaxTreeBytes)
		}
		files[name] = data
	}
	return files, nil
}
