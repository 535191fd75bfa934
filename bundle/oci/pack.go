package oci

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/internal/exitcode"
)

// Media types of the artifact. The layer is the OCI tar+gzip type, which both Flux's
// OCIRepository and Argo CD's OCI source accept without configuration; the config type is
// Flux's, which Argo CD ignores.
const (
	ManifestMediaType types.MediaType = types.OCIManifestSchema1
	ConfigMediaType   types.MediaType = "application/vnd.cncf.flux.config.v1+json"
	LayerMediaType    types.MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// configBlob is the config content, as `flux push artifact` writes it: the bundle carries
// its metadata in manifest annotations and in bulwark.yaml, so the config says nothing.
var configBlob = []byte("{}")

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

// gzipLevel, the compressor and chunkSize are fixed: the layer digest depends on all three.
// The compressor is github.com/klauspost/compress's, pure Go (the same bytes on every
// platform) and pinned by go.mod; it compresses a fleet-size tree (4,060 files) about ten
// times faster than compress/flate at BestCompression for a layer 10% larger. Changing any
// is a bundle format change: generators/testdata/digests.golden notices, and the README's
// bundle section records it.
const gzipLevel = 6

// PackOptions are the provenance annotations; none changes the layer.
type PackOptions struct {
	// Source is where the profile lives, e.g. a git URL.
	Source string
	// Revision is the source revision, e.g. main@sha1:abc.
	Revision string
	// Created overrides the creation time; zero means SOURCE_DATE_EPOCH or the epoch, so the
	// same input always has the same digest. It is never the current time.
	Created time.Time
}

// SourceDate is the reproducible-builds time: SOURCE_DATE_EPOCH, or the Unix epoch. Other
// documents built from a bundle (OSCAL) use it so that they too are the same everywhere.
func SourceDate() (time.Time, error) { return createdTime(PackOptions{}) }

// createdTime is the pinned creation time: explicit, SOURCE_DATE_EPOCH, or the Unix epoch.
func createdTime(opts PackOptions) (time.Time, error) {
	if !opts.Created.IsZero() {
		return opts.Created.UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, exitcode.AsBadInput(fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time in seconds", s))
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

var epoch = time.Unix(0, 0)

// Tarball writes the bundle as a reproducible gzip'd tar, so that the same files give the
// same bytes whatever the map order, the file modes and times on disk, or the machine:
//
//   - files in lexical path order, each preceded by those of its parent directories not
//     written yet (directories are included so that `tar -x` and other extractors create
//     them 0755 rather than with the extracting user's umask);
//   - regular files 0644, directories 0755, whatever the modes were on disk (Flux's own tar
//     keeps modes, so a 0600 checkout would change its digest);
//   - uid/gid 0, no user or group names, zero modification time, no access/change times;
//   - PAX format (plain USTAR headers unless a path is over 100 bytes);
//   - one gzip member at a fixed level, with no name, comment or modification time in its
//     header, compressed in fixed-size chunks (chunkedGzip).
func Tarball(b *bundle.Bundle) ([]byte, error) {
	t := newTarball()
	for _, p := range b.Paths() {
		if err := t.add(p, b.Files[p]); err != nil {
			return nil, err
		}
	}
	return t.close()
}

// tarball writes the layer file by file, in path order: Tarball for a bundle in memory,
// PackDir for one being read.
type tarball struct {
	buf  bytes.Buffer
	gz   *chunkedGzip
	tw   *tar.Writer
	dirs map[string]bool
	last string
}

func newTarball() *tarball {
	t := &tarball{dirs: map[string]bool{}}
	t.gz = newChunkedGzip(&t.buf)
	t.tw = tar.NewWriter(t.gz)
	return t
}

// add writes the file p, after those of its parent directories not written yet. Paths must
// come in increasing order, so that the stream is the same however the files were found.
func (t *tarball) add(p string, data []byte) error {
	if !bundle.ValidPath(p) {
		return exitcode.AsBadInput(fmt.Errorf("bundle path %q is not a clean relative path", p))
	}
	if t.last != "" && p <= t.last {
		return fmt.Errorf("packing: %s after %s is out of path order", p, t.last)
	}
	t.last = p
	var parent string
	for _, seg := range strings.Split(path.Dir(p), "/") {
		if seg == "." {
			break
		}
		parent = path.Join(parent, seg)
		if t.dirs[parent] {
			continue
		}
		t.dirs[parent] = true
		if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parent + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := t.tw.Write(data)
	return err
}

// close ends the stream and returns the layer.
func (t *tarball) close() ([]byte, error) {
	if err := t.tw.Close(); err != nil {
		return nil, err
	}
	if err := t.gz.Close(); err != nil {
		return nil, err
	}
	return t.buf.Bytes(), nil
}

// Annotations are the manifest annotations Pack writes for a bundle.
func Annotations(b *bundle.Bundle, opts PackOptions) (map[string]string, error) {
	return annotations(&b.Index, opts)
}

func annotations(idx *bundle.Index, opts PackOptions) (map[string]string, error) {
	created, err := createdTime(opts)
	if err != nil {
		return nil, err
	}
	spec := idx.Spec
	ids := make([]string, 0, len(spec.Controls))
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
	return ann, nil
}

// Pack builds the OCI artifact for a bundle: an OCI image manifest with the Flux config
// type, a `{}` config, and exactly one application/vnd.oci.image.layer.v1.tar+gzip layer
// holding the tree (see Tarball). The manifest is written here, not by mutating an empty
// image, so that its bytes (and so the digest) depend on nothing but the bundle and opts.
func Pack(b *bundle.Bundle, opts PackOptions) (v1.Image, error) {
	tgz, err := Tarball(b)
	if err != nil {
		return nil, fmt.Errorf("packing bundle: %w", err)
	}
	return image(&b.Index, tgz, opts)
}

// Packed is a bundle's artifact and the index it was packed from.
type Packed struct {
	Index bundle.Index
	Image v1.Image
}

// PackDir reads the bundle tree in dir, checked as bundle.ReadDir checks it, and packs it as
// Pack does, into the same bytes; each file is tarred and compressed as soon as it is read,
// and not kept, rather than once the whole tree is in memory.
func PackDir(dir string, opts PackOptions) (*Packed, error) {
	t := newTarball()
	idx, err := bundle.StreamDir(dir, t.add)
	if err != nil {
		t.gz.abandon()
		return nil, err
	}
	tgz, err := t.close()
	if err != nil {
		return nil, fmt.Errorf("packing bundle: %w", err)
	}
	img, err := image(&idx, tgz, opts)
	if err != nil {
		return nil, err
	}
	return &Packed{Index: idx, Image: img}, nil
}

// image is the artifact of the bundle of idx whose layer is tgz.
func image(idx *bundle.Index, tgz []byte, opts PackOptions) (v1.Image, error) {
	ann, err := annotations(idx, opts)
	if err != nil {
		return nil, err
	}
	spec := idx.Spec
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     ManifestMediaType,
		Config:        v1.Descriptor{MediaType: ConfigMediaType, Size: int64(len(configBlob)), Digest: sha256Hash(configBlob)},
		Layers: []v1.Descriptor{{
			MediaType: LayerMediaType, Size: int64(len(tgz)), Digest: sha256Hash(tgz),
			// The file name `flux pull artifact` and oras would give the layer.
			Annotations: map[string]string{AnnotationTitle: spec.Profile + "-" + spec.Version + ".tgz"},
		}},
		Annotations: ann,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{
		manifest: raw,
		config:   static.NewLayer(configBlob, ConfigMediaType),
		layer:    static.NewLayer(tgz, LayerMediaType),
	})
}

func sha256Hash(data []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: bundle.SHA256(data)}
}

// artifact is a packed bundle: fixed manifest bytes and the two blobs they name.
type artifact struct {
	manifest      []byte
	config, layer v1.Layer
}

func (a *artifact) MediaType() (types.MediaType, error) { return ManifestMediaType, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return configBlob, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range []v1.Layer{a.layer, a.config} {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("bundle artifact has no blob %s", h)
}

// Digest is the manifest digest a registry will report for the packed bundle.
func Digest(b *bundle.Bundle, opts PackOptions) (v1.Hash, error) {
	img, err := Pack(b, opts)
	if err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}
